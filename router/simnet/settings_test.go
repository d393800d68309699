package simnet_test

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router/simnet"
)

// TestSendSettingsConfig: the settings of `imh simnet send` become the
// daemon's address and a checked SendConfig; each refusal names the flag
// (the command prefixes "simnet send: " and exits 2).
func TestSendSettingsConfig(t *testing.T) {
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b32 := k.Destination().B32()
	ok := simnet.SendSettings{Network: "simnet://127.0.0.1:1", Dest: b32, Count: 5, Clients: 2, Interval: time.Second, Mode: "reqresp", Behaviour: "mix"}
	with := func(f func(*simnet.SendSettings)) simnet.SendSettings { s := ok; f(&s); return s }
	for _, tc := range []struct {
		name string
		s    simnet.SendSettings
		want string // the error's start; "" accepts
	}{
		{"ok", ok, ""},
		{"messages with json", with(func(s *simnet.SendSettings) { s.Messages, s.JSON = true, true }), ""},
		{"no network", with(func(s *simnet.SendSettings) { s.Network = "" }), "--network and --dest are required"},
		{"no dest", with(func(s *simnet.SendSettings) { s.Dest = "" }), "--network and --dest are required"},
		{"bad network", with(func(s *simnet.SendSettings) { s.Network = "bad" }), "--network: "},
		{"bad dest", with(func(s *simnet.SendSettings) { s.Dest = "x" }), "--dest: "},
		{"bad mode", with(func(s *simnet.SendSettings) { s.Mode = "bad" }), "--mode: "},
		{"bad behaviour", with(func(s *simnet.SendSettings) { s.Behaviour = "bad" }), "--behaviour: "},
		{"messages without json", with(func(s *simnet.SendSettings) { s.Messages = true }), "--messages needs --json"},
		{"no messages", with(func(s *simnet.SendSettings) { s.Count = 0 }), simnet.ErrBadRequest.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, cfg, err := tc.s.Config()
			if tc.want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("Config() = %v, want an error starting %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := simnet.SendConfig{Dest: k.Destination().Hash(), Count: tc.s.Count, Clients: tc.s.Clients, Interval: tc.s.Interval,
				Mode: simnet.ModeReqResp, Behaviour: simnet.BehaviourMix, Messages: tc.s.Messages}
			if addr != "127.0.0.1:1" || cfg != want {
				t.Errorf("Config() = %q, %+v; want 127.0.0.1:1, %+v", addr, cfg, want)
			}
		})
	}
}

// TestBaselineSettingsConfig: the settings of `imh simnet baseline`
// become the daemon's address, the routers' names and a checked
// BaselineConfig with the keys of the file; each refusal names the flag
// or the file.
func TestBaselineSettingsConfig(t *testing.T) {
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keys, garbage := filepath.Join(dir, "keys.dat"), filepath.Join(dir, "garbage")
	if err := errors.Join(os.WriteFile(keys, raw, 0o600), os.WriteFile(garbage, []byte("x"), 0o600)); err != nil {
		t.Fatal(err)
	}
	ok := simnet.BaselineSettings{Network: "127.0.0.1:1", Keys: keys, Routers: "a, b", Inbound: 2, Hops: 1}
	with := func(f func(*simnet.BaselineSettings)) simnet.BaselineSettings { s := ok; f(&s); return s }
	for _, tc := range []struct {
		name string
		s    simnet.BaselineSettings
		want string // the error's start; "" accepts
	}{
		{"ok", ok, ""},
		{"no routers", with(func(s *simnet.BaselineSettings) { s.Routers = "" }), "--network, --keys and --routers are required"},
		{"bad network", with(func(s *simnet.BaselineSettings) { s.Network = "bad" }), "--network: "},
		{"no key file", with(func(s *simnet.BaselineSettings) { s.Keys = filepath.Join(dir, "none") }), "read keys: "},
		{"not a key file", with(func(s *simnet.BaselineSettings) { s.Keys = garbage }), "keys " + garbage + ": "},
		{"empty router name", with(func(s *simnet.BaselineSettings) { s.Routers = "a,,b" }), `empty router name in --routers "a,,b"`},
		{"no inbound tunnels", with(func(s *simnet.BaselineSettings) { s.Inbound = 0 }), simnet.ErrBadRequest.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, names, cfg, err := tc.s.Config()
			if tc.want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("Config() = %v, want an error starting %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if addr != "127.0.0.1:1" || !slices.Equal(names, []string{"a", "b"}) || cfg.Inbound != 2 || cfg.Hops != 1 ||
				cfg.Keys.Destination().Hash() != k.Destination().Hash() {
				t.Errorf("Config() = %q, %q, %+v", addr, names, cfg)
			}
		})
	}
}

package i2cpclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
	"github.com/imh-project/imh/routerproto/routertest"
)

func TestProbe(t *testing.T) {
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		cfg      routertest.StockConfig
		keys     *i2p.PrivateKeys
		wantErr  bool
		wantJSON string // the JSON without keys
	}{
		{"handshake only", routertest.StockConfig{Leases: 2}, nil, false,
			`{"router_version":"0.9.67","clock_offset_ms":0,"extensions":[],"session_id":null,"leases":[],"session_kept":false}`},
		{"session kept", routertest.StockConfig{Leases: 2}, keys, false, ""},
		{"session stopped", routertest.StockConfig{LeaseDeadline: time.Nanosecond}, keys, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := routertest.NewStock(t, tc.cfg)
			c := dialStock(t, s.Addr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := Probe(ctx, c, tc.keys, 10*time.Second, 300*time.Millisecond)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("probe succeeded although the router stopped the session: %+v", res)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.keys == nil {
				res.ClockOffsetMs = 0 // the fake router's clock may be a millisecond off ours
				b, err := json.Marshal(res)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != tc.wantJSON {
					t.Errorf("json %s, want %s", b, tc.wantJSON)
				}
				return
			}
			if !res.SessionKept || res.SessionID == nil || len(res.Leases) != 2 || len(res.Extensions) != 0 || res.RouterVersion != "0.9.67" || res.LeaseAfter <= 0 {
				t.Fatalf("result %+v", res)
			}
			lss := s.LeaseSets(tc.keys.Destination().Hash())
			if len(lss) != 1 || len(lss[0].Leases) != 2 || lss[0].Leases[0].TunnelID != res.Leases[0].Tunnel || lss[0].Leases[0].Gateway.String() != res.Leases[0].Gateway {
				t.Fatalf("router stored %d leasesets, %+v; probe reports %+v", len(lss), lss, res.Leases)
			}
			if len(lss[0].Keys) != 1 || lss[0].Keys[0].Type != i2p.EncX25519 {
				t.Fatalf("keys %+v", lss[0].Keys)
			}
		})
	}
}

// TestProbeResultWriteText pins what `imh i2cp probe` prints without
// --json (docs/cli.md).
func TestProbeResultWriteText(t *testing.T) {
	sid := uint16(7)
	for _, tc := range []struct {
		name string
		res  ProbeResult
		want string
	}{
		{"handshake only", ProbeResult{RouterVersion: "0.9.67", ClockOffsetMs: -3, Extensions: []string{}, Leases: []ProbeLease{}},
			"router version:  0.9.67\nclock offset:    -3 ms\nextensions:      none (stock router)\n"},
		{"session", ProbeResult{RouterVersion: "imh", Extensions: []string{"a", "b"}, SessionID: &sid,
			Leases: []ProbeLease{{Gateway: "gw", Tunnel: 9, End: 100}}, SessionKept: true, LeaseAfter: 1234567 * time.Microsecond},
			"router version:  imh\nclock offset:    0 ms\nextensions:      a, b\nsession id:      7\nlease request:   after 1.235s\n" +
				"lease:           gateway gw tunnel 9 end 100\nsession kept:    true (12s)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			if err := tc.res.WriteText(&out, 12*time.Second); err != nil || out.String() != tc.want {
				t.Errorf("WriteText = %q, %v; want %q", out.String(), err, tc.want)
			}
		})
	}
}

// TestReadSigningKeys: an Ed25519 key file is read; a missing file, one
// that is not a key file and keys that cannot sign (offline keys) are
// refused, naming the file.
func TestReadSigningKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// An i2pd offline key file: the destination, a zero encryption and
	// signing key, then the offline block (expiry, transient type 7, its
	// public key, the signature) and the transient private key.
	tpub, tpriv, _ := ed25519.GenerateKey(rand.Reader)
	o, err := k.SignOffline(1800000000, i2p.SigEd25519, tpub)
	if err != nil {
		t.Fatal(err)
	}
	off := append(bytes.Clone(k.Destination().Bytes()), make([]byte, 256+32)...)
	off = append(off, 0x6b, 0x49, 0xd2, 0x00, 0x00, 0x07)
	off = append(append(append(off, tpub...), o.Signature...), tpriv.Seed()...)
	for _, tc := range []struct {
		name, path, want string // want: the error's start; "" accepts
	}{
		{"good", write("good.dat", b), ""},
		{"missing", filepath.Join(dir, "missing"), "key file: open " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{"garbage", write("garbage", []byte("garbage\n")), "key file " + filepath.Join(dir, "garbage") + ": i2p: malformed private key file"},
		{"offline", write("offline", off), "key file " + filepath.Join(dir, "offline") + ": cannot sign with signature type "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadSigningKeys(tc.path)
			if tc.want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("ReadSigningKeys = %v, want an error starting %q", err, tc.want)
				}
				return
			}
			if err != nil || got.Destination().Hash() != k.Destination().Hash() {
				t.Fatalf("ReadSigningKeys = %v, %v", got, err)
			}
		})
	}
}

// TestProbeRouter: the router is dialed with the probe's request timeout
// and probed; a failed dial comes back as it is (the caller's words), a
// failed probe names the router and the destination.
func TestProbeRouter(t *testing.T) {
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dialTo := func(addr string) func(context.Context, routerproto.ClientConfig) (*routerproto.Client, error) {
		return func(ctx context.Context, cfg routerproto.ClientConfig) (*routerproto.Client, error) {
			if cfg.RequestTimeout != probeStepTimeout {
				t.Errorf("dialed with request timeout %v, want %v", cfg.RequestTimeout, probeStepTimeout)
			}
			return routerproto.Dial(ctx, addr, cfg)
		}
	}
	refused := errors.New("refused")
	for _, tc := range []struct {
		name    string
		cfg     routertest.StockConfig
		keys    *i2p.PrivateKeys
		dial    func(string) func(context.Context, routerproto.ClientConfig) (*routerproto.Client, error)
		wantErr string // the error's start; "" accepts
	}{
		{"handshake", routertest.StockConfig{}, nil, dialTo, ""},
		{"session kept", routertest.StockConfig{}, keys, dialTo, ""},
		{"dial fails", routertest.StockConfig{}, keys, func(string) func(context.Context, routerproto.ClientConfig) (*routerproto.Client, error) {
			return func(context.Context, routerproto.ClientConfig) (*routerproto.Client, error) { return nil, refused }
		}, "refused"},
		{"session stopped", routertest.StockConfig{LeaseDeadline: time.Nanosecond}, keys, dialTo, "probe ADDR with " + keys.Destination().B32() + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := routertest.NewStock(t, tc.cfg)
			res, err := ProbeRouter(t.Context(), s.Addr, tc.dial(s.Addr), tc.keys, 300*time.Millisecond)
			if want := strings.ReplaceAll(tc.wantErr, "ADDR", s.Addr); want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("ProbeRouter = %v, want an error starting %q", err, want)
				}
				return
			}
			if err != nil || res.RouterVersion != "0.9.67" || res.SessionKept != (tc.keys != nil) {
				t.Fatalf("ProbeRouter = %+v, %v", res, err)
			}
		})
	}
}

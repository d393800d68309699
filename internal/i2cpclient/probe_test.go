package i2cpclient

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
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

package main

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto/routertest"
)

func TestParseI2CPAddr(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"i2cp://127.0.0.1:7654", "127.0.0.1:7654", true},
		{"127.0.0.1:7654", "127.0.0.1:7654", true},
		{"localhost:1", "localhost:1", true},
		{"i2cp://127.0.0.1", "", false},
		{"127.0.0.1", "", false},
		{"i2cp://:7654", "", false},
		{"i2cp://127.0.0.1:7654/x", "", false},
		{"http://127.0.0.1:7654", "", false},
	} {
		got, err := parseI2CPAddr(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseI2CPAddr(%q) = %q, %v", tc.in, got, err)
		}
		if err != nil && exitCode(err) != exitUsage {
			t.Errorf("parseI2CPAddr(%q): exit %d, want 2", tc.in, exitCode(err))
		}
	}
}

func TestProbeAgainstFakeStockRouter(t *testing.T) {
	s := routertest.NewStock(t, routertest.StockConfig{Leases: 2})
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := runProbe(ctx, s.Addr, keys, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !res.SessionKept || res.SessionID == nil || len(res.Leases) != 2 || len(res.Extensions) != 0 || res.RouterVersion != "0.9.67" {
		t.Fatalf("result %+v", res)
	}
	lss := s.LeaseSets(keys.Destination().Hash())
	if len(lss) != 1 || len(lss[0].Leases) != 2 || lss[0].Leases[0].TunnelID != res.Leases[0].Tunnel {
		t.Fatalf("router stored %d leasesets", len(lss))
	}
	if len(lss[0].Keys) != 1 || lss[0].Keys[0].Type != i2p.EncX25519 {
		t.Fatalf("keys %+v", lss[0].Keys)
	}
	var out strings.Builder
	if err := printProbe(&out, res, true); err != nil || !strings.Contains(out.String(), `"session_kept":true`) {
		t.Fatalf("json %q %v", out.String(), err)
	}
}

// TestProbeFailsWhenSessionStopped: a router that stops the session before
// our LeaseSet can arrive makes the probe fail.
func TestProbeFailsWhenSessionStopped(t *testing.T) {
	s := routertest.NewStock(t, routertest.StockConfig{LeaseDeadline: time.Nanosecond})
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := runProbe(ctx, s.Addr, keys, 2*time.Second); err == nil {
		t.Fatal("probe succeeded although the router stopped the session")
	}
}

// TestPrintProbe pins the human and JSON output of docs/cli.md.
func TestPrintProbe(t *testing.T) {
	sid := uint16(7)
	for _, tc := range []struct {
		name   string
		res    probeResult
		asJSON bool
		want   string
	}{
		{"handshake only", probeResult{RouterVersion: "0.9.67", ClockOffsetMs: -3, Extensions: []string{}, Leases: []probeLease{}}, false,
			"router version:  0.9.67\nclock offset:    -3 ms\nextensions:      none (stock router)\n"},
		{"session", probeResult{RouterVersion: "imh", Extensions: []string{"a", "b"}, SessionID: &sid,
			Leases: []probeLease{{Gateway: "gw", Tunnel: 9, End: 100}}, SessionKept: true, leaseAfter: 1234567 * time.Microsecond}, false,
			"router version:  imh\nclock offset:    0 ms\nextensions:      a, b\nsession id:      7\nlease request:   after 1.235s\n" +
				"lease:           gateway gw tunnel 9 end 100\nsession kept:    true (12s)\n"},
		{"json", probeResult{RouterVersion: "0.9.67", Extensions: []string{}, SessionID: &sid,
			Leases: []probeLease{{Gateway: "gw", Tunnel: 9, End: 100}}, SessionKept: true, leaseAfter: time.Second}, true,
			`{"router_version":"0.9.67","clock_offset_ms":0,"extensions":[],"session_id":7,"leases":[{"gateway":"gw","tunnel":9,"end":100}],"session_kept":true}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			if err := printProbe(&out, &tc.res, tc.asJSON); err != nil || out.String() != tc.want {
				t.Errorf("printProbe = %q, %v; want %q", out.String(), err, tc.want)
			}
		})
	}
}

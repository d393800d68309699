package main

import (
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/i2cpclient"
)

// TestPrintProbe pins the human and JSON output of docs/cli.md.
func TestPrintProbe(t *testing.T) {
	sid := uint16(7)
	for _, tc := range []struct {
		name   string
		res    i2cpclient.ProbeResult
		asJSON bool
		want   string
	}{
		{"handshake only", i2cpclient.ProbeResult{RouterVersion: "0.9.67", ClockOffsetMs: -3, Extensions: []string{}, Leases: []i2cpclient.ProbeLease{}}, false,
			"router version:  0.9.67\nclock offset:    -3 ms\nextensions:      none (stock router)\n"},
		{"session", i2cpclient.ProbeResult{RouterVersion: "imh", Extensions: []string{"a", "b"}, SessionID: &sid,
			Leases: []i2cpclient.ProbeLease{{Gateway: "gw", Tunnel: 9, End: 100}}, SessionKept: true, LeaseAfter: 1234567 * time.Microsecond}, false,
			"router version:  imh\nclock offset:    0 ms\nextensions:      a, b\nsession id:      7\nlease request:   after 1.235s\n" +
				"lease:           gateway gw tunnel 9 end 100\nsession kept:    true (12s)\n"},
		{"json", i2cpclient.ProbeResult{RouterVersion: "0.9.67", Extensions: []string{}, SessionID: &sid,
			Leases: []i2cpclient.ProbeLease{{Gateway: "gw", Tunnel: 9, End: 100}}, SessionKept: true, LeaseAfter: time.Second}, true,
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

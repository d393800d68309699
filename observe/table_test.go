package observe_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/imh-project/imh/internal/golden"
	"github.com/imh-project/imh/observe"
)

// TestReportWriteTable pins the human form of `imh leaseset analyze`
// byte for byte (docs/cli.md): each floor source (a population with its
// three extra columns), and features without a value printed as "-".
func TestReportWriteTable(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	a := observe.HistoryInfo{Name: "a.json", Run: "spread-4", Stores: 412, SpanMs: 4*3600*1000 + 1499, Windows: 19}
	b := observe.HistoryInfo{Name: "b.json", Run: "single", Stores: 398, SpanMs: 4 * 3600 * 1000, Windows: 19}
	fa := observe.HistoryInfo{Name: "fa.json", Run: "single-1", Stores: 200, SpanMs: 2 * 3600 * 1000, Windows: 7}
	fb := observe.HistoryInfo{Name: "fb.json", Run: "single-2", Stores: 201, SpanMs: 2 * 3600 * 1000, Windows: 7}
	features := []observe.FeatureResult{
		{Name: "gateway_set", Unit: "peers", Advantage: f(0.8421), Floor: f(0.2), Verdict: "outside", Critical: f(0.441), MeanA: f(61.5), MeanB: f(19.25)},
		{Name: "lease_count", Unit: "leases", Advantage: f(0.1), Floor: f(0.15), Verdict: "within", Critical: f(0.441), MeanA: f(12), MeanB: f(12)},
		{Name: "churn", Unit: "per hour", Verdict: "no data"},
	}
	fc := observe.HistoryInfo{Name: "fc.json", Run: "single-3", Stores: 199, SpanMs: 2 * 3600 * 1000, Windows: 7}
	popFeatures := []observe.FeatureResult{
		{Name: "gateway_set", Unit: "peers", Advantage: f(0.8421), Floor: f(0.29), Verdict: "outside", Critical: f(0.441), MeanA: f(61.5), MeanB: f(19.25),
			FloorMedian: f(0.2), FloorP95: f(0.29), FloorMax: f(0.3), FloorPairs: 3},
		{Name: "lease_count", Unit: "leases", Advantage: f(0.1), Floor: f(0.15), Verdict: "within", Critical: f(0.441), MeanA: f(12), MeanB: f(12),
			FloorMedian: f(0.1), FloorP95: f(0.15), FloorMax: f(0.155), FloorPairs: 3},
		{Name: "churn", Unit: "per hour", Verdict: "no data"},
	}
	cases := []struct {
		name     string
		floor    observe.FloorInfo
		features []observe.FeatureResult // nil: features
	}{
		{"files", observe.FloorInfo{Source: observe.FloorFiles, A: &fa, B: &fb}, nil},
		{"halves", observe.FloorInfo{Source: observe.FloorHalvesOfB, A: &fa, B: &fb}, nil},
		{"none", observe.FloorInfo{Source: observe.FloorNone, Note: "b too short to halve"}, nil},
		{"population", observe.FloorInfo{Source: observe.FloorPopulation, Histories: []observe.HistoryInfo{fa, fb, fc}, Pairs: 3}, popFeatures},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := features
			if tc.features != nil {
				fs = tc.features
			}
			r := &observe.Report{WindowMs: 3600 * 1000, StepMs: 600 * 1000, A: a, B: b, Floor: tc.floor, Features: fs}
			var got bytes.Buffer
			if err := r.WriteTable(&got); err != nil {
				t.Fatal(err)
			}
			golden.Equal(t, filepath.Join("testdata", "table", tc.name+".txt"), got.Bytes())
		})
	}
}

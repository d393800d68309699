package sim

import (
	"testing"
	"time"

	"github.com/imh-project/imh/balancer"
)

// TestLiveFigures: the figures `imh status` shows (balancer.Invisibility
// over the last hour of published LeaseSets) tell naive merging from one
// router at a glance and leave one router mostly typical, so an operator
// can trust them both ways.
func TestLiveFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated hours")
	}
	c := shortConfig(3)
	end := Start.Add(3 * time.Hour)
	for _, tc := range []struct {
		run      string
		lo, hi   int      // how many features may be atypical
		atypical []string // features that must be atypical
	}{
		{run: RunSingleA, hi: 3},
		{run: RunNaive, lo: 6, hi: 13, atypical: []string{"gateway_set", "gateway_churn", "stores_per_10m", "store_interval"}},
	} {
		h, err := Run(c, tc.run)
		if err != nil {
			t.Fatal(err)
		}
		inv := balancer.Invisibility(h.Stores, end, c.Leases)
		if inv.Error != "" || inv.SpanMs != time.Hour.Milliseconds() {
			t.Fatalf("%s: %+v", tc.run, inv)
		}
		verdict := map[string]string{}
		for _, f := range inv.Features {
			verdict[f.Name] = f.Verdict
		}
		t.Logf("%s: %d atypical: %v", tc.run, inv.Atypical, verdict)
		if inv.Atypical < tc.lo || inv.Atypical > tc.hi {
			t.Errorf("%s: %d features atypical, want %d..%d", tc.run, inv.Atypical, tc.lo, tc.hi)
		}
		for _, name := range tc.atypical {
			if verdict[name] != "atypical" {
				t.Errorf("%s: %s is %s, want atypical", tc.run, name, verdict[name])
			}
		}
	}
}

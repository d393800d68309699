package sim

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/imh-project/imh/observe"
)

var printReference = flag.Bool("print-reference", false, "print observe.SingleRouter as recomputed from the simulation")

// TestSingleRouterReference recomputes observe.SingleRouter, the range of
// one stock router that `imh status` puts live figures against, from the
// runs it was made from (single-a and single-b, DefaultConfig: 24 h), so
// the table cannot drift from the simulation unnoticed. With
// -print-reference it prints the table to paste.
func TestSingleRouterReference(t *testing.T) {
	if testing.Short() {
		t.Skip("48 simulated hours")
	}
	c := DefaultConfig()
	all := map[string][]float64{}
	for _, name := range []string{RunSingleA, RunSingleB} {
		h, err := Run(c, name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := observe.Extract(h, observe.DefaultWindowConfig())
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range s {
			all[x.Feature] = append(all[x.Feature], x.Values...)
		}
	}
	var b strings.Builder
	for _, f := range observe.Features {
		v := all[f.Name]
		slices.Sort(v)
		q := func(p float64) float64 { return v[int(p*float64(len(v)-1))] }
		got := observe.Range{Low: q(0.05), Median: q(0.5), High: q(0.95)}
		fmt.Fprintf(&b, "\t%q: {Low: %.4g, Median: %.4g, High: %.4g},\n", f.Name, got.Low, got.Median, got.High)
		want, ok := observe.SingleRouter[f.Name]
		if !ok {
			t.Errorf("%s: not in observe.SingleRouter", f.Name)
			continue
		}
		// The table keeps 4 significant digits.
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-3*max(1, math.Abs(b)) }
		if !near(got.Low, want.Low) || !near(got.Median, want.Median) || !near(got.High, want.High) {
			t.Errorf("%s: simulation gives %+v, observe.SingleRouter says %+v (run with -print-reference)", f.Name, got, want)
		}
	}
	if f := observe.SingleRouter["lease_count"]; f.Median != observe.SingleRouterLeases || c.Leases != observe.SingleRouterLeases {
		t.Errorf("lease_count reference %v, SingleRouterLeases %d, sim leases %d", f.Median, observe.SingleRouterLeases, c.Leases)
	}
	if *printReference {
		t.Logf("observe.SingleRouter:\n%s", b.String())
	}
}

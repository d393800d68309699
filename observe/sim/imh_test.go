package sim

import (
	"testing"
	"time"

	"github.com/imh-project/imh/balancer"
)

// TestChurnBackInStep: a router that dies makes the others grow their
// share out of turn, and one that returns builds its tunnels out of turn;
// the main wave takes both along, so that a generation after the return
// every tunnel of the destination falls due in one wave again (issue 20:
// without it each return left a lineage of tunnels replaced between the
// waves all day, a LeaseSet store of its own each time).
func TestChurnBackInStep(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated hours")
	}
	for seed := range uint64(2) {
		c := DefaultConfig()
		c.ChurnEvery, c.ChurnDown = 45*time.Minute, 10*time.Minute
		s, err := newSim(c, 100+seed)
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.addIMH(c, balancer.PolicySpread, (c.Leases+c.Routers-1)/c.Routers, true)
		if err != nil {
			t.Fatal(err)
		}
		// r1 dies at 45 minutes and returns at 55; its own tunnels and
		// the others' grown share are pulled into the wave within a
		// generation and lapse within the next.
		s.run(Start.Add(85 * time.Minute))
		if s.err != nil {
			t.Fatal(s.err)
		}
		if span := balancer.WaveSpan(d.dues(nil), c.Balancer.ReplaceBefore); span > 2*balancer.StepGap {
			t.Errorf("seed %d: the tunnels' replacements spread over %s of a generation, want one wave (at most %s)", 100+seed, span, 2*balancer.StepGap)
		}
	}
}

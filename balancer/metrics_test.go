package balancer

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/fsm"
)

// The metrics snapshot after four routers built their tunnels, one died
// and the others covered its share: lease and tunnel gauges, counters that
// only go up, and nothing while no loop runs.
func TestMetricsSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 4, allCaps, fsm.DefaultSettings())
		run := h.start(5, 4)
		defer run.stop(t)
		time.Sleep(time.Minute)
		m := run.b.Metrics(context.Background())
		if !m.Leading || m.Term != 5 || len(m.Routers) != 4 {
			t.Fatalf("metrics %+v", m)
		}
		d := m.Dests["web"]
		if d.Leases != 12 || d.LeaseGoal != 12 || d.Published.IsZero() || d.Counters.Publishes == 0 {
			t.Fatalf("web: %+v", d)
		}
		if d.GatewaySet == 0 || d.GatewaysInUse == 0 || d.GatewaysInUse > d.GatewaySet {
			t.Fatalf("gateway figures %d in use of %d", d.GatewaysInUse, d.GatewaySet)
		}
		var handOvers uint64
		for _, name := range []string{"r1", "r2", "r3", "r4"} {
			rm := d.ByRouter[name]
			if rm.Leases != 3 || rm.InboundTunnels != 4 || rm.OutboundTunnels != 2 || rm.Counters.TunnelBuilds < 5 {
				t.Fatalf("%s: %+v", name, rm)
			}
			handOvers += rm.Counters.HandOvers
		}
		if handOvers < d.Counters.Publishes {
			t.Fatalf("%d LeaseSets handed to routers for %d published", handOvers, d.Counters.Publishes)
		}
		publishes := d.Counters.Publishes
		h.router("r2").kill()
		time.Sleep(30 * time.Second)
		m = run.b.Metrics(context.Background())
		d = m.Dests["web"]
		if m.Routers["r2"].Up || m.Routers["r2"].Downs != 1 || m.Routers["r1"].Downs != 0 {
			t.Fatalf("routers %+v", m.Routers)
		}
		if d.Leases != 12 || d.LeaseGoal != 12 || d.ByRouter["r2"].Leases != 0 || d.ByRouter["r1"].Leases != 4 {
			t.Fatalf("without r2: %+v", d)
		}
		if d.Counters.Publishes <= publishes {
			t.Fatalf("publishes %d, was %d", d.Counters.Publishes, publishes)
		}
	})
}

func TestMetricsNotLeading(t *testing.T) {
	b, err := New(func() Config {
		cfg := DefaultConfig()
		cfg.Cluster = newFakeCluster(0)
		cfg.Dial = newFakeNet(1).dial
		return cfg
	}())
	if err != nil {
		t.Fatal(err)
	}
	if m := b.Metrics(context.Background()); m.Leading || m.Dests != nil {
		t.Fatalf("metrics of a balancer that does not run: %+v", m)
	}
}

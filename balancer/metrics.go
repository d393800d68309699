package balancer

import (
	"context"
	"time"

	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
)

// Metrics is what the leader's balancer reports to a metrics scrape
// (cmd/imh turns it into Prometheus metrics). The loop computes it on
// request, in its own goroutine: nothing is kept up to date for it between
// scrapes except the counters, which are plain increments the loop does
// anyway. Names are those the operator gave routers and destinations.
type Metrics struct {
	Leading bool   // a balancer loop runs (this agent leads)
	Term    uint64 // the loop's raft term
	Routers map[string]RouterMetrics
	Dests   map[string]DestMetrics
}

// RouterMetrics is the balancer's view of one router.
type RouterMetrics struct {
	Up bool
	// Downs counts transitions to down since the process started.
	Downs uint64
}

// DestMetrics is one destination's LeaseSet, gateway set and per-router
// figures.
type DestMetrics struct {
	Policy    string
	Leases    int       // leases in the current LeaseSet
	LeaseGoal int       // leases the LeaseSet should carry with the routers that are up
	Published time.Time // when the current LeaseSet was signed (zero: none yet)
	// GatewaySet is the size of the gateway set the inbound gateways come
	// from (the invisibility figure: one router's fast-tier slice).
	GatewaySet int
	// GatewaysInUse is how many distinct gateways the live inbound tunnels use.
	GatewaysInUse int
	ActiveRouter  string // failover: the router whose leases are published
	Counters      DestCounters
	ByRouter      map[string]DestRouterMetrics
	Streams       status.StreamsLive
}

// DestCounters are a destination's cumulative counts since the process
// started (summed over every term this agent led).
type DestCounters struct {
	Publishes uint64 // LeaseSets recorded in the fsm
	Switches  uint64 // failover: changes of the active router
	// GatewayChanges counts gateways that entered the gateway set after
	// the first one was chosen (churn).
	GatewayChanges uint64
}

// DestRouterMetrics are one destination's figures on one router.
type DestRouterMetrics struct {
	Leases          int // leases of this router in the current LeaseSet
	InboundTunnels  int
	OutboundTunnels int
	PendingBuilds   int
	Counters        RouterCounters
}

// RouterCounters are cumulative per destination and router.
type RouterCounters struct {
	TunnelBuilds        uint64 // builds that succeeded
	TunnelBuildFailures uint64 // builds that failed or timed out
	HandOvers           uint64 // LeaseSets handed to the router for publication
	Payloads            uint64
	PayloadBytes        uint64
}

// counters are kept by the Balancer across loops (leaderships) and touched
// only by the running loop's goroutine: a new loop starts only after the
// previous Run returned.
type counters struct {
	dests   map[string]*DestCounters
	routers map[[2]string]*RouterCounters // {dest, router}
	downs   map[string]uint64
}

func (c *counters) dest(name string) *DestCounters {
	if c.dests == nil {
		c.dests = make(map[string]*DestCounters)
	}
	p := c.dests[name]
	if p == nil {
		p = &DestCounters{}
		c.dests[name] = p
	}
	return p
}

func (c *counters) router(dest, router string) *RouterCounters {
	if c.routers == nil {
		c.routers = make(map[[2]string]*RouterCounters)
	}
	k := [2]string{dest, router}
	p := c.routers[k]
	if p == nil {
		p = &RouterCounters{}
		c.routers[k] = p
	}
	return p
}

func (c *counters) routerDown(name string) {
	if c.downs == nil {
		c.downs = make(map[string]uint64)
	}
	c.downs[name]++
}

// evMetrics asks the loop for a Metrics snapshot.
type evMetrics struct{ reply chan<- Metrics }

// Metrics returns the running loop's figures, or Leading false when no loop
// runs (a follower) or the loop does not answer before ctx ends.
func (b *Balancer) Metrics(ctx context.Context) Metrics {
	l := b.loop.Load()
	if l == nil {
		return Metrics{}
	}
	reply := make(chan Metrics, 1)
	select {
	case l.events <- evMetrics{reply: reply}:
	case <-l.ctx.Done():
		return Metrics{}
	case <-ctx.Done():
		return Metrics{}
	}
	select {
	case m := <-reply:
		return m
	case <-l.ctx.Done():
	case <-ctx.Done():
	}
	return Metrics{}
}

// metrics computes the snapshot (loop goroutine).
func (l *loop) metrics() Metrics {
	now := l.now()
	c := &l.b.counters
	m := Metrics{Leading: true, Term: l.term, Routers: make(map[string]RouterMetrics, len(l.routers)),
		Dests: make(map[string]DestMetrics, len(l.dests))}
	for name, r := range l.routers {
		m.Routers[name] = RouterMetrics{Up: r.up(), Downs: c.downs[name]}
	}
	for name, d := range l.dests {
		dm := DestMetrics{Policy: d.policy.Name(), LeaseGoal: l.leaseTarget(d, l.routerStates(d)),
			ActiveRouter: d.active, ByRouter: make(map[string]DestRouterMetrics, len(d.sessions))}
		if d.gateways != nil {
			dm.GatewaySet = d.gateways.Len()
		}
		if d.lastLS != nil {
			dm.Leases = len(d.lastLS.Leases)
			dm.Published = time.Unix(int64(d.lastLS.Published), 0)
		}
		if p := c.dests[name]; p != nil {
			dm.Counters = *p
		}
		if d.svc != nil {
			dm.Streams = d.svc.live()
		}
		byRouter := LeasesByRouter(d.lastLeases)
		gws := make(map[string]bool)
		for _, rn := range l.order {
			rm := DestRouterMetrics{Leases: byRouter[rn]}
			if s := d.sessions[rn]; s != nil {
				for _, t := range s.tunnels {
					if !end(t).After(now) {
						continue
					}
					if t.Direction == routerproto.Inbound {
						rm.InboundTunnels++
						gws[t.Gateway.String()] = true
					} else {
						rm.OutboundTunnels++
					}
				}
				rm.PendingBuilds = len(s.pending)
			}
			if p := c.routers[[2]string{name, rn}]; p != nil {
				rm.Counters = *p
			}
			dm.ByRouter[rn] = rm
		}
		dm.GatewaysInUse = len(gws)
		m.Dests[name] = dm
	}
	return m
}

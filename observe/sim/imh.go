package sim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/imh-project/imh/balancer"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router/simnet"
)

// imhRouter is the balancer's view of one router and the router's state
// for the destination (a request is answered at once: no control link).
type imhRouter struct {
	r       *router
	up      bool
	tier    []i2p.Hash // nil until fetched after (re)connecting
	tierAt  time.Time
	tunnels map[uint32]tunnel
	pending map[uint64]pendingBuild
}

type pendingBuild struct {
	gateway i2p.Hash
	started time.Time
}

// imhDest is one destination under the balancer's policies: the leader
// loop's step (balancer.loop.step) for one destination, with every
// decision made by the balancer package's exported functions.
type imhDest struct {
	s       *sim
	cfg     balancer.Config
	policy  balancer.LeasePolicy
	inbound int
	hops    int
	routers []*imhRouter
	gw      *balancer.GatewaySet
	leadKey []byte // keys balancer.ReplaceLead, as the loop's destState
	rnd     *rand.Rand
	retry   *balancer.Retrier
	nextID  uint64

	lastLS      *i2p.LeaseSet2
	lastLeases  []balancer.Lease
	lastAt      time.Time
	changeSince time.Time
	urgent      bool
	active      string
	switchedAt  time.Time
}

// addIMH serves the destination by imh over c.Routers routers keeping
// inbound tunnels each; with churn, one router in turn dies every
// c.ChurnEvery and returns c.ChurnDown later.
func (s *sim) addIMH(c Config, policy string, inbound int, churn bool) (*imhDest, error) {
	pol, err := balancer.PolicyByName(policy)
	if err != nil {
		return nil, err
	}
	rnd := s.rng("balancer")
	d := &imhDest{
		s: s, cfg: c.Balancer, policy: pol, inbound: inbound, hops: c.Hops,
		gw: balancer.NewGatewaySet(c.Balancer.Gateways), rnd: rnd,
		retry: balancer.NewRetrier(c.Balancer.Backoff, rnd),
	}
	key, err := balancer.GatewaySliceKey(s.keys)
	if err != nil {
		return nil, err
	}
	d.gw.UseSlice(key)
	d.leadKey = key
	for i := range c.Routers {
		d.routers = append(d.routers, &imhRouter{r: s.router(routerName(i)), up: true,
			tunnels: map[uint32]tunnel{}, pending: map[uint64]pendingBuild{}})
	}
	s.every(Start, d.cfg.Tick, d.step)
	if churn {
		for k, at := 0, Start.Add(c.ChurnEvery); at.Before(Start.Add(time.Duration(c.Hours * float64(time.Hour)))); k, at = k+1, at.Add(c.ChurnEvery) {
			ir := d.routers[k%len(d.routers)]
			s.at(at, func() { d.down(ir) })
			s.at(at.Add(c.ChurnDown), func() { d.back(ir) })
		}
	}
	return d, nil
}

// down kills a router: its tunnels die with it.
func (d *imhDest) down(ir *imhRouter) {
	ir.up, ir.tier = false, nil
	clear(ir.tunnels)
	clear(ir.pending)
	for _, l := range d.lastLeases {
		if l.Router == ir.r.name {
			d.urgent = true
		}
	}
}

// back returns a router: the balancer reconnects, fetches its fast tier
// and builds its share again.
func (d *imhDest) back(ir *imhRouter) { ir.up, ir.tierAt = true, time.Time{} }

func (d *imhDest) step() {
	now := d.s.clock.now
	for _, ir := range d.routers {
		if ir.up && (ir.tier == nil || now.Sub(ir.tierAt) >= d.cfg.FastTierEvery) {
			ir.tier = hashesOf(d.s.tier(ir.r))
			ir.tierAt = now
		}
	}
	union := d.updateGateways(now)
	share := balancer.InboundShare(d.policy.Name(), d.inbound, len(d.routers), d.downCount())
	build := balancer.BuildShare(d.policy.Name(), d.inbound, len(d.routers), d.downCount())
	for _, ir := range d.routers {
		if ir.up {
			d.expire(ir, now)
		}
	}
	steps := balancer.NewStepPlan(now, d.dues(nil), d.cfg.ReplaceBefore)
	for _, ir := range d.routers {
		if ir.up {
			d.plan(ir, build, union, steps, now)
		}
	}
	d.maybePublish(now, share)
}

func (d *imhDest) downCount() int {
	n := 0
	for _, ir := range d.routers {
		if !ir.up {
			n++
		}
	}
	return n
}

// updateGateways keeps the gateway set in line with the union of the fast
// tiers (of every router, as the loop keeps a down router's last tier).
func (d *imhDest) updateGateways(now time.Time) []i2p.Hash {
	var tiers [][]i2p.Hash
	self := map[i2p.Hash]bool{}
	var sizes []int
	for _, ir := range d.routers {
		self[ir.r.hash] = true
		if ir.tier != nil {
			tiers = append(tiers, ir.tier)
			sizes = append(sizes, len(ir.tier))
		}
	}
	union := balancer.PeerUnion(tiers, self)
	if pool := balancer.GatewayPool(tiers, self); len(pool) > 0 {
		d.gw.Update(now, pool, balancer.TierSize(sizes), d.hops, d.rnd)
	}
	return union
}

func (d *imhDest) expire(ir *imhRouter, now time.Time) {
	for id, t := range ir.tunnels {
		if t.expires.After(now) {
			continue
		}
		delete(ir.tunnels, id)
		for _, l := range d.lastLeases {
			if l.Router == ir.r.name && l.TunnelID == id {
				d.urgent = true
			}
		}
	}
}

// plan is the loop's planTunnels for the inbound direction; share is the
// loop's buildShare, steps the step's StepPlan (as the loop's step).
func (d *imhDest) plan(ir *imhRouter, share int, union []i2p.Hash, steps balancer.StepPlan, now time.Time) {
	healthy, fresh := steps.Healthy(now, d.dues(ir)), 0
	for _, p := range ir.pending {
		if now.Sub(p.started) < balancer.SlowBuild {
			fresh++
		}
	}
	need := balancer.TunnelsToBuild(share, healthy, fresh, len(ir.pending))
	if need <= 0 {
		return
	}
	key := ir.r.name
	if d.retry.Failures(key) > max(balancer.FreeFailures, share) {
		if ok, _ := d.retry.Ready(key, now); !ok {
			return
		}
		need = min(need, 1-fresh)
	}
	for range need {
		hops, err := balancer.PlanInbound(d.gw, union, d.hops, d.inUse(now), d.rnd)
		if err != nil {
			return // the gateway set is not filled yet
		}
		d.nextID++
		bid := d.nextID
		ir.pending[bid] = pendingBuild{gateway: hops[0], started: now}
		d.s.build(ir.r, hops, func(t tunnel, ok bool) { d.built(ir, bid, share, t, ok) })
	}
}

func (d *imhDest) built(ir *imhRouter, bid uint64, share int, t tunnel, ok bool) {
	if _, pending := ir.pending[bid]; !pending || !ir.up {
		return // the router died meanwhile
	}
	delete(ir.pending, bid)
	now := d.s.clock.now
	if !ok {
		d.retry.FailedAfter(ir.r.name, now, max(balancer.FreeFailures, share))
		return
	}
	d.retry.Succeeded(ir.r.name)
	ir.tunnels[t.id] = t
	if d.changeSince.IsZero() {
		d.changeSince = now
	}
}

// dues lists when the inbound tunnels of only (nil: every router) fall
// due for replacement, as the loop's dues.
func (d *imhDest) dues(only *imhRouter) []time.Time {
	var out []time.Time
	for _, ir := range d.routers {
		if only != nil && ir != only {
			continue
		}
		for _, t := range ir.tunnels {
			lead := balancer.ReplaceLead(d.leadKey, t.gateway, t.id, d.cfg.ReplaceBefore, d.cfg.ReplaceJitter)
			out = append(out, t.expires.Add(-lead))
		}
	}
	return out
}

// inUse counts the live and pending inbound tunnels per gateway.
func (d *imhDest) inUse(now time.Time) map[i2p.Hash]int {
	use := map[i2p.Hash]int{}
	for _, ir := range d.routers {
		for _, t := range ir.tunnels {
			if t.expires.After(now) {
				use[t.gateway]++
			}
		}
		for _, p := range ir.pending {
			use[p.gateway]++
		}
	}
	return use
}

func (d *imhDest) leases() []balancer.Lease {
	var out []balancer.Lease
	for _, ir := range d.routers {
		for _, t := range ir.tunnels {
			out = append(out, balancer.Lease{Router: ir.r.name, Gateway: t.gateway, TunnelID: t.id, End: t.expires})
		}
	}
	return out
}

func (d *imhDest) states() []balancer.RouterState {
	out := make([]balancer.RouterState, len(d.routers))
	for i, ir := range d.routers {
		out[i] = balancer.RouterState{Name: ir.r.name, Up: ir.up}
	}
	return out
}

// maybePublish is the loop's maybePublish.
func (d *imhDest) maybePublish(now time.Time, share int) {
	states := d.states()
	tunnels := d.leases()
	up := len(d.routers) - d.downCount()
	target := balancer.LeaseTarget(d.policy.Name(), share, up)
	sel := d.policy.Select(balancer.SelectInput{
		Now: now, Routers: states, Tunnels: tunnels, Previous: d.lastLeases,
		PerRouter: share, Max: i2p.MaxLeases, MinRemaining: d.cfg.MinLeaseRemaining,
		Retire: d.cfg.ReplaceBefore, Lead: d.cfg.ReplaceJitter, Active: d.active, Target: target,
	})
	in := balancer.PublishInput{
		Now: now, Selected: sel.Leases, Last: d.lastLeases, LastAt: d.lastAt,
		ChangeSince: d.changeSince, Urgent: d.urgent,
		Settling:  balancer.Settling(d.cfg.SettleFor, d.cfg.SettleEvery, d.switchedAt, d.lastAt, now),
		DeadLease: deadLease(d.lastLeases, tunnels), Target: target,
	}
	if d.lastLS != nil {
		in.LastExpires = time.Unix(int64(d.lastLS.ExpiresAt()), 0)
	} else {
		in.Last = nil
	}
	switch balancer.DecidePublish(d.cfg.PublishConfig(), in) {
	case balancer.PublishIdle:
		if len(sel.Leases) > 0 {
			d.urgent, d.changeSince = false, time.Time{}
		}
	case balancer.PublishWait:
		if d.changeSince.IsZero() {
			d.changeSince = now
		}
	case balancer.PublishNow:
		d.publish(sel, now)
	}
}

// deadLease reports whether a lease of last has no live tunnel any more.
func deadLease(last, live []balancer.Lease) bool {
	have := map[[2]any]bool{}
	for _, l := range live {
		have[[2]any{l.Router, l.TunnelID}] = true
	}
	for _, l := range last {
		if !have[[2]any{l.Router, l.TunnelID}] {
			return true
		}
	}
	return false
}

func (d *imhDest) publish(sel balancer.Selection, now time.Time) {
	var hw uint32
	if d.lastLS != nil {
		hw = d.lastLS.Published
	}
	ls, err := balancer.BuildLeaseSet(balancer.LeaseSetParams{Keys: d.s.keys, EncKey: d.s.encKey, Leases: sel.Leases, Now: now, HighWater: hw})
	if err != nil {
		d.s.fail(fmt.Errorf("build leaseset: %w", err))
		return
	}
	d.lastLS, d.lastLeases, d.lastAt = ls, sel.Leases, now
	d.urgent, d.changeSince = false, time.Time{}
	if sel.Active != d.active {
		if d.active != "" {
			d.switchedAt = now
		}
		d.active = sel.Active
	}
	d.s.send(ls)
}

func hashesOf(peers []simnet.Peer) []i2p.Hash {
	out := make([]i2p.Hash, len(peers))
	for i, p := range peers {
		out[i] = p.Hash
	}
	return out
}

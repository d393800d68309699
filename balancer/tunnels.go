package balancer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
)

// evBuilt is the end of a CreateTunnel request.
type evBuilt struct {
	router, dest string
	gen          uint64
	reqID        uint64
	status       *routerproto.TunnelStatus
	err          error
}

// SlowBuild is how long a tunnel build may take before the plan stops
// counting on it (I2P builds answer in about a second; a dropped request
// fails only at the router's 10 s timeout).
const SlowBuild = 5 * time.Second

// errBuild reports a build the router answered with a failure.
var errBuild = errors.New("balancer: tunnel build failed")

func end(t routerproto.TunnelInfo) time.Time { return time.Unix(int64(t.Expires), 0) }

// expireTunnels drops tunnels whose time is up (the router's unsolicited
// TunnelStatus usually comes first).
func (l *loop) expireTunnels(d *destState, r *routerState, now time.Time) {
	s := d.sessions[r.name]
	if s == nil {
		return
	}
	for k, t := range s.tunnels {
		if !end(t).After(now) {
			delete(s.tunnels, k)
			l.forget(d, r.name, k)
		}
	}
}

// tunnelEvent handles an unsolicited TunnelStatus: a tunnel the router
// built on its own (a stock upstream router's pool) appeared, or a tunnel
// expired or broke.
func (l *loop) tunnelEvent(d *destState, r *routerState, s *session, m *routerproto.TunnelStatus) {
	if m.RequestID != 0 {
		return
	}
	k := tunnelKey{m.Tunnel.Direction, m.Tunnel.TunnelID}
	if m.Result == routerproto.ResultOK {
		if old, ok := s.tunnels[k]; ok && old.Expires == m.Tunnel.Expires && old.Gateway == m.Tunnel.Gateway {
			return
		}
		s.tunnels[k] = m.Tunnel
		l.record(d, r.name, m.Tunnel)
		if k.dir == routerproto.Inbound {
			d.noteChange(l.now())
		}
		return
	}
	if m.Result != routerproto.ResultExpired && m.Result != routerproto.ResultBroken {
		return
	}
	if _, ok := s.tunnels[k]; !ok {
		return
	}
	delete(s.tunnels, k)
	l.forget(d, r.name, k)
	d.urgentIfLeased(r.name, k)
	l.log.Debug("tunnel gone", "router", r.name, "dest", d.name, "direction", k.dir, "tunnel", k.id, "result", m.Result)
}

// unionFor is the union of the fast tiers of the routers, without the
// routers themselves, and the largest single tier. It is cached until a
// fast tier or a router's identity changes (markUnion).
func (l *loop) unionFor() ([]i2p.Hash, int) {
	if !l.unionDirty {
		return l.union, l.unionLargest
	}
	l.union, l.unionLargest = l.computeUnion()
	l.unionDirty = false
	return l.union, l.unionLargest
}

// markUnion invalidates the cached union of fast tiers.
func (l *loop) markUnion() { l.unionDirty = true }

func (l *loop) computeUnion() ([]i2p.Hash, int) {
	var tiers [][]i2p.Hash
	self := make(map[i2p.Hash]bool)
	var sizes []int
	for _, name := range l.order {
		r := l.routers[name]
		if r.caps != nil && !r.caps.RouterHash.IsZero() {
			self[r.caps.RouterHash] = true
		}
		tiers = append(tiers, r.tier)
		if r.tier != nil {
			sizes = append(sizes, len(r.tier))
		}
	}
	return PeerUnion(tiers, self), TierSize(sizes)
}

// updateGateways keeps the destination's gateway set in line with the
// routers' fast tiers.
func (l *loop) updateGateways(d *destState, now time.Time) {
	// Wait until every router was tried and every one that is up gave its
	// fast tier: a partial union would evict members (a new leader's
	// adopted gateways among them).
	for _, name := range l.order {
		r := l.routers[name]
		if r.state == status.RouterUnknown || r.up() && r.has(routerproto.CapFastTier) && r.tier == nil {
			return
		}
	}
	pool, size := l.gatewayPool()
	if len(pool) == 0 {
		return
	}
	joined := d.gateways.Joined()
	if d.gateways.Update(now, pool, size, int(d.settings.Hops), l.rnd) {
		l.b.counters.dest(d.name).GatewayChanges += d.gateways.Joined() - joined
		l.log.Debug("gateway set", "dest", d.name, "size", len(d.gateways.Members()))
	}
}

// gatewayPool is GatewayPool over the routers' fast tiers in order (a
// router that is down keeps its last one), and the tier size the set is
// sized from.
func (l *loop) gatewayPool() ([]i2p.Hash, int) {
	var tiers [][]i2p.Hash
	self := make(map[i2p.Hash]bool)
	for _, name := range l.order {
		r := l.routers[name]
		if r.caps != nil && !r.caps.RouterHash.IsZero() {
			self[r.caps.RouterHash] = true
		}
		tiers = append(tiers, r.tier)
	}
	_, size := l.unionFor()
	return GatewayPool(tiers, self), size
}

// gatewaysInUse counts, per peer, the destination's live and pending
// inbound tunnels whose gateway it is, across all routers.
func (d *destState) gatewaysInUse(now time.Time) map[i2p.Hash]int {
	use := make(map[i2p.Hash]int)
	for _, s := range d.sessions {
		for _, t := range s.tunnels {
			if t.Direction == routerproto.Inbound && end(t).After(now) {
				use[t.Gateway]++
			}
		}
		for _, p := range s.pending {
			if p.dir == routerproto.Inbound && !p.gateway.IsZero() {
				use[p.gateway]++
			}
		}
	}
	return use
}

// planTunnels keeps the router's tunnel plan: for each direction, enough
// tunnels (share inbound, as buildShare says: the LeaseSet's share and the
// spares; --outbound) with more than ReplaceBefore left (inbound: its
// ReplaceLead, and during the main wave only tunnels in step with it:
// StepPlan), counting builds in flight; after a run of failures, one
// build at a time, spaced by the backoff.
func (l *loop) planTunnels(d *destState, r *routerState, share int, steps StepPlan, now time.Time) {
	s := d.sessions[r.name]
	if !r.up() || s == nil || !s.ready || s.adopting || !r.has(routerproto.CapCreateTunnel) {
		return
	}
	for _, dir := range []routerproto.Direction{routerproto.Inbound, routerproto.Outbound} {
		target := share
		if dir == routerproto.Outbound {
			target = int(d.settings.Outbound)
		}
		healthy, pending := 0, 0
		if dir == routerproto.Inbound {
			d.dueScratch = l.appendInboundDues(d.dueScratch[:0], d, s)
			healthy = steps.Healthy(now, d.dueScratch)
		} else {
			for _, t := range s.tunnels {
				if t.Direction == dir && end(t).Sub(now) > l.cfg.ReplaceBefore {
					healthy++
				}
			}
		}
		// A build that is slow has probably been dropped by a hop (it
		// fails only at the build timeout): build another meanwhile, up
		// to twice the target in flight, as stock routers do.
		all := 0
		for _, p := range s.pending {
			if p.dir == dir {
				all++
				if now.Sub(p.started) < SlowBuild {
					pending++
				}
			}
		}
		need := TunnelsToBuild(target, healthy, pending, all)
		key := retryKey(d.name, r.name, dir)
		if need <= 0 {
			continue
		}
		if l.retry.Failures(key) > max(FreeFailures, target) {
			if ok, _ := l.retry.Ready(key, now); !ok {
				continue
			}
			need = min(need, 1-pending)
		}
		for range need {
			if err := l.build(d, r, s, dir, now); err != nil {
				l.log.Debug("plan tunnel", "router", r.name, "dest", d.name, "direction", dir, "err", err)
				break
			}
		}
	}
}

// appendInboundDues appends to dst when the inbound tunnels of only (nil:
// of every router up) fall due for replacement: end less ReplaceLead, as
// NewStepPlan and StepPlan.Healthy take them. The loop passes
// d.dueScratch, so a step allocates nothing for it.
func (l *loop) appendInboundDues(dst []time.Time, d *destState, only *session) []time.Time {
	add := func(s *session) {
		for _, t := range s.tunnels {
			if t.Direction == routerproto.Inbound {
				dst = append(dst, end(t).Add(-d.replaceLead(t, l.cfg.ReplaceBefore, l.cfg.ReplaceJitter)))
			}
		}
	}
	if only != nil {
		add(only)
		return dst
	}
	for _, name := range l.order {
		if s := d.sessions[name]; s != nil && l.routers[name].up() {
			add(s)
		}
	}
	return dst
}

// inboundShare is InboundShare for d: only routers known to be down count
// as missing; one still connecting (or re-attaching) keeps its share.
func (l *loop) inboundShare(d *destState) int {
	down := 0
	for _, name := range l.order {
		if l.routers[name].state == status.RouterDown {
			down++
		}
	}
	return InboundShare(d.policy.Name(), int(d.settings.Inbound), len(l.order), down)
}

// buildShare is BuildShare for d, routers down counted as inboundShare does.
func (l *loop) buildShare(d *destState) int {
	down := 0
	for _, name := range l.order {
		if l.routers[name].state == status.RouterDown {
			down++
		}
	}
	return BuildShare(d.policy.Name(), int(d.settings.Inbound), len(l.order), down)
}

func retryKey(dest, router string, dir routerproto.Direction) string {
	return dest + "/" + router + "/" + dir.String()
}

// build starts one tunnel build: explicit hops when the router takes them
// (gateway from the gateway set, the other hops from the union of fast
// tiers), otherwise the router chooses.
func (l *loop) build(d *destState, r *routerState, s *session, dir routerproto.Direction, now time.Time) error {
	hops := int(d.settings.Hops)
	req := &routerproto.CreateTunnel{SessionID: s.id, Direction: dir, HopCount: uint8(hops)}
	var gw i2p.Hash
	if hops > 0 && r.has(routerproto.CapExplicitHops) {
		union, _ := l.unionFor()
		var plan []i2p.Hash
		var err error
		if dir == routerproto.Inbound {
			plan, err = PlanInbound(d.gateways, union, hops, d.gatewaysInUse(now), l.rnd)
		} else {
			plan, err = PlanOutbound(union, hops, l.rnd)
		}
		if err != nil {
			if r.has(routerproto.CapFastTier) && r.tier == nil {
				return fmt.Errorf("fast tier not known yet: %w", err)
			}
			return err
		}
		req.Hops = plan
		if dir == routerproto.Inbound {
			gw = plan[0]
		}
	}
	// The loop's own build id keys the pending build; the client assigns
	// the wire request id (and may overwrite req.RequestID).
	// The build's own context lets the loop give it up (cancelBuilds)
	// when the destination or the session goes.
	l.nextReq++
	id := l.nextReq
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.OpTimeout)
	s.pending[id] = pendingBuild{dir: dir, gateway: gw, started: now, cancel: cancel}
	conn, gen, router, dest := r.conn, r.gen, r.name, d.name
	l.spawn(func(context.Context) event {
		defer cancel()
		st, err := conn.CreateTunnel(ctx, req)
		return evBuilt{router: router, dest: dest, gen: gen, reqID: id, status: st, err: err}
	})
	return nil
}

func (l *loop) built(e evBuilt) {
	r, d := l.current(e.router, e.gen), l.dests[e.dest]
	if r == nil || d == nil {
		return
	}
	s := d.sessions[r.name]
	if s == nil {
		return
	}
	p, ok := s.pending[e.reqID]
	if !ok {
		return
	}
	delete(s.pending, e.reqID)
	now := l.now()
	key := retryKey(d.name, r.name, p.dir)
	err := e.err
	if err == nil && e.status.Result != routerproto.ResultOK {
		err = fmt.Errorf("%w: %s: %s", errBuild, e.status.Result, e.status.Reason)
	}
	if err != nil {
		target := int(d.settings.Outbound)
		if p.dir == routerproto.Inbound {
			target = l.buildShare(d)
		}
		l.b.counters.router(d.name, r.name).TunnelBuildFailures++
		next := l.retry.FailedAfter(key, now, max(FreeFailures, target))
		l.log.Debug("tunnel build failed", "router", r.name, "dest", d.name, "direction", p.dir, "err", err, "retry_in", next.Sub(now))
		return
	}
	l.retry.Succeeded(key)
	l.b.counters.router(d.name, r.name).TunnelBuilds++
	t := e.status.Tunnel
	s.tunnels[tunnelKey{t.Direction, t.TunnelID}] = t
	l.record(d, r.name, t)
	if t.Direction == routerproto.Inbound {
		d.noteChange(now)
	}
}

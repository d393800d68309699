package balancer

import (
	"context"
	"errors"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
)

// noteChange starts the coalescing window of a change that breaks nothing.
func (d *destState) noteChange(now time.Time) {
	if d.changeSince.IsZero() {
		d.changeSince = now
	}
}

// inboundLeases lists the live inbound tunnels of every router as leases.
func (d *destState) inboundLeases() []Lease {
	n := 0
	for _, s := range d.sessions {
		n += len(s.tunnels)
	}
	out := make([]Lease, 0, n) // one allocation, not a growing append per step
	for router, s := range d.sessions {
		for _, t := range s.tunnels {
			if t.Direction == routerproto.Inbound {
				out = append(out, Lease{Router: router, Gateway: t.Gateway, TunnelID: t.TunnelID, End: end(t)})
			}
		}
	}
	return out
}

// maybePublish publishes a new LeaseSet when DecidePublish says so.
func (l *loop) maybePublish(d *destState, now time.Time) {
	if l.settling(d, now) {
		return
	}
	states := l.routerStates(d)
	target := l.leaseTarget(d, states)
	sel := d.policy.Select(SelectInput{
		Now: now, Routers: states, Tunnels: d.inboundLeases(), Previous: d.lastLeases,
		PerRouter: l.inboundShare(d), Max: i2p.MaxLeases, MinRemaining: l.cfg.MinLeaseRemaining,
		Retire: l.cfg.ReplaceBefore, Lead: l.cfg.ReplaceJitter, Target: target, Active: d.active,
	})
	in := PublishInput{
		Now: now, Selected: sel.Leases, Last: d.lastLeases, LastAt: d.lastAt,
		ChangeSince: d.changeSince, Urgent: d.urgent, Asked: len(d.needBy) > 0,
		Settling:  Settling(l.cfg.SettleFor, l.cfg.SettleEvery, d.switchedAt, d.lastAt, now),
		DeadLease: d.hasDeadLease(sel.Leases), Target: target,
	}
	if d.lastLS == nil {
		in.Last = nil
	} else {
		in.LastExpires = time.Unix(int64(d.lastLS.ExpiresAt()), 0)
	}
	switch DecidePublish(l.publishConfig(d, now), in) {
	case PublishIdle:
		if len(sel.Leases) > 0 {
			d.urgent, d.changeSince = false, time.Time{}
		}
	case PublishWait:
		d.noteChange(now)
	case PublishNow:
		l.publish(d, sel, now)
	}
}

// sinceOpened is how long ago this leader opened d, on Config.Clock: a
// duration, which the routers' time would distort when their offset
// arrives (a leader minutes off saw its grace end at the first SetDate and
// published its first router's leases alone: TestClockSkewLeader, 1 run
// in 4).
func (l *loop) sinceOpened(d *destState) time.Duration {
	return l.cfg.Clock.Now().Sub(d.openedAt)
}

// attachGrace bounds how long a new leader holds back a destination's
// LeaseSet while it re-attaches the sessions (settling).
const attachGrace = 15 * time.Second

// failoverCoalesce is the coalescing window of a new leader's first
// attachGrace: changes that repair nothing wait this long for company, as
// every change did before Coalesce became 0. Right after a failover the
// leader's picture of the routers' tunnels fills in over a few seconds
// (re-attach, pools, lease requests); a LeaseSet published on the first
// partial picture changes leases under open streams for nothing (seen
// once on stock i2pd: ten downloads through the active router stopped
// being acknowledged after a leader SIGKILL).
const failoverCoalesce = 5 * time.Second

// publishConfig is the pacing for d now: Config.PublishConfig, with at
// least failoverCoalesce during the first attachGrace of this leader.
func (l *loop) publishConfig(d *destState, now time.Time) PublishConfig {
	pc := l.cfg.PublishConfig()
	if d.lastLS != nil && l.sinceOpened(d) < attachGrace {
		pc.Coalesce = max(pc.Coalesce, failoverCoalesce)
	}
	return pc
}

// settling reports whether d, opened less than attachGrace ago with a
// LeaseSet that is not yet due for republication, still waits for a
// router to answer: one not tried yet, or up with d's session not yet
// re-attached. Until then that router looks down to the lease policy and
// its leases would leave the LeaseSet for a moment: found when publishing
// without a coalescing window, a failover published a LeaseSet of half the
// leases, which an observer would see.
func (l *loop) settling(d *destState, now time.Time) bool {
	if d.lastLS == nil || l.sinceOpened(d) >= attachGrace {
		return false
	}
	if due := time.Unix(int64(d.lastLS.ExpiresAt()), 0).Add(-l.cfg.RepublishBefore); !now.Before(due) {
		return false
	}
	for _, name := range l.order {
		r := l.routers[name]
		if r.state == status.RouterUnknown {
			return true
		}
		if s := d.sessions[name]; r.up() && s != nil && !s.ready {
			return true
		}
	}
	return false
}

// leaseTarget is how many leases d's LeaseSet should carry with the
// routers that are up.
func (l *loop) leaseTarget(d *destState, states []RouterState) int {
	up := 0
	for _, rs := range states {
		if rs.Up {
			up++
		}
	}
	return LeaseTarget(d.policy.Name(), l.inboundShare(d), up)
}

func latestEnd(ls []Lease) uint32 {
	var e uint32
	for _, l := range ls {
		e = max(e, l.Lease2().End)
	}
	return e
}

// hasDeadLease reports whether the last LeaseSet holds a lease that the new
// choice drops because its tunnel is gone or its router down (rather than
// retiring it early).
func (d *destState) hasDeadLease(chosen []Lease) bool {
	live := make(map[leaseKey]bool)
	for _, l := range d.inboundLeases() {
		live[l.key()] = true
	}
	for _, l := range d.lastLeases {
		if !live[l.key()] {
			return true
		}
	}
	return false
}

// publish builds, signs and records a LeaseSet, then hands it to routers.
// The fsm records it first, so `published` never goes backwards even if
// this leader dies right after.
func (l *loop) publish(d *destState, sel Selection, now time.Time) {
	leases := sel.Leases
	hw := max(d.lastPublished, l.cfg.Cluster.State().PublishedMark(d.hash))
	ls, err := BuildLeaseSet(LeaseSetParams{Keys: d.keys, EncKey: d.encKey, Leases: leases, Now: now, HighWater: hw})
	if err != nil {
		l.log.Warn("build leaseset", "dest", d.name, "err", err)
		return
	}
	raw, err := ls.MarshalBinary()
	if err != nil {
		l.log.Error("encode leaseset", "dest", d.name, "err", err)
		return
	}
	// ls.Leases is the ordered subsequence of leases that BuildLeaseSet kept.
	used := make([]Lease, 0, len(ls.Leases))
	routers := make([]string, 0, len(ls.Leases))
	for _, le := range leases {
		if len(used) < len(ls.Leases) && le.Lease2() == ls.Leases[len(used)] {
			used = append(used, le)
			routers = append(routers, le.Router)
		}
	}
	cmd := &fsm.LeaseSetPublished{Destination: d.name, LeaseSet: raw, Published: ls.Published, Routers: routers}
	if err := l.apply(cmd); err != nil {
		if errors.Is(err, fsm.ErrStalePublish) {
			d.lastPublished = max(d.lastPublished, l.cfg.Cluster.State().PublishedMark(d.hash))
		}
		l.log.Warn("record leaseset", "dest", d.name, "published", ls.Published, "err", err)
		return
	}
	d.lastLS, d.lastRaw, d.lastLeases, d.lastPublished, d.lastAt = ls, raw, used, ls.Published, now
	d.history.record(now, raw)
	d.urgent, d.changeSince = false, time.Time{}
	l.b.counters.dest(d.name).Publishes++
	if sel.Active != d.active {
		if d.active != "" {
			d.switches++
			l.b.counters.dest(d.name).Switches++
			l.log.Warn("active router switched", "dest", d.name, "from", d.active, "to", sel.Active)
			d.switchedAt = now
		}
		d.active = sel.Active
	}
	l.log.Info("leaseset published", "dest", d.name, "published", ls.Published, "leases", len(ls.Leases), "by_router", LeasesByRouter(used))
	l.handOver(d, now)
}

// handOver gives the current LeaseSet to PublishFanout routers (rotating
// with each LeaseSet) and to every router that asked for it.
func (l *loop) handOver(d *destState, now time.Time) {
	var ready []string
	for _, name := range l.order {
		if s := d.sessions[name]; s != nil && s.ready && l.routers[name].up() {
			ready = append(ready, name)
		}
	}
	targets := make(map[string]bool)
	n := l.cfg.PublishFanout
	if n == 0 || n > len(ready) {
		n = len(ready)
	}
	for i := range n {
		targets[ready[(int(d.lastPublished)+i)%len(ready)]] = true
	}
	for name := range d.needBy {
		targets[name] = true
	}
	clear(d.needBy)
	for _, name := range ready {
		if targets[name] {
			l.sendLeaseSet(d, l.routers[name], d.sessions[name])
		}
	}
}

// sendLeaseSet hands the current LeaseSet and its private key to a router.
func (l *loop) sendLeaseSet(d *destState, r *routerState, s *session) {
	msg := &routerproto.CreateLeaseSet2{
		SessionID:   s.id,
		LeaseSet:    d.lastLS,
		PrivateKeys: []routerproto.LeaseSetPrivateKey{{Type: i2p.EncX25519, Key: d.encKey.Private()}},
	}
	l.b.counters.router(d.name, r.name).HandOvers++
	conn, router, dest, log := r.conn, r.name, d.name, l.log
	l.spawn(func(ctx context.Context) event {
		if err := conn.CreateLeaseSet2(ctx, msg); err != nil {
			log.Warn("hand leaseset to router", "router", router, "dest", dest, "err", err)
		}
		return nil
	})
}

// needLeaseSet answers a router that asks for a LeaseSet: the current one
// if it is new enough and no change waits to be published, otherwise a new
// one as soon as allowed (a stock router asks right after its tunnels
// changed: the answer should carry them).
func (l *loop) needLeaseSet(d *destState, r *routerState, s *session, m *routerproto.NeedLeaseSet) {
	if d.lastLS != nil && d.lastLS.Published > m.MinPublished && d.changeSince.IsZero() && d.lastLS.TimeStatus(l.now()) == i2p.TimeOK {
		l.sendLeaseSet(d, r, s)
		return
	}
	d.needBy[r.name] = true
	d.urgent = true
}

func (l *loop) leaseSetStatus(d *destState, r *routerState, m *routerproto.LeaseSetStatus) {
	switch m.State {
	case routerproto.LeaseSetRejected, routerproto.LeaseSetFailed:
		l.log.Warn("leaseset not published", "router", r.name, "dest", d.name, "published", m.Published, "state", m.State, "reason", m.Reason)
	default:
		l.log.Debug("leaseset status", "router", r.name, "dest", d.name, "published", m.Published, "state", m.State, "floodfills", m.Floodfills)
	}
}

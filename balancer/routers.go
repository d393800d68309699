package balancer

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
)

// routerState is the loop's view of one operator-added router.
type routerState struct {
	name, addr string
	stop       context.CancelFunc // ends the connection goroutine
	conn       RouterConn         // nil while down
	gen        uint64             // connection generation; stale events are dropped
	state      string             // status.RouterUp / RouterDown / RouterUnknown
	caps       *routerproto.Capabilities
	lastErr    error

	tier        []i2p.Hash
	tierAt      time.Time
	tierPending bool

	// early holds messages for a session id the loop does not know yet,
	// while a CreateSession on this connection is in flight: a router
	// sends a re-attached session's queued payloads right behind its
	// SessionStatus, so they can reach the loop before the call's result.
	early        []evMessage
	earlyDropped int

	// offsetIgnored: this connection's clock offset was beyond
	// MaxRouterOffset and that was logged (loop.routerOffset).
	offsetIgnored bool
}

// maxEarly bounds routerState.early; a router queues at most this order of
// payloads per session during a grace period anyway.
const maxEarly = 1024

func (r *routerState) up() bool { return r.conn != nil }

func (r *routerState) has(capability string) bool {
	return r.caps != nil && r.caps.Has(capability)
}

func (r *routerState) capNames() []string {
	if r.caps == nil {
		return []string{}
	}
	return slices.Clone(r.caps.Names)
}

// Events of router connections.
type (
	evRouterUp struct {
		router string
		gen    uint64
		conn   RouterConn
	}
	evRouterDown struct {
		router string
		gen    uint64 // 0: a dial failed
		err    error
	}
	evMessage struct {
		router string
		gen    uint64
		msg    routerproto.Message
	}
	evFastTier struct {
		router string
		gen    uint64
		peers  []routerproto.Peer
		err    error
	}
)

// reconcile follows the fsm: routers added, removed or moved, and
// destinations added, changed or removed.
//
// The fsm is read only when it changed since the last reconcile (or a
// destination failed to open and must be tried again): reading clones it.
func (l *loop) reconcile(now time.Time) {
	st := l.cfg.Cluster.State()
	changes := st.Changes() // before reading: a change meanwhile is seen next step
	if l.reconciled && changes == l.changes && !l.reopen {
		return
	}
	l.reconciled, l.changes, l.reopen = true, changes, false
	want := st.Routers()
	seen := make(map[string]bool, len(want))
	for _, fr := range want {
		seen[fr.Name] = true
		r := l.routers[fr.Name]
		if r != nil && r.addr == fr.Addr {
			continue
		}
		if r != nil {
			l.dropRouter(r)
		}
		l.addRouter(fr)
	}
	for name, r := range l.routers {
		if !seen[name] {
			l.removeRouter(r)
		}
	}
	l.order = l.order[:0]
	for name := range l.routers {
		l.order = append(l.order, name)
	}
	slices.Sort(l.order)
	l.reconcileDests(st, now)
	l.reconcileFrontends(st)
}

func (l *loop) addRouter(fr fsm.Router) {
	ctx, cancel := context.WithCancel(l.ctx)
	r := &routerState{name: fr.Name, addr: fr.Addr, stop: cancel, state: status.RouterUnknown}
	l.routers[fr.Name] = r
	l.markUnion()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.connect(ctx, fr.Name, fr.Addr)
	}()
}

// removeRouter drops a router taken out of the cluster (imh router remove)
// after destroying the cluster's sessions on it, so it releases them and
// their tunnels at once instead of keeping them for the grace period. The
// control connection stays open until the destroys are written.
func (l *loop) removeRouter(r *routerState) {
	var ids []uint16
	if r.up() {
		for _, name := range slices.Sorted(maps.Keys(l.dests)) {
			if s := l.dests[name].sessions[r.name]; s != nil && s.ready && s.gen == r.gen {
				ids = append(ids, s.id)
			}
		}
	}
	if len(ids) > 0 {
		stop, conn, log := r.stop, r.conn, l.log.With("router", r.name)
		r.stop = func() {} // stop runs once the sessions are destroyed
		l.spawn(func(ctx context.Context) event {
			defer stop()
			for _, id := range ids {
				if err := conn.DestroySession(ctx, id); err != nil {
					log.Warn("destroy session on the removed router", "session", id, "err", err)
				}
			}
			log.Info("sessions released on the removed router", "sessions", len(ids))
			return nil
		})
	}
	l.dropRouter(r)
}

func (l *loop) dropRouter(r *routerState) {
	r.stop()
	delete(l.routers, r.name)
	l.markUnion()
	for _, d := range l.dests {
		d.dropRouter(r.name)
	}
	l.log.Info("router dropped", "router", r.name)
}

// connect keeps one control connection to a router, reconnecting with
// backoff, and forwards its events to the loop.
func (l *loop) connect(ctx context.Context, name, addr string) {
	failures := 0
	for ctx.Err() == nil {
		if failures > 0 && !sleep(ctx, l.cfg.Reconnect.Delay(failures, l.rnd.Float64())) {
			return
		}
		dctx, cancel := context.WithTimeout(ctx, l.cfg.OpTimeout)
		conn, err := l.cfg.Dial(dctx, name, addr)
		cancel()
		if err != nil {
			failures++
			l.post(evRouterDown{router: name, err: err})
			continue
		}
		failures = 1
		gen := l.gens.Add(1)
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		l.post(evRouterUp{router: name, gen: gen, conn: conn})
		for m := range conn.Events() {
			l.post(evMessage{router: name, gen: gen, msg: m})
		}
		stop()
		conn.Close()
		l.post(evRouterDown{router: name, gen: gen, err: conn.Err()})
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// current returns the router an event is about if the event belongs to
// its current connection.
func (l *loop) current(name string, gen uint64) *routerState {
	r := l.routers[name]
	if r == nil || r.gen != gen || r.conn == nil {
		return nil
	}
	return r
}

func (l *loop) routerUp(e evRouterUp) {
	r := l.routers[e.router]
	if r == nil {
		e.conn.Close()
		return
	}
	r.conn, r.gen, r.state, r.lastErr = e.conn, e.gen, status.RouterUp, nil
	r.early, r.earlyDropped = nil, 0
	r.offsetIgnored = false
	r.caps = e.conn.Capabilities()
	r.tierAt, r.tierPending = time.Time{}, false
	l.markUnion()
	for _, d := range l.dests {
		d.resetSession(r.name)
	}
	l.log.Info("router up", "router", r.name, "capabilities", r.capNames())
}

func (l *loop) routerDown(e evRouterDown) {
	r := l.routers[e.router]
	if r == nil || (e.gen != 0 && e.gen != r.gen) {
		return
	}
	wasUp, before := r.conn != nil, r.state
	r.conn, r.state, r.lastErr = nil, status.RouterDown, e.err
	r.early = nil
	for _, d := range l.dests {
		d.resetSession(r.name)
		d.routerDown(r.name)
	}
	if wasUp || before != status.RouterDown {
		l.b.counters.routerDown(r.name)
		l.log.Warn("router down", "router", r.name, "err", e.err)
	}
}

// refreshFastTier fetches a router's fast tier when it is due.
func (l *loop) refreshFastTier(r *routerState, now time.Time) {
	if !r.up() || !r.has(routerproto.CapFastTier) || r.tierPending || now.Sub(r.tierAt) < l.cfg.FastTierEvery {
		return
	}
	r.tierPending = true
	conn, name, gen := r.conn, r.name, r.gen
	l.spawn(func(ctx context.Context) event {
		peers, err := conn.FastTier(ctx)
		return evFastTier{router: name, gen: gen, peers: peers, err: err}
	})
}

func (l *loop) fastTier(e evFastTier) {
	r := l.current(e.router, e.gen)
	if r == nil {
		return
	}
	r.tierPending = false
	r.tierAt = l.now()
	if e.err != nil {
		l.log.Warn("fast tier", "router", r.name, "err", e.err)
		if r.tier == nil {
			r.tier = []i2p.Hash{} // known to be unknown: do not hold the gateway set back
		}
		return
	}
	r.tier = hashes(e.peers)
	l.markUnion()
}

// routerMessage dispatches a router-initiated message to the destination
// whose session it names.
func (l *loop) routerMessage(e evMessage) {
	r := l.current(e.router, e.gen)
	if r == nil {
		return
	}
	if sid, ok := sessionOf(e.msg); ok && l.holdEarly(r, sid, e) {
		return
	}
	switch m := e.msg.(type) {
	case *routerproto.TunnelStatus:
		if d, s := l.bySession(r, m.SessionID); s != nil {
			l.tunnelEvent(d, r, s, m)
		}
	case *routerproto.MessagePayload:
		if d, s := l.bySession(r, m.SessionID); s != nil {
			l.payload(d, r, s, m)
		}
	case *routerproto.NeedLeaseSet:
		if d, s := l.bySession(r, m.SessionID); s != nil {
			l.needLeaseSet(d, r, s, m)
		}
	case *routerproto.LeaseSetStatus:
		if d, _ := l.bySession(r, m.SessionID); d != nil {
			l.leaseSetStatus(d, r, m)
		}
	case *routerproto.SessionStatus:
		if d, s := l.bySession(r, m.SessionID); s != nil && m.Status == routerproto.SessionDestroyed {
			l.log.Warn("session destroyed by router", "router", r.name, "dest", d.name)
			d.resetSession(r.name)
			d.routerDown(r.name)
		}
	case *routerproto.Disconnect:
		l.log.Warn("router disconnects", "router", r.name, "reason", m.Reason)
	case *routerproto.PayloadFrom:
		// Payloads are counted by the connection they arrive on; the
		// inbound tunnel is not needed to answer (the router replies).
	}
}

// isPayload reports the messages that carry traffic, not control.
func isPayload(m routerproto.Message) bool {
	switch m.(type) {
	case *routerproto.MessagePayload, *routerproto.PayloadFrom:
		return true
	}
	return false
}

// sessionOf returns the session id of a router message that belongs to
// one of the loop's sessions.
func sessionOf(m routerproto.Message) (uint16, bool) {
	switch m := m.(type) {
	case *routerproto.TunnelStatus:
		return m.SessionID, true
	case *routerproto.MessagePayload:
		return m.SessionID, true
	case *routerproto.NeedLeaseSet:
		return m.SessionID, true
	case *routerproto.LeaseSetStatus:
		return m.SessionID, true
	case *routerproto.SessionStatus:
		return m.SessionID, true
	}
	return 0, false
}

// holdEarly keeps e for later when it names a session id the loop does not
// know while a session on r is being created or re-attached; replayEarly
// hands it back once that is settled. Without this, payloads a router
// queued during a leader change would be dropped by the new leader.
func (l *loop) holdEarly(r *routerState, sid uint16, e evMessage) bool {
	if _, s := l.bySession(r, sid); s != nil || !l.creatingOn(r) {
		return false
	}
	if len(r.early) >= maxEarly {
		r.early = r.early[1:]
		r.earlyDropped++
		if r.earlyDropped == 1 {
			l.log.Warn("too many messages for a session being attached; dropping the oldest", "router", r.name, "max", maxEarly)
		}
	}
	r.early = append(r.early, e)
	return true
}

// replayEarly dispatches the messages holdEarly kept, in their order; those
// whose session is still being attached are kept again, the rest (a
// session nobody attached) are dropped as before.
func (l *loop) replayEarly(r *routerState) {
	early := r.early
	r.early = nil
	for _, e := range early {
		l.routerMessage(e)
	}
}

// creatingOn reports whether a CreateSession is in flight on r.
func (l *loop) creatingOn(r *routerState) bool {
	for _, d := range l.dests {
		if s := d.sessions[r.name]; s != nil && s.creating {
			return true
		}
	}
	return false
}

// bySession finds the destination and session a router's session id names.
func (l *loop) bySession(r *routerState, sid uint16) (*destState, *session) {
	for _, d := range l.dests {
		if s := d.sessions[r.name]; s != nil && s.ready && s.id == sid {
			return d, s
		}
	}
	return nil, nil
}

// routerStates lists the routers for lease selection: up means connected
// with a ready session for d.
func (l *loop) routerStates(d *destState) []RouterState {
	out := make([]RouterState, 0, len(l.order))
	for _, name := range l.order {
		s := d.sessions[name]
		up := l.routers[name].up() && s != nil && s.ready && l.frontendServes(d, name)
		out = append(out, RouterState{Name: name, Up: up})
	}
	return out
}

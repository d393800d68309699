package router

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// bandwidthLimits is what the router reports for GetBandwidthLimits: the
// KBps figures of a typical "O"-class router (I2P-WIRE 4.17 order).
var bandwidthLimits = [16]uint32{0: 256, 1: 256, 2: 256, 3: 256, 4: 256, 5: 256, 6: 10}

// SessionConfigWindow is how far a SessionConfig's date may be from the
// router's clock (Java's OFFSET_VALIDITY).
const SessionConfigWindow = 3 * time.Minute

// Disconnect reasons of PROTOCOL.md.
const (
	reasonStaleTerm = "imh: stale term"
)

func reasonSuperseded(term uint64) string {
	return fmt.Sprintf("imh: superseded by term %d", term)
}

// attach registers a new client connection and starts its writer.
func (r *Router) attach(conn wireConn, ext bool) *client {
	c := newClient(conn, ext)
	r.mu.Lock()
	closed := r.closed
	if !closed {
		r.clients[c] = struct{}{}
	}
	r.mu.Unlock()
	if closed {
		c.markClosed()
		_ = conn.Disconnect("router shutting down")
		return c
	}
	r.go_(c.run)
	return c
}

// detach is called when c's connection has ended: unmanaged sessions die
// with it, managed ones start their grace period.
func (r *Router) detach(c *client) {
	c.markClosed()
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.clients, c)
	for id := range c.dataOf {
		if s := r.sessions[id]; s != nil {
			s.dropDataLocked(c)
		}
	}
	for id := range c.attached {
		s := r.sessions[id]
		if s == nil || s.ctrl != c {
			continue
		}
		if !s.managed {
			r.destroyLocked(s, "connection closed")
			continue
		}
		r.startGraceLocked(s)
	}
}

// startGraceLocked detaches a managed session's controller and arms the
// grace timer: unless a controller re-attaches in time, the session dies.
func (r *Router) startGraceLocked(s *session) {
	s.ctrl = nil
	if s.grace != nil {
		s.grace.Stop()
	}
	r.log.Info("managed session detached, grace period started", "dest", s.dest.B32(), "session", s.id, "term", s.term, "grace", r.cfg.GracePeriod)
	s.grace = r.afterFunc(r.cfg.GracePeriod, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if s.dead || s.ctrl != nil {
			return
		}
		r.destroyLocked(s, "grace period over")
	})
}

// destroyLocked ends a session: its tunnels are dropped from the router's
// tables (the network lets them expire), publication and pools stop.
func (r *Router) destroyLocked(s *session, why string) {
	if s.dead {
		return
	}
	s.dead = true
	s.cancel()
	if s.grace != nil {
		s.grace.Stop()
	}
	for _, t := range s.tunnels {
		t.timer.Stop()
	}
	s.tunnels = nil
	// Builds in flight end with the session: their requester, if it still
	// controls the session, has its answer now rather than at its own
	// request timeout (a backend may take that long to notice).
	for b := range s.builds {
		if b.c == s.ctrl {
			b.c.send(&routerproto.TunnelStatus{RequestID: b.req.RequestID, SessionID: s.id, Result: routerproto.ResultNoSession,
				Tunnel: routerproto.TunnelInfo{Direction: b.req.Direction, Hops: b.req.Hops}, Reason: "session destroyed: " + why})
		}
	}
	clear(s.builds)
	delete(r.sessions, s.id)
	if r.byDest[s.hash] == s {
		delete(r.byDest, s.hash)
	}
	if s.ctrl != nil {
		delete(s.ctrl.attached, s.id)
	}
	for c := range s.data {
		s.dropDataLocked(c)
		c.send(&routerproto.SessionStatus{SessionID: s.id, Status: routerproto.SessionDestroyed})
	}
	if h, ok := r.be.(SessionHooks); ok {
		hash := s.hash
		r.go_(func() { h.SessionClosed(hash) })
	}
	r.log.Info("session destroyed", "dest", s.dest.B32(), "session", s.id, "managed", s.managed, "why", why)
}

// createSession creates a session, or re-attaches a managed one (PROTOCOL.md):
// the same Destination, managed, with a term at least the session's.
// peer is what TLS says about the connection (zero without TLS): its role
// must allow the kind of session (peerConn.allows), and a managed session
// or a data attachment must carry its binding, signed (checkBinding). A
// config signed by a transient key may only make a data attachment, with
// an attach grant for this router (checkOffline), and that attachment ends
// when the transient key expires.
func (r *Router) createSession(ctx context.Context, c *client, sc *routerproto.SessionConfig, peer peerConn) {
	if sc == nil || sc.Destination == nil {
		c.send(&routerproto.SessionStatus{Status: routerproto.SessionInvalid})
		return
	}
	if err := sc.Verify(); err != nil {
		r.log.Warn("create session: bad signature", "dest", sc.Destination.B32(), "err", err)
		c.send(&routerproto.SessionStatus{Status: routerproto.SessionInvalid})
		return
	}
	if skew := r.now().Sub(time.UnixMilli(int64(sc.Date))).Abs(); skew > SessionConfigWindow {
		r.log.Warn("create session: clock skew", "dest", sc.Destination.B32(), "skew", skew)
		c.send(&routerproto.SessionStatus{Status: routerproto.SessionInvalid})
		return
	}
	managed, term, err := parseManaged(sc.Options)
	if err != nil {
		r.log.Warn("create session: bad term", "dest", sc.Destination.B32(), "err", err)
		c.send(&routerproto.SessionStatus{Status: routerproto.SessionInvalid})
		return
	}
	attach := sc.Options[routerproto.OptAttach] == "data"
	if err := peer.allows(managed, attach); err != nil {
		r.log.Warn("create session refused", "dest", sc.Destination.B32(), "err", err)
		c.send(&routerproto.SessionStatus{Status: routerproto.SessionRefused})
		return
	}
	off, err := sc.Offline() // well-formed: Verify passed
	if err != nil {
		c.send(&routerproto.SessionStatus{Status: routerproto.SessionInvalid})
		return
	}
	if off != nil {
		if err := r.checkOffline(sc, off, managed, attach); err != nil {
			r.log.Warn("create session refused: offline-signed", "dest", sc.Destination.B32(), "err", err)
			c.send(&routerproto.SessionStatus{Status: routerproto.SessionRefused})
			return
		}
	}
	if managed || attach {
		if err := checkBinding(sc.Options, peer.binding); err != nil {
			r.log.Warn("create session refused: not bound to this connection (replayed?)", "dest", sc.Destination.B32(), "err", err)
			c.send(&routerproto.SessionStatus{Status: routerproto.SessionRefused})
			return
		}
	}
	hooks, _ := r.be.(SessionHooks)
	opened := false // the backend opened the session: close it if refused below
	if !attach {
		r.mu.Lock()
		exists, full := r.byDest[sc.Destination.Hash()] != nil, len(r.sessions) >= r.cfg.MaxSessions
		r.mu.Unlock()
		if !exists && full {
			r.refuseFull(c, sc.Destination)
			return
		}
		if hooks != nil && !exists {
			if err := hooks.SessionOpened(ctx, SessionInfo{Dest: sc.Destination, Options: sc.Options, Managed: managed, Config: sc}); err != nil {
				r.log.Warn("create session: backend refused", "dest", sc.Destination.B32(), "err", err)
				c.send(&routerproto.SessionStatus{Status: routerproto.SessionRefused})
				return
			}
			opened = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.send(&routerproto.SessionStatus{Status: routerproto.SessionRefused})
		return
	}
	if s := r.byDest[sc.Destination.Hash()]; !c.holds(s) && len(c.attached)+len(c.dataOf) >= r.cfg.MaxSessionsPerConn {
		r.log.Warn("create session refused: the connection holds its maximum", "dest", sc.Destination.B32(), "max_sessions_per_conn", r.cfg.MaxSessionsPerConn)
		if opened {
			hooks.SessionClosed(sc.Destination.Hash())
		}
		c.send(&routerproto.SessionStatus{Status: routerproto.SessionRefused})
		return
	}
	if attach {
		r.attachDataLocked(c, r.byDest[sc.Destination.Hash()], off)
		return
	}
	if s := r.byDest[sc.Destination.Hash()]; s != nil {
		r.reattachLocked(c, s, managed, term, sc.Options)
		return
	}
	id, ok := r.newSessionIDLocked()
	if !ok || len(r.sessions) >= r.cfg.MaxSessions { // filled up since the check above
		if opened {
			hooks.SessionClosed(sc.Destination.Hash())
		}
		r.refuseFull(c, sc.Destination)
		return
	}
	s := r.newSessionLocked(c, id, sc.Destination, managed, term, sc.Options)
	c.send(&routerproto.SessionStatus{SessionID: s.id, Status: routerproto.SessionCreated})
	r.log.Info("session created", "dest", s.dest.B32(), "session", s.id, "managed", managed, "term", term)
	if !managed {
		s.pool = newPool(r, s)
		r.go_(s.pool.run)
	}
}

// holds reports whether c already controls s or is attached to it (a
// re-attach or a second attachment takes nothing new).
func (c *client) holds(s *session) bool {
	if s == nil {
		return false
	}
	_, ctl := c.attached[s.id]
	return ctl || c.dataOf[s.id]
}

// refuseFull answers a CreateSession when the router holds MaxSessions.
func (r *Router) refuseFull(c *client, d *i2p.Destination) {
	r.log.Warn("create session refused: the router is full", "dest", d.B32(), "max_sessions", r.cfg.MaxSessions)
	c.send(&routerproto.SessionStatus{Status: routerproto.SessionRefused})
}

func (r *Router) newSessionLocked(c *client, id uint16, d *i2p.Destination, managed bool, term uint64, opts i2p.Mapping) *session {
	ctx, cancel := context.WithCancel(r.ctx)
	s := &session{
		id:         id,
		dest:       d,
		hash:       d.Hash(),
		managed:    managed,
		term:       term,
		options:    opts,
		ctrl:       c,
		ctx:        ctx,
		cancel:     cancel,
		tunnels:    make(map[tunnelKey]*liveTunnel),
		builds:     make(map[*pendingBuild]struct{}),
		data:       make(map[*client]bool),
		dataExpiry: make(map[*client]*dataTimer),
		queue:      payloadQueue{limit: r.cfg.QueueLimit},
	}
	r.sessions[s.id] = s
	r.byDest[s.hash] = s
	c.attached[s.id] = term
	return s
}

// attachDataLocked makes c a data attachment of the managed session s: it
// may send, and it receives the session's payloads instead of the
// controller. It never controls the session and has no term. An attachment
// signed by a transient key (off not nil) ends when off expires.
func (r *Router) attachDataLocked(c *client, s *session, off *i2p.OfflineSignature) {
	if s == nil || s.dead || !s.managed {
		c.send(&routerproto.SessionStatus{Status: routerproto.SessionRefused})
		return
	}
	s.dropDataLocked(c) // attaching again replaces the previous expiry
	s.data[c] = true
	c.dataOf[s.id] = true
	if off != nil {
		r.expireDataLocked(s, c, off)
	}
	c.send(&routerproto.SessionStatus{SessionID: s.id, Status: routerproto.SessionCreated})
	r.log.Info("data attachment", "dest", s.dest.B32(), "session", s.id, "data_attached", len(s.data), "offline", off != nil)
	for _, q := range s.queue.drain() {
		s.forwardLocked(c, q.tunnelID, q.payload)
	}
}

// expireDataLocked arms the end of c's offline-signed data attachment to s
// at off's expiry, on the router's clock: c is told SessionDestroyed for
// the session (its connection stays open for its other sessions) and the
// session's payloads go to the other attachments or the controller.
func (r *Router) expireDataLocked(s *session, c *client, off *i2p.OfflineSignature) {
	dt := &dataTimer{}
	at := time.Unix(int64(off.Expires), 0)
	dt.stop = r.afterFunc(at.Sub(r.now()), func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if s.dead || s.dataExpiry[c] != dt {
			return
		}
		s.dropDataLocked(c)
		c.send(&routerproto.SessionStatus{SessionID: s.id, Status: routerproto.SessionDestroyed})
		r.log.Info("data attachment ended: offline signature expired", "dest", s.dest.B32(), "session", s.id, "expires", at.UTC(), "data_attached", len(s.data))
	})
	s.dataExpiry[c] = dt
}

// reattachLocked handles CreateSession for a destination that already has a
// session here.
func (r *Router) reattachLocked(c *client, s *session, managed bool, term uint64, opts i2p.Mapping) {
	if !managed || !s.managed {
		// A second ordinary session for a destination this router already
		// serves: refused, as i2pd refuses a duplicate destination.
		r.log.Warn("create session: destination already has a session", "dest", s.dest.B32(), "session", s.id, "managed", s.managed)
		c.send(&routerproto.SessionStatus{Status: routerproto.SessionRefused})
		return
	}
	if term < s.term {
		s.staleRefused++
		r.log.Warn("re-attach refused: stale term", "dest", s.dest.B32(), "session", s.id, "term", term, "current", s.term)
		c.send(&routerproto.SessionStatus{SessionID: s.id, Status: routerproto.SessionRefused})
		c.disconnect(reasonStaleTerm)
		return
	}
	old := s.ctrl
	s.term = term
	s.options = opts
	s.ctrl = c
	c.attached[s.id] = term
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	if old != nil && old != c {
		old.disconnect(reasonSuperseded(term))
	}
	c.send(&routerproto.SessionStatus{SessionID: s.id, Status: routerproto.SessionCreated})
	r.log.Info("managed session re-attached", "dest", s.dest.B32(), "session", s.id, "term", term, "queued", s.queue.len())
	for _, q := range s.queue.drain() {
		s.forwardLocked(c, q.tunnelID, q.payload)
	}
}

// controlledLocked returns the session id names if c controls it. A
// connection that once controlled a managed session and has been superseded
// by a higher term is refused as stale and counted in the session's
// stale_refused; any other mismatch is simply "no such session".
func (r *Router) controlledLocked(c *client, id uint16) (s *session, stale bool) {
	s = r.sessions[id]
	if s == nil || s.dead {
		return nil, false
	}
	if s.ctrl == c {
		return s, false
	}
	if _, ok := c.attached[id]; ok && s.managed {
		s.staleRefused++
		return nil, true
	}
	return nil, false
}

func (r *Router) reconfigure(c *client, m *routerproto.ReconfigureSession) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, stale := r.controlledLocked(c, m.SessionID)
	if s == nil {
		r.refuseLocked(c, stale, m.SessionID)
		return
	}
	if m.Config == nil || m.Config.Destination == nil || !m.Config.Destination.Equal(s.dest) || m.Config.Verify() != nil {
		c.send(&routerproto.SessionStatus{SessionID: s.id, Status: routerproto.SessionInvalid})
		return
	}
	for k, v := range m.Config.Options {
		if k == OptManaged || k == OptTerm {
			continue // fixed at creation; the term moves only by re-attaching
		}
		s.options[k] = v
	}
	c.send(&routerproto.SessionStatus{SessionID: s.id, Status: routerproto.SessionUpdated})
	if s.pool != nil {
		s.pool.kick()
	}
}

// refuseLocked answers a standard command on a session the connection
// does not control: a connection fenced off by a newer term is refused and
// cut; a data attachment is refused; anything else names no session.
func (r *Router) refuseLocked(c *client, stale bool, id uint16) {
	switch {
	case stale:
		r.log.Warn("command refused: stale term", "session", id)
		c.send(&routerproto.SessionStatus{SessionID: id, Status: routerproto.SessionRefused})
		c.disconnect(reasonStaleTerm)
	case c.dataOf[id]:
		c.send(&routerproto.SessionStatus{SessionID: id, Status: routerproto.SessionRefused})
	default:
		c.send(&routerproto.SessionStatus{SessionID: id, Status: routerproto.SessionInvalid})
	}
}

// notControlLocked is refuseLocked for extension requests: the result code
// to answer with (the stale connection is cut as well).
func (r *Router) notControlLocked(c *client, id uint16, stale bool) (routerproto.Result, string) {
	switch {
	case stale:
		r.log.Warn("extension request refused: stale term", "session", id)
		c.disconnect(reasonStaleTerm)
		return routerproto.ResultNotControl, reasonStaleTerm
	case c.dataOf[id]:
		return routerproto.ResultNotControl, "a data attachment does not control the session"
	}
	return routerproto.ResultNoSession, "no such session"
}

func (r *Router) destroySession(c *client, id uint16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, stale := r.controlledLocked(c, id)
	if s == nil {
		r.refuseLocked(c, stale, id)
		return
	}
	r.destroyLocked(s, "client destroyed it")
	c.send(&routerproto.SessionStatus{SessionID: id, Status: routerproto.SessionDestroyed})
}

// errOffline: a CreateSession signed by a transient key that may not open
// what it asks for (PROTOCOL.md 5.3, offline-signed attachments).
var errOffline = errors.New("router: offline-signed session config refused")

// checkOffline admits a config signed by a transient key (off, already
// verified with the Destination by SessionConfig.Verify) only as a data
// attachment, before off expires at the router's clock, and with the
// Destination's attach grant for off's transient key to this router: a
// frontend's transient key opens nothing but data attachments, and only
// to the router it was granted.
func (r *Router) checkOffline(sc *routerproto.SessionConfig, off *i2p.OfflineSignature, managed, attach bool) error {
	if managed || !attach {
		return fmt.Errorf("%w: only a data attachment (%s=data) may be signed by a transient key (managed %v)", errOffline, routerproto.OptAttach, managed)
	}
	if now := r.now(); off.Expired(now) {
		return fmt.Errorf("%w: offline signature expired at %s (now %s)", errOffline, time.Unix(int64(off.Expires), 0).UTC(), now.UTC())
	}
	router, sig, err := sc.AttachGrant()
	if err != nil {
		return fmt.Errorf("%w: %w", errOffline, err)
	}
	if router != r.cfg.Name {
		return fmt.Errorf("%w: attach grant is for router %q, this is %q", errOffline, router, r.cfg.Name)
	}
	if err := routerproto.VerifyAttachGrant(sc.Destination, router, off, sig); err != nil {
		return fmt.Errorf("%w: %w", errOffline, err)
	}
	return nil
}

// errUnbound: a signed CreateSession that does not name this connection's
// TLS binding, i.e. one made for another connection (a replay).
var errUnbound = errors.New("router: session config not bound to this connection")

// checkBinding requires a managed CreateSession or data attachment on a
// TLS connection to carry, in its signed options, the connection's
// binding (PROTOCOL.md 5.5): a captured one replayed on another
// connection, to this router or another, names another binding. Without
// TLS (loopback only) there is nothing to bind to.
func checkBinding(opts i2p.Mapping, binding []byte) error {
	if binding == nil {
		return nil
	}
	got, err := hex.DecodeString(opts[routerproto.OptBinding])
	if err != nil || subtle.ConstantTimeCompare(got, binding) != 1 {
		return errUnbound
	}
	return nil
}

package router

import (
	"context"
	"errors"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// tunnelInfo converts a tunnel to its protocol description.
func tunnelInfo(t Tunnel) routerproto.TunnelInfo {
	dir := routerproto.Outbound
	if t.Inbound {
		dir = routerproto.Inbound
	}
	return routerproto.TunnelInfo{
		Direction: dir,
		TunnelID:  t.ID,
		Gateway:   t.Gateway,
		Expires:   uint32(t.Expires.Unix()),
		Hops:      t.Hops,
	}
}

// buildResult maps a build error to a TunnelStatus result.
func buildResult(err error) routerproto.Result {
	switch {
	case errors.Is(err, ErrUnsupported):
		return routerproto.ResultUnsupported
	case errors.Is(err, ErrBadBuildRequest):
		return routerproto.ResultBadRequest
	case errors.Is(err, context.DeadlineExceeded):
		return routerproto.ResultTimeout
	default:
		return routerproto.ResultFailed
	}
}

// build runs one tunnel build for session s and records the tunnel. It is
// used by CreateTunnel (managed) and by the pools of unmanaged sessions.
func (r *Router) build(s *session, req BuildRequest) (Tunnel, error) {
	t, err := r.be.BuildTunnel(s.ctx, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if s.ctx.Err() == nil {
			r.buildsFailed++
		}
		return Tunnel{}, err
	}
	r.buildsOK++
	if s.dead {
		return Tunnel{}, context.Canceled
	}
	r.addTunnelLocked(s, t)
	return t, nil
}

// addTunnelLocked records t in s and arms its expiry.
func (r *Router) addTunnelLocked(s *session, t Tunnel) {
	k := tunnelKey{t.Inbound, t.ID}
	lt := &liveTunnel{Tunnel: t}
	lt.timer = r.afterFunc(t.Expires.Sub(r.now()), func() { r.expire(s, k, lt) })
	if old := s.tunnels[k]; old != nil {
		old.timer.Stop()
	}
	s.tunnels[k] = lt
}

// expire drops an expired tunnel and reports it: to a managed session's
// controller as an unsolicited TunnelStatus, to an unmanaged session's pool
// as a reason to rebuild.
func (r *Router) expire(s *session, k tunnelKey, lt *liveTunnel) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.dead || s.tunnels[k] != lt {
		return
	}
	delete(s.tunnels, k)
	if s.pool != nil {
		s.pool.kick()
	}
	if s.ctrl != nil && s.ctrl.ext {
		s.ctrl.send(&routerproto.TunnelStatus{SessionID: s.id, Result: routerproto.ResultExpired, Tunnel: tunnelInfo(lt.Tunnel), Reason: "expired"})
	}
}

// createTunnel serves CreateTunnel: build exactly what was asked, answer
// with TunnelStatus.
func (r *Router) createTunnel(c *client, m *routerproto.CreateTunnel) {
	fail := func(res routerproto.Result, reason string) {
		c.send(&routerproto.TunnelStatus{RequestID: m.RequestID, SessionID: m.SessionID, Result: res,
			Tunnel: routerproto.TunnelInfo{Direction: m.Direction, Hops: m.Hops}, Reason: reason})
	}
	explicit := r.be.Features().ExplicitHops
	r.mu.Lock()
	s, stale := r.controlledLocked(c, m.SessionID)
	if s == nil {
		res, reason := r.notControlLocked(c, m.SessionID, stale)
		fail(res, reason)
		r.mu.Unlock()
		return
	}
	switch {
	case m.Direction != routerproto.Inbound && m.Direction != routerproto.Outbound:
		fail(routerproto.ResultBadRequest, "bad direction")
		r.mu.Unlock()
		return
	case len(m.Hops) > 0 && !explicit:
		fail(routerproto.ResultUnsupported, "explicit hops not supported by this router")
		r.mu.Unlock()
		return
	}
	// Registered under the lock that found s alive, so that destroyLocked
	// answers it if the session dies before the build ends.
	pb := &pendingBuild{c: c, req: m}
	s.builds[pb] = struct{}{}
	r.mu.Unlock()
	req := BuildRequest{Inbound: m.Direction == routerproto.Inbound, HopCount: int(m.HopCount), Pool: s.hash.String()}
	if len(m.Hops) > 0 {
		req.Hops = m.Hops
	}
	r.go_(func() {
		t, err := r.build(s, req)
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := s.builds[pb]; !ok {
			return // answered when the session was destroyed
		}
		delete(s.builds, pb)
		// The answer goes to whoever controls the session now: the request
		// id only means something to the connection that asked.
		to, reqID := s.ctrl, m.RequestID
		if to != c {
			reqID = 0
		}
		if to == nil || s.dead {
			return
		}
		if err != nil {
			r.log.Info("tunnel build failed", "dest", s.dest.B32(), "inbound", req.Inbound, "hops", req.HopCount, "err", err)
			to.send(&routerproto.TunnelStatus{RequestID: reqID, SessionID: s.id, Result: buildResult(err),
				Tunnel: routerproto.TunnelInfo{Direction: m.Direction, Hops: m.Hops}, Reason: err.Error()})
			return
		}
		to.send(&routerproto.TunnelStatus{RequestID: reqID, SessionID: s.id, Result: routerproto.ResultOK, Tunnel: tunnelInfo(t)})
	})
}

// getTunnelPool serves GetTunnelPool: the session's live tunnels.
func (r *Router) getTunnelPool(c *client, m *routerproto.GetTunnelPool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, stale := r.controlledLocked(c, m.SessionID)
	if s == nil && !stale && c.dataOf[m.SessionID] {
		s = r.sessions[m.SessionID] // data attachments may read the pool (to SendVia)
	}
	if s == nil || s.dead {
		res, _ := r.notControlLocked(c, m.SessionID, stale)
		c.send(&routerproto.TunnelList{RequestID: m.RequestID, SessionID: m.SessionID, Result: res})
		return
	}
	now := r.now()
	var ts []Tunnel
	if m.Direction == routerproto.Inbound || m.Direction == routerproto.DirBoth {
		ts = append(ts, s.liveTunnels(true, now)...)
	}
	if m.Direction == routerproto.Outbound || m.Direction == routerproto.DirBoth {
		ts = append(ts, s.liveTunnels(false, now)...)
	}
	list := &routerproto.TunnelList{RequestID: m.RequestID, SessionID: s.id}
	for i, t := range ts {
		if i == routerproto.MaxTunnels {
			break
		}
		list.Tunnels = append(list.Tunnels, tunnelInfo(t))
	}
	c.send(list)
}

// getFastTier serves GetFastTier. It needs no session: the fast tier is the
// router's.
func (r *Router) getFastTier(c *client, m *routerproto.GetFastTier) {
	if !r.be.Features().FastTier {
		c.send(&routerproto.PeerList{RequestID: m.RequestID, Result: routerproto.ResultUnsupported})
		return
	}
	r.go_(func() {
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		defer cancel()
		peers, err := r.be.FastTier(ctx)
		if err != nil {
			r.log.Warn("fast tier", "err", err)
			c.send(&routerproto.PeerList{RequestID: m.RequestID, Result: routerproto.ResultFailed})
			return
		}
		if m.Max > 0 && len(peers) > int(m.Max) {
			peers = peers[:m.Max]
		}
		if len(peers) > routerproto.MaxPeers {
			peers = peers[:routerproto.MaxPeers]
		}
		list := &routerproto.PeerList{RequestID: m.RequestID}
		for _, p := range peers {
			list.Peers = append(list.Peers, routerproto.Peer{
				Hash:        p.Hash,
				Caps:        p.Caps,
				Bandwidth:   p.BandwidthClass,
				Reliability: uint16(min(max(p.Reliability, 0), 1) * 10000),
				LatencyMs:   uint16(min(p.Latency.Milliseconds(), 65535)),
			})
		}
		c.send(list)
	})
}

// ReportTunnel records a tunnel that the backend built on its own for the
// session of dest (an upstream router that builds its pools itself) and
// tells the controller with an unsolicited TunnelStatus. The tunnel
// expires like any other. It reports false if dest has no live session.
func (r *Router) ReportTunnel(dest i2p.Hash, t Tunnel) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byDest[dest]
	if s == nil || s.dead || !t.Expires.After(r.now()) {
		return false
	}
	r.addTunnelLocked(s, t)
	if s.ctrl != nil && s.ctrl.ext {
		s.ctrl.send(&routerproto.TunnelStatus{SessionID: s.id, Result: routerproto.ResultOK, Tunnel: tunnelInfo(t)})
	}
	return true
}

// NeedLeaseSet asks the controller of dest's session for a freshly signed
// LeaseSet (PROTOCOL.md 4.12), newer than the newest one the session holds:
// the backend's upstream asked for one (reason routerproto.NeedRequested),
// or has not published the last one (routerproto.NeedNotStored). deadline
// is how long the backend can wait (0: none). It reports false when nobody
// can be asked (no live session, no controller, or one without
// extensions); the backend then answers with what it has.
func (r *Router) NeedLeaseSet(dest i2p.Hash, reason uint8, deadline time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byDest[dest]
	if s == nil || s.dead || s.ctrl == nil || !s.ctrl.ext {
		return false
	}
	var minPub uint32
	if s.leaseSet != nil {
		minPub = s.leaseSet.Published
	}
	s.ctrl.send(&routerproto.NeedLeaseSet{SessionID: s.id, Reason: reason, DeadlineMs: uint32(max(deadline, 0) / time.Millisecond), MinPublished: minPub})
	return true
}

// ReportInbound replaces the inbound tunnels of dest's session with ts, the
// full list a backend's upstream just announced (a stock router's lease
// request lists all its current inbound tunnels): new ones are recorded
// and announced as ReportTunnel does, known ones keep quiet, and ones the
// upstream no longer lists are dropped and reported `broken`. It reports
// false if dest has no live session.
func (r *Router) ReportInbound(dest i2p.Hash, ts []Tunnel) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byDest[dest]
	if s == nil || s.dead {
		return false
	}
	now := r.now()
	listed := make(map[tunnelKey]bool, len(ts))
	for _, t := range ts {
		t.Inbound = true
		k := tunnelKey{true, t.ID}
		listed[k] = true
		if old := s.tunnels[k]; old != nil && old.Expires.Equal(t.Expires) && old.Gateway == t.Gateway {
			continue
		}
		if !t.Expires.After(now) {
			continue
		}
		r.addTunnelLocked(s, t)
		if s.ctrl != nil && s.ctrl.ext {
			s.ctrl.send(&routerproto.TunnelStatus{SessionID: s.id, Result: routerproto.ResultOK, Tunnel: tunnelInfo(t)})
		}
	}
	for k, lt := range s.tunnels {
		if !k.inbound || listed[k] {
			continue
		}
		lt.timer.Stop()
		delete(s.tunnels, k)
		if s.ctrl != nil && s.ctrl.ext {
			s.ctrl.send(&routerproto.TunnelStatus{SessionID: s.id, Result: routerproto.ResultBroken, Tunnel: tunnelInfo(lt.Tunnel), Reason: "no longer in the upstream's lease request"})
		}
	}
	return true
}

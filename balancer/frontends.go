package balancer

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"

	"github.com/imh-project/imh/frontendproto"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
)

// DefaultFrontendKeyLifetime is how long a frontend's transient signing
// key is certified for. Frontends ask for a successor halfway, so a
// frontend cut off from the cluster stops signing within this time.
const DefaultFrontendKeyLifetime = 30 * time.Minute

// frontendFresh is how old a frontend's last report may be for its router
// to count as served (reports come every second).
const frontendFresh = 5 * time.Second

// FrontendDialer opens the link to the frontend added as name, at addr.
// Like Dialer it must prove the peer is that frontend (TLS) before the
// link carries anything.
type FrontendDialer func(ctx context.Context, name, addr string) (net.Conn, error)

// frontendState is the loop's view of one operator-added frontend.
type frontendState struct {
	fe       fsm.Frontend
	stop     context.CancelFunc
	conn     *frontendproto.Conn // nil while down
	gen      uint64
	sent     []byte // the last Assign sent on conn, encoded
	report   *frontendproto.Report
	reportAt time.Time
	lastErr  error
	granted  map[string]time.Time // by destination: the last key granted
}

// minGrantEvery is how often one frontend may get a key for one
// destination: it asks halfway through a key's life, or at once after a
// leader change; more means a broken or hostile frontend.
const minGrantEvery = time.Second

// Events of frontend links.
type (
	evFrontendUp struct {
		name string
		gen  uint64
		conn *frontendproto.Conn
	}
	evFrontendDown struct {
		name string
		gen  uint64
		err  error
	}
	evFrontendMsg struct {
		name string
		gen  uint64
		msg  frontendproto.Message
	}
)

// reconcileFrontends follows the fsm's frontends.
func (l *loop) reconcileFrontends(st *fsm.State) {
	if l.cfg.DialFrontend == nil {
		return
	}
	seen := make(map[string]bool)
	for _, fe := range st.Frontends() {
		seen[fe.Name] = true
		s := l.frontends[fe.Name]
		if s != nil && s.fe == fe {
			continue
		}
		if s != nil {
			s.stop()
		}
		l.addFrontend(fe)
	}
	for name, s := range l.frontends {
		if !seen[name] {
			l.release(s)
			s.stop()
			delete(l.frontends, name)
			l.log.Info("frontend dropped", "frontend", name)
		}
	}
}

// release tells a removed frontend to serve nothing (an empty Assign), so
// it ends its streams and attachments now instead of when its key ends.
// The write is bounded: the loop waits at most a second.
func (l *loop) release(s *frontendState) {
	if s.conn == nil {
		return
	}
	_ = s.conn.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	if err := s.conn.Send(&frontendproto.Assign{Term: l.term, Leader: l.cfg.NodeName, Frontend: s.fe.Name}); err != nil {
		l.log.Warn("frontend removed but not told", "frontend", s.fe.Name, "err", err)
	}
}

func (l *loop) addFrontend(fe fsm.Frontend) {
	ctx, cancel := context.WithCancel(l.ctx)
	l.frontends[fe.Name] = &frontendState{fe: fe, stop: cancel}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.connectFrontend(ctx, fe.Name, fe.Addr)
	}()
}

// connectFrontend keeps one link to a frontend, reconnecting with backoff.
func (l *loop) connectFrontend(ctx context.Context, name, addr string) {
	failures := 0
	for ctx.Err() == nil {
		if failures > 0 && !sleep(ctx, l.cfg.Reconnect.Delay(failures, l.rnd.Float64())) {
			return
		}
		c, err := l.dialFrontend(ctx, name, addr)
		if err != nil {
			failures++
			l.post(evFrontendDown{name: name, err: err})
			continue
		}
		failures = 1
		gen := l.gens.Add(1)
		stop := context.AfterFunc(ctx, func() { c.Close() })
		l.post(evFrontendUp{name: name, gen: gen, conn: c})
		for {
			m, err := c.Recv()
			if err != nil {
				l.post(evFrontendDown{name: name, gen: gen, err: err})
				break
			}
			l.post(evFrontendMsg{name: name, gen: gen, msg: m})
		}
		stop()
		c.Close()
	}
}

func (l *loop) dialFrontend(ctx context.Context, name, addr string) (*frontendproto.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, l.cfg.OpTimeout)
	defer cancel()
	nc, err := l.cfg.DialFrontend(dctx, name, addr)
	if err != nil {
		return nil, fmt.Errorf("dial frontend %s at %s: %w", name, addr, err)
	}
	c := frontendproto.NewConn(nc)
	c.SetWriteTimeout(l.cfg.OpTimeout) // a frontend that stops reading fails the link
	if err := c.Handshake(dctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("frontend %s at %s: %w", name, addr, err)
	}
	return c, nil
}

// frontendEvent handles the events of frontend links; it reports whether
// a step may decide differently now.
func (l *loop) frontendEvent(ev event) bool {
	switch e := ev.(type) {
	case evFrontendUp:
		s := l.frontends[e.name]
		if s == nil {
			e.conn.Close()
			return false
		}
		s.conn, s.gen, s.sent, s.report, s.lastErr = e.conn, e.gen, nil, nil, nil
		l.log.Info("frontend up", "frontend", e.name, "router", s.fe.Router)
	case evFrontendDown:
		s := l.frontends[e.name]
		if s == nil || (e.gen != 0 && e.gen != s.gen) {
			return false
		}
		if s.conn != nil {
			l.log.Warn("frontend down", "frontend", e.name, "err", e.err)
		}
		s.conn, s.report, s.lastErr = nil, nil, e.err
	case evFrontendMsg:
		s := l.frontends[e.name]
		if s == nil || s.gen != e.gen || s.conn == nil {
			return false
		}
		return l.frontendMessage(s, e.msg)
	}
	return true
}

func (l *loop) frontendMessage(s *frontendState, m frontendproto.Message) bool {
	switch m := m.(type) {
	case *frontendproto.Report:
		was := s.serving()
		s.report, s.reportAt = m, time.Now()
		return !maps.Equal(was, s.serving())
	case *frontendproto.KeyRequest:
		l.grantKey(s, m)
	default:
		l.log.Warn("unexpected message from a frontend", "frontend", s.fe.Name, "type", m.Type())
	}
	return false
}

// serving is the set of destinations the frontend reports attached.
func (s *frontendState) serving() map[string]bool {
	out := make(map[string]bool)
	if s.conn == nil || s.report == nil || time.Since(s.reportAt) > frontendFresh {
		return out
	}
	for _, d := range s.report.Dests {
		if d.Attached {
			out[d.Name] = true
		}
	}
	return out
}

// grantKey certifies a frontend's transient key for a destination it is
// assigned: the destination's offline signature (streaming) and an attach
// grant naming the frontend's router, both expiring together.
func (l *loop) grantKey(s *frontendState, m *frontendproto.KeyRequest) {
	d := l.dests[m.Name]
	conn := s.conn
	if d == nil || !d.settings.Frontends || d.keys == nil {
		l.spawnSend(conn, &frontendproto.KeyRefused{Name: m.Name, Reason: "not a multi-client destination of this cluster"})
		return
	}
	if last, ok := s.granted[m.Name]; ok && time.Since(last) < minGrantEvery {
		l.spawnSend(conn, &frontendproto.KeyRefused{Name: m.Name, Reason: "too many key requests"})
		return
	}
	lifetime := l.cfg.FrontendKeyLifetime
	if lifetime <= 0 {
		lifetime = DefaultFrontendKeyLifetime
	}
	expires := uint32(l.now().Add(lifetime).Unix()) // judged by the routers and the network
	off, err := d.keys.SignOffline(expires, m.TransientType, m.TransientKey)
	if err != nil {
		l.spawnSend(conn, &frontendproto.KeyRefused{Name: m.Name, Reason: err.Error()})
		return
	}
	grant, err := routerproto.SignAttachGrant(d.keys, s.fe.Router, off)
	if err != nil {
		l.spawnSend(conn, &frontendproto.KeyRefused{Name: m.Name, Reason: err.Error()})
		return
	}
	if s.granted == nil {
		s.granted = make(map[string]time.Time)
	}
	s.granted[m.Name] = time.Now()
	l.log.Info("transient key granted", "frontend", s.fe.Name, "dest", d.name, "router", s.fe.Router, "expires", time.Unix(int64(expires), 0).UTC().Format(time.RFC3339))
	l.spawnSend(conn, &frontendproto.KeyGrant{Name: m.Name, Offline: off, Router: s.fe.Router, Grant: grant})
}

// spawnSend writes to a frontend off the loop goroutine.
func (l *loop) spawnSend(c *frontendproto.Conn, m frontendproto.Message) {
	l.spawn(func(context.Context) event {
		if err := c.Send(m); err != nil {
			c.Close()
		}
		return nil
	})
}

// assignFrontends sends each frontend that is up the destinations it must
// serve, when that changed: the multi-client destinations with a TCP
// service, through its router, with the policy state.
func (l *loop) assignFrontends() {
	for _, name := range slices.Sorted(maps.Keys(l.frontends)) {
		s := l.frontends[name]
		if s.conn == nil {
			continue
		}
		a := &frontendproto.Assign{Term: l.term, Leader: l.cfg.NodeName, Frontend: name}
		for _, d := range l.sortedDests() {
			if !d.settings.Frontends || d.settings.Service != fsm.ServiceTCP || d.keys == nil {
				continue
			}
			a.Assignments = append(a.Assignments, frontendproto.Assignment{
				Name: d.name, Destination: d.keys.Destination(), Router: s.fe.Router, Service: d.settings.ServiceAddr,
				Policy: wirePolicy(d.settings.Policy), Active: d.settings.Policy != fsm.PolicyFailover || d.active == s.fe.Router,
			})
		}
		b, err := frontendproto.Marshal(a)
		if err != nil {
			l.log.Error("encode assignment", "frontend", name, "err", err)
			continue
		}
		if bytes.Equal(b, s.sent) {
			continue
		}
		s.sent = b
		l.spawnSend(s.conn, a)
	}
}

// frontendServes reports whether router's leases may carry d: always in
// single-client mode; in multi-client mode only while the router's
// frontend reports its data attachment for d (else nobody would answer).
func (l *loop) frontendServes(d *destState, router string) bool {
	if !d.settings.Frontends {
		return true
	}
	for _, s := range l.frontends {
		if s.fe.Router == router && s.serving()[d.name] {
			return true
		}
	}
	return false
}

// frontendsLive is the status view of the frontends.
func (l *loop) frontendsLive() map[string]status.FrontendLive {
	out := make(map[string]status.FrontendLive, len(l.frontends))
	for name, s := range l.frontends {
		fl := status.FrontendLive{State: status.RouterDown, Router: s.fe.Router}
		if s.lastErr != nil {
			fl.Error = s.lastErr.Error()
		}
		if s.conn != nil {
			fl.State = status.RouterUp
		}
		if s.report != nil {
			for _, d := range s.report.Dests {
				var expires time.Time // zero: the frontend holds no key
				if d.KeyExpires != 0 {
					expires = time.Unix(int64(d.KeyExpires), 0).UTC()
				}
				fl.Destinations = append(fl.Destinations, status.FrontendDestLive{
					Name: d.Name, Attached: d.Attached, BackendUp: d.BackendUp, KeyExpires: expires,
					Open: uint64(d.Open), Accepted: d.Accepted, Refused: d.Refused,
					BytesIn: d.BytesIn, BytesOut: d.BytesOut, Errors: d.Errors, LastError: d.LastError,
				})
			}
		}
		out[name] = fl
	}
	return out
}

// wirePolicy is p as frontendproto numbers it.
func wirePolicy(p fsm.Policy) uint8 {
	if p == fsm.PolicyFailover {
		return frontendproto.PolicyFailover
	}
	return frontendproto.PolicySpread
}

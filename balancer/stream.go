package balancer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
	"github.com/imh-project/imh/streaming"
)

// maxPeerRoutes bounds the remote-peer → router table of a stream service;
// when full it starts over (a peer whose entry is gone is answered through
// the active router, which is right under failover).
const maxPeerRoutes = 4096

// errNoRoute reports a streaming packet that no router can carry now.
var errNoRoute = errors.New("balancer: no router with a ready session")

// streamService terminates a destination's I2P streams in the leader
// (single-client mode) and bridges each to a TCP connection to the
// destination's backend, the way an I2P server tunnel does. A stream's
// packets are answered through the router its peer's packets arrive on:
// only that router holds the peer's end-to-end session.
type streamService struct {
	dest    string
	backend string
	mux     *streaming.Mux
	log     *slog.Logger
	routes  routeTable
	bridge  streaming.BridgeStats
	sendErr streaming.Counter // packets no router took
	cancel  context.CancelFunc
	done    chan struct{}
}

// route is one router session a stream service can send through.
type route struct {
	router  string
	conn    RouterConn
	session uint16
}

// routeTable is what the loop tells a stream service about its routers;
// the service's goroutines read it under mu.
type routeTable struct {
	mu     sync.Mutex
	routes map[string]route // by router name: up with a ready session
	order  []string         // router names, sorted
	active string           // failover: the router whose leases are published
	peers  map[i2p.Hash]string
}

// set replaces the routes and the active router.
func (t *routeTable) set(routes map[string]route, order []string, active string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.routes, t.order, t.active = routes, order, active
}

// learn records the router a peer's packets arrive through.
func (t *routeTable) learn(peer i2p.Hash, router string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.peers == nil || len(t.peers) >= maxPeerRoutes {
		t.peers = make(map[i2p.Hash]string)
	}
	t.peers[peer] = router
}

// pick chooses the router to answer peer through: the one its packets
// came through, else the active router, else the first that is up.
func (t *routeTable) pick(peer i2p.Hash) (route, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, name := range []string{t.peers[peer], t.active} {
		if r, ok := t.routes[name]; ok && name != "" {
			return r, true
		}
	}
	for _, name := range t.order {
		if r, ok := t.routes[name]; ok {
			return r, true
		}
	}
	return route{}, false
}

// newStreamService starts the service of d; it runs until ctx ends or
// close is called.
func newStreamService(ctx context.Context, d *destState, log *slog.Logger) (*streamService, error) {
	id, err := streaming.NewIdentity(d.keys)
	if err != nil {
		return nil, fmt.Errorf("stream service of %s: %w", d.name, err)
	}
	svc := &streamService{dest: d.name, backend: d.settings.ServiceAddr, log: log, done: make(chan struct{})}
	mux, err := streaming.NewMux(streaming.Config{Identity: id, Transport: svc, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("stream service of %s: %w", d.name, err)
	}
	ln, err := mux.Listen(0)
	if err != nil {
		mux.Close()
		return nil, fmt.Errorf("stream service of %s: %w", d.name, err)
	}
	svc.mux = mux
	ctx, svc.cancel = context.WithCancel(ctx)
	go func() {
		<-ctx.Done()
		mux.Close()
	}()
	br := &streaming.Bridge{Backend: svc.backend, Log: log, Stats: &svc.bridge}
	go func() {
		defer close(svc.done)
		br.Serve(ctx, ln)
	}()
	return svc, nil
}

// close stops accepting, ends every stream and waits for the acceptor.
func (s *streamService) close() {
	s.cancel()
	<-s.done
}

// SendPacket implements streaming.Transport through the routers.
func (s *streamService) SendPacket(ctx context.Context, to *i2p.Destination, srcPort, dstPort uint16, packet []byte) error {
	payload, err := streaming.WrapPacket(srcPort, dstPort, packet)
	if err != nil {
		return fmt.Errorf("stream packet to %s: %w", to.B32(), err)
	}
	r, ok := s.routes.pick(to.Hash())
	if !ok {
		s.sendErr.Add(1)
		return fmt.Errorf("stream packet to %s: %w", to.B32(), errNoRoute)
	}
	send := &routerproto.SendMessageExpires{
		SendMessage: routerproto.SendMessage{SessionID: r.session, Destination: to, Payload: payload},
		Expiration:  uint64(routerTime(r.conn).Add(ReplyTTL).UnixMilli()), // by the router's clock
	}
	if err := r.conn.Send(ctx, send); err != nil {
		s.sendErr.Add(1)
		return fmt.Errorf("stream packet to %s via %s: %w", to.B32(), r.router, err)
	}
	return nil
}

// deliver hands a protocol-6 payload that arrived through router to the
// streams, learning which router the peer uses when the packet names it.
func (s *streamService) deliver(router string, p i2p.Payload) {
	if pk, err := streaming.ParsePacket(p.Data); err == nil && pk.From != nil {
		s.routes.learn(pk.From.Hash(), router)
	}
	s.mux.HandlePacket(p.SrcPort, p.DstPort, p.Data)
}

// live returns the figures for the status view.
func (s *streamService) live() status.StreamsLive {
	ms := s.mux.Stats()
	return status.StreamsLive{
		Open: ms.OpenStreams, Accepted: ms.Accepted, Refused: ms.Refused + s.bridge.Refused.Load(),
		BytesIn: s.bridge.BytesIn.Load(), BytesOut: s.bridge.BytesOut.Load(), Resends: ms.Resends,
		SendFailures: s.sendErr.Load(),
	}
}

// syncService starts, restarts or stops d's stream service to match its
// settings; the loop calls it whenever a destination is opened or changed.
func (l *loop) syncService(d *destState) {
	// In multi-client mode the frontends terminate the streams.
	want := d.settings.Service == fsm.ServiceTCP && !d.settings.Frontends
	if d.svc != nil && (!want || d.svc.backend != d.settings.ServiceAddr) {
		d.svc.close()
		d.svc = nil
	}
	if !want || d.svc != nil {
		return
	}
	svc, err := newStreamService(l.ctx, d, l.log.With("dest", d.name, "service", d.settings.ServiceSpec()))
	if err != nil {
		l.log.Error("start stream service", "dest", d.name, "err", err)
		return
	}
	l.log.Info("stream service started", "dest", d.name, "backend", d.settings.ServiceAddr)
	d.svc = svc
}

// stopService ends d's stream service, if any.
func (d *destState) stopService() {
	if d.svc != nil {
		d.svc.close()
		d.svc = nil
	}
}

// updateRoutes tells d's stream service which router sessions it may send
// through and which router is active.
func (l *loop) updateRoutes(d *destState) {
	if d.svc == nil {
		return
	}
	routes := make(map[string]route)
	for _, name := range l.order {
		r, s := l.routers[name], d.sessions[name]
		if r.up() && s != nil && s.ready && s.gen == r.gen {
			routes[name] = route{router: name, conn: r.conn, session: s.id}
		}
	}
	d.svc.routes.set(routes, l.order, d.active)
}

// Package router is the router side of imh's router protocol: it owns the
// sessions, tunnels and LeaseSet publication of one router and serves them to
// clients over routerproto. Two kinds of session exist (PROTOCOL.md):
//
//   - Unmanaged sessions behave like a stock I2P router's: they build their
//     own tunnel pools from the inbound/outbound options, ask the client for
//     a LeaseSet with RequestVariableLeaseSet, publish what it answers, and
//     die with their connection.
//   - Managed sessions (imh.managed=true) are driven by a balancer: they
//     build exactly the tunnels CreateTunnel asks for, publish exactly the
//     LeaseSets CreateLeaseSet2 hands them, are controlled by one connection
//     at a time fenced by imh.term, and outlive the loss of that connection
//     for a grace period with their tunnels kept and payloads queued.
//
// The network itself is a Backend: the simulated network (simnetbackend.go)
// or a stock I2P router reached over I2CP (package router/i2cpup).
package router

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// Router is one router: its sessions over one Backend. Create it with New;
// the routerproto Server calls it for every client message (it implements
// the server's Handler); Close ends every session.
type Router struct {
	cfg   Config
	be    Backend
	log   *slog.Logger
	clock Clock

	ctx      context.Context // ends when the router closes; parent of sessions
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	wgMu     sync.Mutex // orders go_ before Close's Wait
	wgClosed bool

	mu           sync.Mutex
	sessions     map[uint16]*session
	byDest       map[i2p.Hash]*session
	clients      map[*client]struct{}
	byConn       map[*routerproto.ServerConn]*client
	buildsOK     uint64
	buildsFailed uint64
	delivered    uint64
	refused      uint64 // deliveries refused (no session / dead tunnel)
	sentLocal    uint64 // client messages reported sent without a network path
	closed       bool
}

// New builds a router over be and installs its delivery handler.
func New(cfg Config, be Backend) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if be == nil {
		return nil, fmt.Errorf("%w: no backend", ErrBadConfig)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = RealClock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Router{
		cfg:      cfg,
		be:       be,
		clock:    clock,
		log:      log.With("component", "router", "router", cfg.Name),
		ctx:      ctx,
		cancel:   cancel,
		sessions: make(map[uint16]*session),
		byDest:   make(map[i2p.Hash]*session),
		clients:  make(map[*client]struct{}),
		byConn:   make(map[*routerproto.ServerConn]*client),
	}
	be.SetDeliveryHandler(r.deliver)
	if a, ok := be.(RouterAttacher); ok {
		a.AttachRouter(r)
	}
	return r, nil
}

// Name is the router's configured name.
func (r *Router) Name() string { return r.cfg.Name }

// Backend returns the network the router runs on.
func (r *Router) Backend() Backend { return r.be }

// Close destroys every session, disconnects every client and waits for the
// router's goroutines. The backend is not closed: its owner closes it.
func (r *Router) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	for _, s := range r.sessions {
		r.destroyLocked(s, "router closing")
	}
	clients := make([]*client, 0, len(r.clients))
	for c := range r.clients {
		clients = append(clients, c)
	}
	r.mu.Unlock()
	for _, c := range clients {
		c.disconnect("router shutting down")
	}
	r.cancel()
	r.wgMu.Lock()
	r.wgClosed = true
	r.wgMu.Unlock()
	r.wg.Wait()
	return nil
}

// go_ runs f on a goroutine the router waits for on Close. Once Close is
// waiting, nothing new starts.
func (r *Router) go_(f func()) {
	r.wgMu.Lock()
	defer r.wgMu.Unlock()
	if r.wgClosed {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// randomIDTries is how many random session ids newSessionIDLocked draws
// before it scans for a free one.
const randomIDTries = 32

// newSessionIDLocked picks a random unused session id (never 0xFFFF, the
// "no session" value), as i2pd does: ids do not reveal how many sessions the
// router has served. It makes a bounded number of random draws, then scans
// the id space once from a random start; false: every id is in use
// (MaxSessions keeps the router below that).
func (r *Router) newSessionIDLocked() (uint16, bool) {
	var b [2]byte
	draw := func() uint16 {
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("router: crypto/rand: %v", err))
		}
		return binary.BigEndian.Uint16(b[:])
	}
	for range randomIDTries {
		id := draw()
		if _, used := r.sessions[id]; !used && id != routerproto.NoSession {
			return id, true
		}
	}
	start := draw()
	for i := range int(routerproto.NoSession) + 1 {
		id := start + uint16(i)
		if _, used := r.sessions[id]; !used && id != routerproto.NoSession {
			return id, true
		}
	}
	return 0, false
}

// deliver is the backend's delivery handler: a message reached inbound
// tunnel d.TunnelID for d.Dest. It is accepted iff a live session for that
// destination holds that live inbound tunnel (or, from a backend whose
// upstream builds the tunnels, the tunnel is unknown: id 0); it then goes
// to the session's controller, or into its queue while the controller is
// away.
func (r *Router) deliver(d Delivery) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byDest[d.Dest]
	unknownOK := d.TunnelID == 0 && r.be.Features().UpstreamTunnels
	if s == nil || s.dead || !unknownOK && !s.hasLiveTunnel(true, d.TunnelID, r.now()) {
		r.refused++
		return false
	}
	r.delivered++
	s.received++
	if to := s.receiverLocked(); to != nil {
		s.forwardLocked(to, d.TunnelID, d.Payload)
		return true
	}
	if s.queue.push(queued{tunnelID: d.TunnelID, payload: d.Payload}) {
		r.log.Warn("payload queue full, dropped oldest", "dest", s.dest.B32(), "dropped", s.queue.dropped)
	}
	return true
}

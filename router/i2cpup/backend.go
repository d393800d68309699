package i2cpup

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/routerproto"
)

// Backend is the router.Backend of `imh router serve --upstream`: a stock
// I2P router reached over standard I2CP. It holds one Session per
// Destination, opened when the balancer creates its session on the imh
// router (router.SessionHooks, with the config exactly as the balancer
// signed it) and closed only when that session is destroyed, so a
// balancer failover (the imh session's grace period and re-attach) never
// touches the upstream session.
//
// What a stock router cannot do is announced, not faked: no fast tier, no
// tunnel builds on request, no explicit hops, no SendVia
// (Features.UpstreamTunnels); tunnels are the upstream's own, reported to
// the router (Router.ReportInbound) from each lease request, after which
// the balancer is asked for a LeaseSet (Router.NeedLeaseSet). LeaseSets go
// upstream through the session (router.LeaseSetPublisher) with their
// private keys; while a lookup of the Destination through the upstream
// fails, the balancer is asked for a freshly signed one (the 2.45.1
// publish stall: only a new `published` makes i2pd try again).
//
// When the upstream session is lost (the upstream router died or dropped
// the connection) while the imh session lives on, every inbound tunnel of
// the Destination is reported broken at once (Router.ReportInbound with
// none), so the balancer drops their leases, and the upstream session is
// reopened in the background with backoff (Config.ReopenDelay, doubling up
// to MaxReopenDelay) with the newest SessionConfig the balancer signed,
// until it succeeds, the imh session ends or the backend closes. i2pd does
// not check the SessionConfig's date, so the kept signature serves; a Java
// router (±30 s) would refuse it, and the router protocol has no message to
// ask the controller for a freshly signed one.
//
// Known limits: a stock router does not say through which inbound tunnel a
// payload came, so deliveries carry TunnelID 0 (unknown); and whether a
// LeaseSet is published is judged by a lookup of the Destination through
// the upstream, which cannot tell one version of the LeaseSet from another.
type Backend struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	sessions map[i2p.Hash]*Session
	dests    map[i2p.Hash]*i2p.Destination // lookup cache for Send
	stallAt  map[i2p.Hash]time.Time        // last fresh LeaseSet asked for (publish stall)
	deliver  func(router.Delivery) bool
	rt       *router.Router
	closed   bool
	configs  map[i2p.Hash]*routerproto.SessionConfig // newest signed, per live imh session
	reopens  map[i2p.Hash]*reopener                  // background reopens running

	ctx    context.Context // ends with Close; parent of every reopen
	cancel context.CancelFunc
	wg     sync.WaitGroup // reopen goroutines
}

// reopener is one background reopen of a lost upstream session.
type reopener struct{ cancel context.CancelFunc }

var (
	_ router.Backend           = (*Backend)(nil)
	_ router.SessionHooks      = (*Backend)(nil)
	_ router.LeaseSetPublisher = (*Backend)(nil)
)

// NewBackend returns a backend for the upstream cfg.Addr. Nothing is
// dialled until the first session.
func NewBackend(cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Backend{
		cfg:      cfg,
		configs:  make(map[i2p.Hash]*routerproto.SessionConfig),
		reopens:  make(map[i2p.Hash]*reopener),
		ctx:      ctx,
		cancel:   cancel,
		log:      log.With("component", "i2cpup", "upstream", cfg.Addr),
		sessions: make(map[i2p.Hash]*Session),
		dests:    make(map[i2p.Hash]*i2p.Destination),
		stallAt:  make(map[i2p.Hash]time.Time),
	}, nil
}

// AttachRouter implements router.RouterAttacher: router.New calls it so
// that the backend can report the upstream's tunnels to r and ask for
// LeaseSets.
func (b *Backend) AttachRouter(r *router.Router) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rt = r
}

// Kind implements router.Backend.
func (b *Backend) Kind() string { return "i2cp" }

// Hash implements router.Backend: the upstream's identity is not shown.
func (b *Backend) Hash() i2p.Hash { return i2p.Hash{} }

// Features implements router.Backend.
func (b *Backend) Features() router.Features {
	return router.Features{Send: true, UpstreamTunnels: true}
}

// router returns the attached router (nil before AttachRouter).
func (b *Backend) router() *router.Router {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rt
}

// FastTier implements router.Backend: a stock router does not share it.
func (b *Backend) FastTier(context.Context) ([]router.Peer, error) {
	return nil, router.ErrUnsupported
}

// BuildTunnel implements router.Backend: a stock router builds its pools
// from the session options; the tunnels are reported as they come.
func (b *Backend) BuildTunnel(context.Context, router.BuildRequest) (router.Tunnel, error) {
	return router.Tunnel{}, router.ErrUnsupported
}

// Publish implements router.Backend; the router uses PublishLeaseSet.
func (b *Backend) Publish(context.Context, []byte) error { return router.ErrUnsupported }

// Lookup implements router.Backend: I2CP lookups return Destinations, not
// LeaseSet bytes.
func (b *Backend) Lookup(context.Context, i2p.Hash) ([]byte, error) {
	return nil, router.ErrUnsupported
}

// SetDeliveryHandler implements router.Backend.
func (b *Backend) SetDeliveryHandler(h func(router.Delivery) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliver = h
}

// SessionOpened implements router.SessionHooks: it opens the upstream
// session with the config as signed, and keeps the config (the newest one
// of a re-attach too) to reopen a lost upstream session with.
func (b *Backend) SessionOpened(ctx context.Context, si router.SessionInfo) error {
	if si.Config == nil {
		return fmt.Errorf("i2cpup: no signed session config for %s", si.Dest.B32())
	}
	hash := si.Dest.Hash()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.configs[hash] = si.Config
	old := b.sessions[hash]
	b.mu.Unlock()
	if old != nil && !old.ended() {
		return nil // the upstream session outlives imh re-attaches
	}
	s, err := Open(ctx, b.cfg, si.Config, b.hooks(hash))
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		go s.Close()
		return ErrClosed
	}
	if cur := b.sessions[hash]; cur != nil && cur != old && !cur.ended() {
		go s.Close() // a background reopen was quicker
		return nil
	}
	b.sessions[hash] = s
	return nil
}

// SessionClosed implements router.SessionHooks: the imh session is gone,
// so is the upstream one, and any reopen of it stops.
func (b *Backend) SessionClosed(dest i2p.Hash) {
	b.mu.Lock()
	s := b.sessions[dest]
	delete(b.sessions, dest)
	delete(b.stallAt, dest)
	delete(b.configs, dest)
	if ro := b.reopens[dest]; ro != nil {
		ro.cancel()
		delete(b.reopens, dest)
	}
	b.mu.Unlock()
	if s != nil {
		_ = s.Close()
	}
}

// lost handles the loss of dest's upstream session: unless a newer session
// has replaced it, its inbound tunnels are reported broken (the balancer
// drops their leases now rather than when they expire) and a background
// reopen starts.
func (b *Backend) lost(dest i2p.Hash, err error) {
	b.mu.Lock()
	cur := b.sessions[dest]
	b.mu.Unlock()
	if cur != nil && !cur.ended() {
		return // a stale session; the current one is live
	}
	b.log.Warn("upstream session lost; its inbound tunnels are reported broken", "dest", dest.B32(), "err", err)
	if rt := b.router(); rt != nil {
		rt.ReportInbound(dest, nil)
	}
	b.startReopen(dest)
}

// startReopen runs reopen for dest in the background unless one runs, the
// imh session is gone or the backend is closed.
func (b *Backend) startReopen(dest i2p.Hash) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.configs[dest] == nil || b.reopens[dest] != nil {
		return
	}
	ctx, cancel := context.WithCancel(b.ctx)
	ro := &reopener{cancel: cancel}
	b.reopens[dest] = ro
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer cancel()
		b.reopen(ctx, dest)
		b.mu.Lock()
		if b.reopens[dest] == ro {
			delete(b.reopens, dest)
		}
		b.mu.Unlock()
	}()
}

// MaxReopenDelay caps the backoff between attempts to reopen a lost
// upstream session: a router that is back is found within this.
const MaxReopenDelay = 30 * time.Second

// reopen tries to open dest's upstream session again, with backoff, until
// it succeeds, a live session exists, the imh session is gone or ctx ends.
func (b *Backend) reopen(ctx context.Context, dest i2p.Hash) {
	delay := b.cfg.ReopenDelay
	if delay <= 0 {
		delay = DefaultReopenDelay
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		sc, cur := b.configs[dest], b.sessions[dest]
		b.mu.Unlock()
		if sc == nil || (cur != nil && !cur.ended()) {
			return
		}
		var seed *routerproto.CreateLeaseSet2
		if cur != nil {
			seed = cur.Newest() // answers the new session's first request at once
		}
		octx, cancel := context.WithTimeout(ctx, MaxReopenDelay)
		s, err := open(octx, b.cfg, sc, b.hooks(dest), seed)
		cancel()
		if err != nil {
			b.log.Info("upstream session reopen failed", "dest", dest.B32(), "attempt", attempt, "retry_in", delay, "err", err)
			delay = min(2*delay, MaxReopenDelay)
			t.Reset(delay)
			continue
		}
		if !b.install(ctx, dest, s) {
			_ = s.Close()
			return
		}
		b.log.Info("upstream session reopened", "dest", dest.B32(), "attempt", attempt)
		return
	}
}

// install makes s the upstream session of dest unless the reopen is no
// longer wanted or another live session got there first.
func (b *Backend) install(ctx context.Context, dest i2p.Hash, s *Session) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || ctx.Err() != nil || b.configs[dest] == nil {
		return false
	}
	if cur := b.sessions[dest]; cur != nil && !cur.ended() {
		return false
	}
	b.sessions[dest] = s
	delete(b.stallAt, dest)
	return true
}

// hooks connect a Session to the router: tunnels from lease requests,
// payloads to the delivery handler.
func (b *Backend) hooks(dest i2p.Hash) Hooks {
	return Hooks{
		LeaseRequest: func(leases []i2p.Lease, deadline time.Time) {
			rt := b.router()
			if rt == nil {
				return
			}
			ts := make([]router.Tunnel, 0, len(leases))
			for _, l := range leases {
				ts = append(ts, router.Tunnel{
					ID: l.TunnelID, Inbound: true, Gateway: l.Gateway,
					Expires: time.UnixMilli(int64(l.EndMs)), Created: time.Now(),
				})
			}
			rt.ReportInbound(dest, ts)
			if !rt.NeedLeaseSet(dest, routerproto.NeedRequested, time.Until(deadline)) {
				b.log.Info("lease request: no controller to ask; the newest leaseset will answer", "dest", dest.B32())
			}
		},
		Payload: func(m *routerproto.MessagePayload) {
			b.mu.Lock()
			h := b.deliver
			b.mu.Unlock()
			if h != nil {
				h(router.Delivery{Dest: dest, Payload: m.Payload})
			}
		},
		Closed: func(err error) {
			if err != nil {
				b.lost(dest, err)
			}
		},
	}
}

// session returns the live upstream session of dest.
func (b *Backend) session(dest i2p.Hash) (*Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sessions[dest]
	if s == nil {
		return nil, fmt.Errorf("i2cpup: no upstream session for %s: %w", dest.B32(), ErrClosed)
	}
	return s, nil
}

// PublishLeaseSet implements router.LeaseSetPublisher: the LeaseSet goes
// upstream with its keys (once per published time; the router calls again
// to retry), and the call returns nil once a lookup of the Destination
// through the upstream succeeds.
func (b *Backend) PublishLeaseSet(ctx context.Context, dest i2p.Hash, m *routerproto.CreateLeaseSet2) error {
	s, err := b.session(dest)
	if err != nil {
		return err
	}
	if err := s.SetLeaseSet(m.LeaseSet, m.PrivateKeys); err != nil && !isSame(s, m) {
		return err
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	_, found, err := s.Lookup(ctx, dest, timeout)
	if err != nil {
		return err
	}
	if !found {
		// The 2.45.1 publish stall: i2pd does not retry a failed publish
		// of the same LeaseSet; a fresh one makes it try again.
		if rt := b.router(); rt != nil && b.stallDue(dest) {
			rt.NeedLeaseSet(dest, routerproto.NeedNotStored, 0)
		}
		return fmt.Errorf("i2cpup: %s not found through the upstream yet", dest.B32())
	}
	return nil
}

// stallDue reports whether a fresh LeaseSet may be asked for dest now
// (at most one per Config.StallRetry), and notes the ask.
func (b *Backend) stallDue(dest i2p.Hash) bool {
	every := b.cfg.StallRetry
	if every <= 0 {
		every = DefaultStallRetry
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if last, ok := b.stallAt[dest]; ok && now.Sub(last) < every {
		return false
	}
	b.stallAt[dest] = now
	return true
}

// isSame reports whether m is the LeaseSet s forwarded last (a retry).
func isSame(s *Session, m *routerproto.CreateLeaseSet2) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newest != nil && m.LeaseSet != nil && s.newest.LeaseSet.Published == m.LeaseSet.Published
}

// Send implements router.Backend: the message leaves through the sender's
// upstream session (the upstream picks the outbound tunnel). The target's
// Destination is the one the client named, or else comes from a lookup
// through the upstream (cached).
func (b *Backend) Send(ctx context.Context, out router.Outbound) error {
	s, err := b.session(out.From)
	if err != nil {
		return err
	}
	to := out.ToDest
	if to == nil {
		b.mu.Lock()
		to = b.dests[out.To]
		b.mu.Unlock()
	}
	if to == nil {
		d, found, err := s.Lookup(ctx, out.To, 10*time.Second)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("i2cpup: send to %s: %w", out.To.B32(), router.ErrNotFound)
		}
		to = d
		b.mu.Lock()
		b.dests[out.To] = d
		b.mu.Unlock()
	}
	return s.Send(routerproto.SendMessageExpires{
		SendMessage: routerproto.SendMessage{Destination: to, Payload: out.Payload},
		Expiration:  uint64(time.Now().Add(time.Minute).UnixMilli()),
	})
}

// Close implements router.Backend: every upstream session and every
// reopen ends.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	b.cancel()
	ss := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		ss = append(ss, s)
	}
	b.sessions = map[i2p.Hash]*Session{}
	b.mu.Unlock()
	for _, s := range ss {
		_ = s.Close()
	}
	b.wg.Wait()
	return nil
}

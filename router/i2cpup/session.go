// Package i2cpup puts imh in front of a stock I2P router reached over
// standard I2CP (issue 10 item 1, `imh router serve --upstream`). This file
// holds the upstream half: Session, one standard I2CP session of one
// Destination on the upstream router, on a TCP connection of its own (an
// i2pd I2CP session dies with its connection, so sessions must not share
// one).
//
// The balancer signs everything: the SessionConfig (with the upstream's
// tunnel options inside) and every LeaseSet2; a Session forwards them
// unchanged. What a Session adds is timing that a stock router imposes:
//
//   - i2pd 2.45.1 stops a session whose lease request is not answered with
//     CreateLeaseSet2 within 10 s (TESTNET.md), and while a request is
//     unanswered it drops every change of its inbound tunnels without
//     asking again (I2CPDestination::PostCreateNewLeaseSet returns at once
//     while m_IsCreatingLeaseSet is set; only the next tunnel event makes
//     it ask, docs/policies.md). So a Session answers each lease request at
//     once with the newest LeaseSet it holds, if that one is still within
//     the router's time bounds (i2pd does not compare the leases with its
//     tunnels): the window in which i2pd drops changes shrinks from the
//     balancer's round trip to one loopback round trip. It still reports
//     the request (the upstream's current inbound tunnels) through
//     Hooks.LeaseRequest so the balancer signs a LeaseSet that carries
//     them; that one goes upstream unsolicited, which i2pd takes as well.
//     With nothing to answer with (a new Destination's first request) it
//     waits for the balancer's LeaseSet up to Config.AnswerWithin.
//   - The 2.45.1 publish stall: a LeaseSet handed over before the
//     destination's outbound tunnels exist is never published. SetLeaseSet
//     may be called at any time with a newer LeaseSet and forwards it at
//     once, which is the workaround (re-send with a fresh published until
//     a lookup succeeds; see Lookup).
package i2cpup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// Errors callers test for.
var (
	// ErrClosed reports a call on a session that has ended.
	ErrClosed = errors.New("i2cpup: session closed")
	// ErrStaleLeaseSet reports a LeaseSet whose published time is not newer
	// than the last one forwarded (floodfills would ignore it).
	ErrStaleLeaseSet = errors.New("i2cpup: leaseset not newer than the last one")
	// ErrWrongDestination reports a LeaseSet of another Destination.
	ErrWrongDestination = errors.New("i2cpup: leaseset of another destination")
)

// Config configures the connection of a Session to the upstream router.
type Config struct {
	// Addr is the upstream's I2CP address, host:port.
	Addr string
	// Username and Password are the upstream's I2CP credentials, if it
	// requires them.
	Username, Password string
	// AnswerWithin is how long after a lease request the Session waits
	// for a fresh LeaseSet before answering with the newest it has. It
	// must stay below the upstream's 10 s limit (default 7 s).
	AnswerWithin time.Duration
	// Logger gets session events; nil discards.
	Logger *slog.Logger
	// StallRetry is how often, at most, the balancer is asked for a fresh
	// LeaseSet while the upstream has not published the last one (the
	// 2.45.1 publish stall; default 5 s).
	StallRetry time.Duration
	// ReopenDelay is the first wait before reopening a lost upstream
	// session (Backend); it doubles per failed attempt up to
	// MaxReopenDelay (default 1 s).
	ReopenDelay time.Duration
	// Dial opens the TCP connection (nil: a net.Dialer). Tests use it to
	// reach a router inside a network namespace (i2pdnet.Net.DialContext).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultAnswerWithin leaves 3 s of i2pd's 10 s lease request deadline for
// the forward and the upstream's own processing.
const DefaultAnswerWithin = 7 * time.Second

// DefaultStallRetry spaces the fresh LeaseSets asked for while the
// upstream's publication stalls: a LeaseSet a second would make the
// balancer and the floodfills churn.
const DefaultStallRetry = 5 * time.Second

// DefaultReopenDelay is the first wait before reopening a lost upstream
// session: long enough not to hammer a router that is restarting.
const DefaultReopenDelay = time.Second

// upstreamDeadline is i2pd's limit for answering a lease request.
const upstreamDeadline = 10 * time.Second

// Validate reports a Config no session can be opened with.
func (c Config) Validate() error {
	if c.Addr == "" {
		return errors.New("i2cpup: no upstream address")
	}
	if c.AnswerWithin < 0 || c.AnswerWithin >= upstreamDeadline {
		return fmt.Errorf("i2cpup: answer within %v, want 0 (default) .. %v", c.AnswerWithin, upstreamDeadline)
	}
	return nil
}

// Hooks receive what the upstream sends for the session. They are called
// from the session's event goroutine, one at a time and in arrival order,
// and must return quickly. Nil hooks are skipped.
type Hooks struct {
	// LeaseRequest reports the upstream's RequestVariableLeaseSet: the
	// leases (inbound tunnels) the session's next LeaseSet should carry.
	// deadline is when the Session answers on its own with the newest
	// LeaseSet it has.
	LeaseRequest func(leases []i2p.Lease, deadline time.Time)
	// Payload reports a message that arrived for the Destination.
	Payload func(m *routerproto.MessagePayload)
	// Status reports a MessageStatus for a message sent with a nonce.
	Status func(m *routerproto.MessageStatus)
	// Closed reports the end of the session (err says why; nil after
	// Close).
	Closed func(err error)
}

// Session is one Destination's standard I2CP session on the upstream.
type Session struct {
	cfg   Config
	hooks Hooks
	c     *routerproto.Client
	id    uint16
	dest  *i2p.Destination
	log   *slog.Logger
	done  chan struct{} // closed when the event loop has ended

	mu         sync.Mutex
	leases     []i2p.Lease // from the latest lease request
	requests   uint64      // lease requests seen
	pending    *time.Timer // runs while a lease request is unanswered
	gen        uint64      // numbers lease requests, so a late timer knows it is stale
	newest     *routerproto.CreateLeaseSet2
	seeded     bool   // newest came from Seed and has not gone upstream yet
	forwarded  uint64 // CreateLeaseSet2 sent upstream
	atOnce     uint64 // lease requests answered at once with the newest LeaseSet
	fallbacks  uint64 // lease requests answered with an older LeaseSet after AnswerWithin
	unanswered uint64 // lease requests with nothing to answer
	closing    bool
	err        error
}

// Open connects to the upstream, creates the session with sc exactly as
// the balancer signed it, and starts relaying. The session ends with its
// connection; Close ends both.
func Open(ctx context.Context, cfg Config, sc *routerproto.SessionConfig, hooks Hooks) (*Session, error) {
	return open(ctx, cfg, sc, hooks, nil)
}

// open is Open with a LeaseSet to answer the first lease requests with
// (see seed), installed before anything from the upstream is read.
func open(ctx context.Context, cfg Config, sc *routerproto.SessionConfig, hooks Hooks, seed *routerproto.CreateLeaseSet2) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sc == nil || sc.Destination == nil {
		return nil, errors.New("i2cpup: no session config")
	}
	if cfg.AnswerWithin == 0 {
		cfg.AnswerWithin = DefaultAnswerWithin
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "i2cpup", "dest", sc.Destination.B32(), "upstream", cfg.Addr)
	ccfg := routerproto.DefaultClientConfig()
	ccfg.Extensions = false // a stock router: standard I2CP only
	ccfg.Username, ccfg.Password = cfg.Username, cfg.Password
	ccfg.Logger = log
	c, err := dial(ctx, cfg, ccfg)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", cfg.Addr, err)
	}
	id, err := c.CreateSession(ctx, sc)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("upstream %s: create session for %s: %w", cfg.Addr, sc.Destination.B32(), err)
	}
	s := &Session{cfg: cfg, hooks: hooks, c: c, id: id, dest: sc.Destination, log: log.With("session", id), done: make(chan struct{})}
	s.seed(seed)
	s.log.Info("upstream session created")
	go s.run()
	return s, nil
}

// dial connects and performs the I2CP handshake.
func dial(ctx context.Context, cfg Config, ccfg routerproto.ClientConfig) (*routerproto.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, ccfg.HandshakeTimeout)
	defer cancel()
	d := cfg.Dial
	if d == nil {
		d = (&net.Dialer{}).DialContext
	}
	nc, err := d(dctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	return routerproto.NewClient(dctx, quickAck(nc), ccfg) // closes nc on error

}

// ID is the session id the upstream assigned.
func (s *Session) ID() uint16 { return s.id }

// Destination is the session's Destination.
func (s *Session) Destination() *i2p.Destination { return s.dest }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended (nil while it runs or after Close).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// ended reports whether the session has ended or is closing: it can no
// longer carry the Destination.
func (s *Session) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing || s.err != nil
}

// Leases returns the leases of the upstream's latest lease request: its
// current inbound tunnels (gateway, tunnel id, end).
func (s *Session) Leases() []i2p.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]i2p.Lease(nil), s.leases...)
}

// Stats are counters for status output.
type Stats struct {
	LeaseRequests uint64 // lease requests from the upstream
	Forwarded     uint64 // LeaseSets sent upstream (including fallbacks)
	AtOnce        uint64 // lease requests answered at once with the newest LeaseSet
	Fallbacks     uint64 // lease requests answered with an older LeaseSet after AnswerWithin
	Unanswered    uint64 // lease requests that had no LeaseSet to answer with
	Pending       bool   // a lease request waits for an answer now
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{LeaseRequests: s.requests, Forwarded: s.forwarded, AtOnce: s.atOnce, Fallbacks: s.fallbacks, Unanswered: s.unanswered, Pending: s.pending != nil}
}

// SetLeaseSet forwards a LeaseSet2 the balancer signed (with the private
// keys of its encryption keys) to the upstream at once, answering a pending
// lease request, and keeps it as the answer of later requests that get no
// fresh one in time. Its published time must be newer than the last one's.
func (s *Session) SetLeaseSet(ls *i2p.LeaseSet2, keys []routerproto.LeaseSetPrivateKey) error {
	if ls == nil || ls.Destination == nil || !ls.Destination.Equal(s.dest) {
		return ErrWrongDestination
	}
	m := &routerproto.CreateLeaseSet2{SessionID: s.id, LeaseSet: ls, PrivateKeys: keys}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.err != nil {
		return ErrClosed
	}
	if s.newest != nil && (ls.Published < s.newest.LeaseSet.Published || ls.Published == s.newest.LeaseSet.Published && !s.seeded) {
		return fmt.Errorf("%w: published %d, last %d", ErrStaleLeaseSet, ls.Published, s.newest.LeaseSet.Published)
	}
	if err := s.forwardLocked(m); err != nil {
		return err
	}
	s.newest, s.seeded = m, false
	return nil
}

// forwardLocked sends m upstream and ends a pending lease request.
func (s *Session) forwardLocked(m *routerproto.CreateLeaseSet2) error {
	if err := s.c.CreateLeaseSet2(m); err != nil {
		return fmt.Errorf("forward leaseset of %s: %w", s.dest.B32(), err)
	}
	s.forwarded++
	if m == s.newest {
		s.seeded = false
	}
	if s.pending != nil {
		s.pending.Stop()
		s.pending = nil
	}
	return nil
}

// seed gives the Session a LeaseSet to answer lease requests with at once
// without sending it upstream (a reopened session: the LeaseSet its
// predecessor held), unless it holds one already. The same LeaseSet may
// still be set with SetLeaseSet, which forwards it.
func (s *Session) seed(m *routerproto.CreateLeaseSet2) {
	if m == nil || m.LeaseSet == nil || m.LeaseSet.Destination == nil || !m.LeaseSet.Destination.Equal(s.dest) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.newest == nil {
		c := *m
		c.SessionID = s.id
		s.newest, s.seeded = &c, true
	}
}

// Newest returns the newest LeaseSet the Session holds (nil if none).
func (s *Session) Newest() *routerproto.CreateLeaseSet2 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newest
}

// Send relays a message from the Destination (the session id is set here).
func (s *Session) Send(m routerproto.SendMessageExpires) error {
	m.SessionID = s.id
	if err := s.c.SendMessageExpires(&m); err != nil {
		return fmt.Errorf("send from %s: %w", s.dest.B32(), err)
	}
	return nil
}

// Lookup asks the upstream for the Destination with hash h (a netDb lookup
// of its LeaseSet): ok false if the upstream found nothing. A lookup of the
// session's own hash succeeds once a floodfill has its LeaseSet.
func (s *Session) Lookup(ctx context.Context, h i2p.Hash, timeout time.Duration) (d *i2p.Destination, ok bool, err error) {
	r, err := s.c.HostLookup(ctx, &routerproto.HostLookup{SessionID: s.id, TimeoutMs: uint32(timeout / time.Millisecond), LookupType: routerproto.LookupHash, Hash: h})
	if err != nil {
		return nil, false, fmt.Errorf("lookup %s via %s: %w", h.B32(), s.cfg.Addr, err)
	}
	if r.Result != 0 || r.Destination == nil {
		return nil, false, nil
	}
	return r.Destination, true, nil
}

// Close destroys the upstream session and closes its connection.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closing = true
	if s.pending != nil {
		s.pending.Stop()
		s.pending = nil
	}
	s.mu.Unlock()
	_ = s.c.DestroySession(s.id)
	err := s.c.Close()
	<-s.done
	return err
}

// run relays the upstream's messages until the connection ends.
func (s *Session) run() {
	defer close(s.done)
	for e := range s.c.Events() {
		switch m := e.Message.(type) {
		case *routerproto.RequestVariableLeaseSet:
			s.leaseRequest(m)
		case *routerproto.MessagePayload:
			if s.hooks.Payload != nil {
				s.hooks.Payload(m)
			}
		case *routerproto.MessageStatus:
			if s.hooks.Status != nil {
				s.hooks.Status(m)
			}
		case *routerproto.SessionStatus:
			if m.Status == routerproto.SessionDestroyed {
				s.log.Info("upstream destroyed the session")
			}
		case *routerproto.Disconnect:
			s.log.Warn("upstream disconnected", "reason", m.Reason)
		}
	}
	s.mu.Lock()
	if s.pending != nil {
		s.pending.Stop()
		s.pending = nil
	}
	if !s.closing {
		s.err = s.c.Err()
		if s.err == nil {
			s.err = ErrClosed
		}
	}
	err := s.err
	s.mu.Unlock()
	s.log.Info("upstream session ended", "err", err)
	if s.hooks.Closed != nil {
		s.hooks.Closed(err)
	}
}

// leaseRequest records the upstream's tunnels, answers at once with the
// newest usable LeaseSet (or else arms the fallback answer) and tells the
// hook.
func (s *Session) leaseRequest(m *routerproto.RequestVariableLeaseSet) {
	now := time.Now()
	deadline := now.Add(s.cfg.AnswerWithin)
	s.mu.Lock()
	s.leases = append([]i2p.Lease(nil), m.Leases...)
	s.requests++
	if s.pending != nil {
		s.pending.Stop()
		s.pending = nil
	}
	s.gen++
	gen := s.gen
	atOnce := false
	if s.newest != nil && s.newest.LeaseSet.TimeStatus(now) == i2p.TimeOK {
		if err := s.forwardLocked(s.newest); err != nil {
			s.log.Warn("lease request: answer at once", "err", err)
		} else {
			s.atOnce++
			atOnce = true
		}
	}
	if !atOnce {
		s.pending = time.AfterFunc(s.cfg.AnswerWithin, func() { s.fallback(gen) })
	}
	s.mu.Unlock()
	s.log.Debug("lease request", "leases", len(m.Leases), "answered_at_once", atOnce)
	if s.hooks.LeaseRequest != nil {
		s.hooks.LeaseRequest(m.Leases, deadline)
	}
}

// fallback answers lease request gen with the newest LeaseSet if nothing
// fresher came in time.
func (s *Session) fallback(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil || s.gen != gen || s.closing {
		return // answered meanwhile, superseded, or closing
	}
	if s.newest == nil {
		s.pending = nil
		s.unanswered++
		s.log.Warn("lease request unanswered: no leaseset yet; the upstream will stop the session")
		return
	}
	if err := s.forwardLocked(s.newest); err != nil {
		s.log.Warn("lease request fallback", "err", err)
		return
	}
	s.fallbacks++
	s.log.Info("lease request answered with the newest leaseset", "published", s.newest.LeaseSet.Published)
}

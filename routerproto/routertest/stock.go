// Package routertest runs fake routers on loopback for tests of routerproto
// clients (today the `imh i2cp probe` and `imh ping` tests; the i2cp adapter
// and the balancer have their own fakes), the way net/http/httptest runs
// fake servers. Echo answers pings as an imh destination's echo service
// would. Stock behaves like a stock i2pd
// 2.45.1 over real TCP with the real routerproto codec: no extensions, one
// session per connection, a LeaseSet request that must be answered before a
// deadline or the session is stopped, CreateLeaseSet2 verified and kept.
package routertest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/servetest"
	"github.com/imh-project/imh/routerproto"
)

// StockConfig tunes a Stock router. Zero values take i2pd's behaviour.
type StockConfig struct {
	// LeaseDelay is how long "building tunnels" takes before the first
	// RequestVariableLeaseSet (default 50 ms; i2pd needs about 2 s for
	// zero-hop tunnels).
	LeaseDelay time.Duration
	// LeaseDeadline is how long the router waits for a valid
	// CreateLeaseSet2 after a request before it stops the session and
	// closes the connection (default 10 s, i2pd's
	// I2CP_LEASESET_CREATION_TIMEOUT).
	LeaseDeadline time.Duration
	// Leases is the number of inbound tunnels per session (default 1, max 16).
	Leases int
	// RouterHash is the gateway of every lease (default: random).
	RouterHash i2p.Hash
}

// Stock is a fake stock router listening on 127.0.0.1.
type Stock struct {
	// Addr is host:port of its I2CP port.
	Addr string

	cfg StockConfig
	srv *routerproto.Server

	mu       sync.Mutex
	sessions map[uint16]*stockSession
	byDest   map[i2p.Hash]*stockSession
	stored   map[i2p.Hash][]*i2p.LeaseSet2
	sent     []*routerproto.SendMessage
	stopped  []i2p.Hash
}

type stockSession struct {
	id       uint16
	dest     *i2p.Destination
	conn     *routerproto.ServerConn
	leases   []i2p.Lease
	deadline *time.Timer
}

// NewStock starts a Stock router that stops when the test ends.
func NewStock(t testing.TB, cfg StockConfig) *Stock {
	t.Helper()
	if cfg.LeaseDelay <= 0 {
		cfg.LeaseDelay = 50 * time.Millisecond
	}
	if cfg.LeaseDeadline <= 0 {
		cfg.LeaseDeadline = 10 * time.Second
	}
	if cfg.Leases <= 0 {
		cfg.Leases = 1
	}
	cfg.Leases = min(cfg.Leases, i2p.MaxLeases)
	if cfg.RouterHash.IsZero() {
		_, _ = rand.Read(cfg.RouterHash[:])
	}
	s := &Stock{cfg: cfg, sessions: map[uint16]*stockSession{}, byDest: map[i2p.Hash]*stockSession{}, stored: map[i2p.Hash][]*i2p.LeaseSet2{}}
	sc := routerproto.DefaultServerConfig()
	sc.Handler = &stockHandler{s: s}
	sc.Capabilities = nil // a stock router: SetDate first, no extensions
	sc.EchoVersion = true // i2pd 2.45.1 echoes the client's version
	srv, err := routerproto.NewServer(sc)
	if err != nil {
		t.Fatalf("routertest: %v", err)
	}
	s.srv = srv
	s.Addr, _ = servetest.Loopback(t, srv)
	return s
}

// LeaseSets returns the valid LeaseSet2s the router accepted for a
// Destination, oldest first.
func (s *Stock) LeaseSets(dest i2p.Hash) []*i2p.LeaseSet2 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*i2p.LeaseSet2(nil), s.stored[dest]...)
}

// Sessions returns how many sessions are open.
func (s *Stock) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Stopped lists the Destinations whose sessions the router stopped because
// no valid LeaseSet arrived in time.
func (s *Stock) Stopped() []i2p.Hash {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]i2p.Hash(nil), s.stopped...)
}

// Sent returns the SendMessage/SendMessageExpires the router received (the
// expires variant as its SendMessage part).
func (s *Stock) Sent() []*routerproto.SendMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*routerproto.SendMessage(nil), s.sent...)
}

// ErrNoSession reports a Destination without a session on the router.
var ErrNoSession = errors.New("routertest: no session for destination")

// RotateTunnels replaces the session's inbound tunnels and asks the client
// for a new LeaseSet, as a router does when its tunnels change.
func (s *Stock) RotateTunnels(dest i2p.Hash) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byDest[dest]
	if ss == nil {
		return ErrNoSession
	}
	return s.requestLocked(ss)
}

// Deliver pushes an incoming payload to the session of dest.
func (s *Stock) Deliver(dest i2p.Hash, messageID uint32, payload []byte) error {
	s.mu.Lock()
	ss := s.byDest[dest]
	s.mu.Unlock()
	if ss == nil {
		return ErrNoSession
	}
	return ss.conn.Send(&routerproto.MessagePayload{SessionID: ss.id, MessageID: messageID, Payload: payload})
}

// requestLocked makes fresh leases, sends RequestVariableLeaseSet and arms
// the deadline.
func (s *Stock) requestLocked(ss *stockSession) error {
	end := uint64(time.Now().Add(10 * time.Minute).UnixMilli())
	ss.leases = ss.leases[:0]
	for range s.cfg.Leases {
		var id [4]byte
		_, _ = rand.Read(id[:])
		ss.leases = append(ss.leases, i2p.Lease{Gateway: s.cfg.RouterHash, TunnelID: binary.BigEndian.Uint32(id[:]) | 1, EndMs: end})
	}
	if ss.deadline != nil {
		ss.deadline.Stop()
	}
	ss.deadline = time.AfterFunc(s.cfg.LeaseDeadline, func() { s.stop(ss) })
	return ss.conn.RequestLeaseSet(ss.id, ss.leases)
}

// stop ends a session whose LeaseSet did not arrive in time: i2pd stops
// the whole I2CP session, which closes the connection.
func (s *Stock) stop(ss *stockSession) {
	s.mu.Lock()
	if s.sessions[ss.id] != ss {
		s.mu.Unlock()
		return
	}
	s.removeLocked(ss)
	s.stopped = append(s.stopped, ss.dest.Hash())
	s.mu.Unlock()
	_ = ss.conn.Close()
}

func (s *Stock) removeLocked(ss *stockSession) {
	if ss.deadline != nil {
		ss.deadline.Stop()
	}
	delete(s.sessions, ss.id)
	if s.byDest[ss.dest.Hash()] == ss {
		delete(s.byDest, ss.dest.Hash())
	}
}

// stockHandler implements routerproto.Handler like i2pd's I2CP server.
type stockHandler struct {
	routerproto.UnimplementedHandler
	s *Stock
}

// ConnClosed drops the connection's session, as i2pd does.
func (h *stockHandler) ConnClosed(c *routerproto.ServerConn, _ error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	for _, ss := range h.s.sessions {
		if ss.conn == c {
			h.s.removeLocked(ss)
		}
	}
}

// CreateSession verifies the config and opens one session per connection
// with a random id, then asks for a LeaseSet after LeaseDelay.
func (h *stockHandler) CreateSession(_ context.Context, c *routerproto.ServerConn, m *routerproto.CreateSession) error {
	if m.Config.Verify() != nil {
		return c.SendSessionStatus(0, routerproto.SessionInvalid)
	}
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if ss.conn == c {
			return c.SendSessionStatus(0, routerproto.SessionRefused) // one destination per connection
		}
	}
	if s.byDest[m.Config.Destination.Hash()] != nil {
		return c.SendSessionStatus(0, routerproto.SessionInvalid) // duplicate destination
	}
	ss := &stockSession{dest: m.Config.Destination, conn: c}
	for ss.id == 0 || ss.id == routerproto.NoSession || s.sessions[ss.id] != nil {
		var b [2]byte
		_, _ = rand.Read(b[:])
		ss.id = binary.BigEndian.Uint16(b[:])
	}
	s.sessions[ss.id] = ss
	s.byDest[ss.dest.Hash()] = ss
	if err := c.SendSessionStatus(ss.id, routerproto.SessionCreated); err != nil {
		return err
	}
	time.AfterFunc(s.cfg.LeaseDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sessions[ss.id] == ss {
			_ = s.requestLocked(ss)
		}
	})
	return nil
}

// DestroySession answers SessionDestroyed and closes the connection.
func (h *stockHandler) DestroySession(_ context.Context, c *routerproto.ServerConn, m *routerproto.DestroySession) error {
	s := h.s
	s.mu.Lock()
	ss := s.sessions[m.SessionID]
	if ss != nil && ss.conn == c {
		s.removeLocked(ss)
	}
	s.mu.Unlock()
	_ = c.SendSessionStatus(m.SessionID, routerproto.SessionDestroyed)
	_ = c.Close() // i2pd closes after destroying
	return nil
}

// CreateLeaseSet2 accepts a LeaseSet the way i2pd does: the session id
// must match, the signature verify, published be at most 12 minutes old
// and every end at most 12 minutes ahead; invalid ones are dropped
// silently (the deadline keeps running).
func (h *stockHandler) CreateLeaseSet2(_ context.Context, c *routerproto.ServerConn, m *routerproto.CreateLeaseSet2) error {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[m.SessionID]
	if ss == nil || ss.conn != c || validLeaseSet(m.LeaseSet, time.Now()) != nil || len(m.PrivateKeys) == 0 {
		return nil
	}
	if ss.deadline != nil {
		ss.deadline.Stop()
		ss.deadline = nil
	}
	s.stored[ss.dest.Hash()] = append(s.stored[ss.dest.Hash()], m.LeaseSet)
	return nil
}

func validLeaseSet(ls *i2p.LeaseSet2, now time.Time) error {
	if err := ls.Verify(); err != nil {
		return err
	}
	limit := uint32(now.Add(12 * time.Minute).Unix())
	if int64(ls.Published) < now.Add(-12*time.Minute).Unix() || ls.ExpiresAt() > limit {
		return fmt.Errorf("leaseset time window")
	}
	for _, l := range ls.Leases {
		if l.End > limit {
			return fmt.Errorf("lease end too far ahead")
		}
	}
	return nil
}

// SendMessage records the send.
func (h *stockHandler) SendMessage(_ context.Context, c *routerproto.ServerConn, m *routerproto.SendMessage) error {
	return h.send(c, m)
}

// SendMessageExpires records the send (flags and expiry ignored, as i2pd).
func (h *stockHandler) SendMessageExpires(_ context.Context, c *routerproto.ServerConn, m *routerproto.SendMessageExpires) error {
	return h.send(c, &m.SendMessage)
}

// send records the message; with a nonce, i2pd reports Accepted then
// GuaranteedSuccess.
func (h *stockHandler) send(c *routerproto.ServerConn, m *routerproto.SendMessage) error {
	h.s.mu.Lock()
	h.s.sent = append(h.s.sent, m)
	id := uint32(len(h.s.sent))
	h.s.mu.Unlock()
	if m.Nonce == 0 {
		return nil
	}
	return c.Send(
		&routerproto.MessageStatus{SessionID: m.SessionID, MessageID: id, Status: routerproto.MsgAccepted, Nonce: m.Nonce},
		&routerproto.MessageStatus{SessionID: m.SessionID, MessageID: id, Status: routerproto.MsgGuaranteedSuccess, Nonce: m.Nonce},
	)
}

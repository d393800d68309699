package i2cpup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/servetest"
	"github.com/imh-project/imh/routerproto"
)

// fakeUpstream is a stock router as far as a Session can tell: no
// extensions, one session id, and it records what the Session sends.
type fakeUpstream struct {
	routerproto.UnimplementedHandler
	mu          sync.Mutex
	configs     []*routerproto.SessionConfig // as received
	conns       chan *routerproto.ServerConn
	leaseSets   chan *routerproto.CreateLeaseSet2
	sends       chan *routerproto.SendMessageExpires
	destroyed   chan uint16
	lookupFails int // the next N lookups find nothing
	refuse      int // the next N CreateSessions are refused (a router not ready)
	refused     int // CreateSessions refused so far
	// hold, when set, is closed by the next refused CreateSession, which
	// then never answers (until the server stops): a test sets it to know
	// that one attempt is under way, and which.
	hold chan struct{}
}

const fakeSessionID = 7

func (f *fakeUpstream) CreateSession(ctx context.Context, c *routerproto.ServerConn, m *routerproto.CreateSession) error {
	if err := m.Config.Verify(); err != nil {
		return c.SendSessionStatus(routerproto.NoSession, routerproto.SessionInvalid)
	}
	f.mu.Lock()
	refuse := f.refuse > 0
	var hold chan struct{}
	if refuse {
		f.refuse--
		f.refused++
		hold, f.hold = f.hold, nil
	}
	f.mu.Unlock()
	if hold != nil {
		close(hold)
		<-ctx.Done()
		return ctx.Err()
	}
	if refuse {
		return c.SendSessionStatus(routerproto.NoSession, routerproto.SessionRefused)
	}
	if err := c.SendSessionStatus(fakeSessionID, routerproto.SessionCreated); err != nil {
		return err
	}
	f.mu.Lock()
	f.configs = append(f.configs, m.Config)
	f.mu.Unlock()
	f.conns <- c
	return nil
}

// HostLookup finds the Destinations of the sessions created so far, as a
// floodfill holding their LeaseSets would.
func (f *fakeUpstream) HostLookup(_ context.Context, c *routerproto.ServerConn, m *routerproto.HostLookup) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lookupFails > 0 {
		f.lookupFails--
		return c.Send(&routerproto.HostReply{SessionID: m.SessionID, RequestID: m.RequestID, Result: 1})
	}
	for _, sc := range f.configs {
		if sc.Destination.Hash() == m.Hash {
			return c.Send(&routerproto.HostReply{SessionID: m.SessionID, RequestID: m.RequestID, Destination: sc.Destination})
		}
	}
	return c.Send(&routerproto.HostReply{SessionID: m.SessionID, RequestID: m.RequestID, Result: 1})
}

func (f *fakeUpstream) sessionsCreated() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.configs)
}

func (f *fakeUpstream) CreateLeaseSet2(_ context.Context, _ *routerproto.ServerConn, m *routerproto.CreateLeaseSet2) error {
	f.leaseSets <- m
	return nil
}

func (f *fakeUpstream) SendMessageExpires(_ context.Context, _ *routerproto.ServerConn, m *routerproto.SendMessageExpires) error {
	f.sends <- m
	return nil
}

func (f *fakeUpstream) DestroySession(_ context.Context, c *routerproto.ServerConn, m *routerproto.DestroySession) error {
	f.destroyed <- m.SessionID
	return c.SendSessionStatus(m.SessionID, routerproto.SessionDestroyed)
}

// startFake serves a fakeUpstream on 127.0.0.1:0 until the test ends.
func startFake(t *testing.T) (*fakeUpstream, string) {
	t.Helper()
	f := &fakeUpstream{
		conns:     make(chan *routerproto.ServerConn, 4),
		leaseSets: make(chan *routerproto.CreateLeaseSet2, 16),
		sends:     make(chan *routerproto.SendMessageExpires, 16),
		destroyed: make(chan uint16, 4),
	}
	cfg := routerproto.DefaultServerConfig()
	cfg.Handler = f
	cfg.Capabilities = nil
	cfg.EchoVersion = true
	srv, err := routerproto.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := servetest.Loopback(t, srv)
	return f, addr
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func none[T any](t *testing.T, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %v", what, v)
	case <-time.After(d):
	}
}

// balancer stands for the balancer: it holds the Destination's keys and
// signs the session config and LeaseSets.
type balancer struct {
	keys *i2p.PrivateKeys
	lsk  *i2p.LeaseSetKey
}

func newBalancer(t *testing.T) *balancer {
	t.Helper()
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lsk, err := i2p.NewLeaseSetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &balancer{keys: keys, lsk: lsk}
}

func (b *balancer) config(t *testing.T) *routerproto.SessionConfig {
	t.Helper()
	sc, err := routerproto.SignSessionConfig(b.keys, i2p.Mapping{"inbound.length": "1", "i2cp.leaseSetType": "3"}, uint64(time.Now().UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func (b *balancer) leaseSet(t *testing.T, published uint32, leases []i2p.Lease) (*i2p.LeaseSet2, []routerproto.LeaseSetPrivateKey) {
	t.Helper()
	ls := &i2p.LeaseSet2{Destination: b.keys.Destination(), Published: published, Expires: 600, Keys: []i2p.EncryptionKey{b.lsk.EncryptionKey()}}
	for _, l := range leases {
		ls.Leases = append(ls.Leases, l.ToLease2())
	}
	if err := ls.Sign(b.keys); err != nil {
		t.Fatal(err)
	}
	return ls, []routerproto.LeaseSetPrivateKey{{Type: i2p.EncX25519, Key: b.lsk.Private()}}
}

func testLeases(n int) []i2p.Lease {
	var ls []i2p.Lease
	end := uint64(time.Now().Add(10 * time.Minute).UnixMilli())
	for i := range n {
		var gw i2p.Hash
		gw[0] = byte(i + 1)
		ls = append(ls, i2p.Lease{Gateway: gw, TunnelID: uint32(100 + i), EndMs: end})
	}
	return ls
}

type hookLog struct {
	requests chan []i2p.Lease
	payloads chan *routerproto.MessagePayload
	statuses chan *routerproto.MessageStatus
	closed   chan error
}

func newHooks() (*hookLog, Hooks) {
	h := &hookLog{
		requests: make(chan []i2p.Lease, 8),
		payloads: make(chan *routerproto.MessagePayload, 8),
		statuses: make(chan *routerproto.MessageStatus, 8),
		closed:   make(chan error, 1),
	}
	return h, Hooks{
		LeaseRequest: func(l []i2p.Lease, _ time.Time) { h.requests <- l },
		Payload:      func(m *routerproto.MessagePayload) { h.payloads <- m },
		Status:       func(m *routerproto.MessageStatus) { h.statuses <- m },
		Closed:       func(err error) { h.closed <- err },
	}
}

func openSession(t *testing.T, addr string, b *balancer, hooks Hooks, within time.Duration) *Session {
	t.Helper()
	s, err := Open(context.Background(), Config{Addr: addr, AnswerWithin: within}, b.config(t), hooks)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func marshal(t *testing.T, ls *i2p.LeaseSet2) []byte {
	t.Helper()
	b, err := ls.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A lease request is reported with the upstream's leases; the balancer's
// LeaseSet goes upstream byte for byte; the next request is answered at
// once with the newest one (i2pd drops tunnel changes while a request is
// unanswered), and the balancer's fresh one follows unsolicited.
func TestSessionLeaseRequests(t *testing.T) {
	f, addr := startFake(t)
	b := newBalancer(t)
	h, hooks := newHooks()
	s := openSession(t, addr, b, hooks, 200*time.Millisecond)
	if s.ID() != fakeSessionID {
		t.Fatalf("session id %d", s.ID())
	}
	conn := recv(t, f.conns, "session")

	leases := testLeases(2)
	if err := conn.RequestLeaseSet(fakeSessionID, leases); err != nil {
		t.Fatal(err)
	}
	got := recv(t, h.requests, "lease request hook")
	if len(got) != 2 || got[1] != leases[1] {
		t.Fatalf("hook leases %v, want %v", got, leases)
	}
	if l := s.Leases(); len(l) != 2 || l[0] != leases[0] {
		t.Fatalf("Leases() = %v", l)
	}
	ls1, keys := b.leaseSet(t, uint32(time.Now().Unix()), got)
	if err := s.SetLeaseSet(ls1, keys); err != nil {
		t.Fatal(err)
	}
	up := recv(t, f.leaseSets, "forwarded leaseset")
	if up.SessionID != fakeSessionID || !bytes.Equal(marshal(t, up.LeaseSet), marshal(t, ls1)) ||
		len(up.PrivateKeys) != 1 || !bytes.Equal(up.PrivateKeys[0].Key, b.lsk.Private()) {
		t.Fatalf("upstream got session %d, leaseset equal %v", up.SessionID, bytes.Equal(marshal(t, up.LeaseSet), marshal(t, ls1)))
	}
	none(t, f.leaseSets, 400*time.Millisecond, "second forward of an answered request")

	// The next request is answered at once with the newest LeaseSet,
	// before the hook runs; the balancer's fresh one follows.
	if err := conn.RequestLeaseSet(fakeSessionID, testLeases(3)); err != nil {
		t.Fatal(err)
	}
	up = recv(t, f.leaseSets, "answer at once")
	if !bytes.Equal(marshal(t, up.LeaseSet), marshal(t, ls1)) {
		t.Fatal("answer at once is not the newest leaseset")
	}
	got = recv(t, h.requests, "second lease request hook")
	st := s.Stats()
	if st.LeaseRequests != 2 || st.Forwarded != 2 || st.AtOnce != 1 || st.Fallbacks != 0 || st.Pending {
		t.Fatalf("stats %+v", st)
	}
	ls2, _ := b.leaseSet(t, ls1.Published+1, got)
	if err := s.SetLeaseSet(ls2, keys); err != nil {
		t.Fatal(err)
	}
	if up = recv(t, f.leaseSets, "fresh leaseset, unsolicited"); up.LeaseSet.Published != ls2.Published {
		t.Fatalf("forwarded published %d, want %d", up.LeaseSet.Published, ls2.Published)
	}
	ls1 = ls2

	// Stale and foreign LeaseSets are refused and not forwarded.
	if err := s.SetLeaseSet(ls1, keys); !errors.Is(err, ErrStaleLeaseSet) {
		t.Errorf("same published: %v, want ErrStaleLeaseSet", err)
	}
	other, okeys := newBalancer(t).leaseSet(t, ls1.Published+5, got)
	if err := s.SetLeaseSet(other, okeys); !errors.Is(err, ErrWrongDestination) {
		t.Errorf("other destination: %v, want ErrWrongDestination", err)
	}
	none(t, f.leaseSets, 100*time.Millisecond, "forward of a refused leaseset")
}

// With no LeaseSet at all there is nothing to answer with: counted, and
// the session is left to the upstream.
func TestSessionUnanswered(t *testing.T) {
	f, addr := startFake(t)
	b := newBalancer(t)
	_, hooks := newHooks()
	s := openSession(t, addr, b, hooks, 50*time.Millisecond)
	conn := recv(t, f.conns, "session")
	if err := conn.RequestLeaseSet(fakeSessionID, testLeases(1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Unanswered != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	none(t, f.leaseSets, 100*time.Millisecond, "leaseset")
}

// Payloads and statuses are relayed to the hooks, sends go upstream with
// the upstream's session id, and Close destroys the upstream session.
func TestSessionRelay(t *testing.T) {
	f, addr := startFake(t)
	b := newBalancer(t)
	h, hooks := newHooks()
	s := openSession(t, addr, b, hooks, 0)
	conn := recv(t, f.conns, "session")

	if err := conn.SendPayload(&routerproto.MessagePayload{SessionID: fakeSessionID, MessageID: 9, Payload: []byte("gz")}, nil); err != nil {
		t.Fatal(err)
	}
	if p := recv(t, h.payloads, "payload"); p.MessageID != 9 || string(p.Payload) != "gz" {
		t.Fatalf("payload %+v", p)
	}
	if err := conn.Send(&routerproto.MessageStatus{SessionID: fakeSessionID, MessageID: 3, Status: 4, Nonce: 11}); err != nil {
		t.Fatal(err)
	}
	if st := recv(t, h.statuses, "status"); st.Nonce != 11 || st.Status != 4 {
		t.Fatalf("status %+v", st)
	}
	to := newBalancer(t).keys.Destination()
	if err := s.Send(routerproto.SendMessageExpires{SendMessage: routerproto.SendMessage{SessionID: 999, Destination: to, Payload: []byte("p"), Nonce: 5}, Flags: 0}); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, f.sends, "send"); m.SessionID != fakeSessionID || !m.Destination.Equal(to) || m.Nonce != 5 {
		t.Fatalf("upstream send %+v", m)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if id := recv(t, f.destroyed, "destroy"); id != fakeSessionID {
		t.Fatalf("destroyed %d", id)
	}
	if err := recv(t, h.closed, "closed hook"); err != nil {
		t.Fatalf("closed after Close: %v", err)
	}
	ls, keys := b.leaseSet(t, uint32(time.Now().Unix()), nil)
	if err := s.SetLeaseSet(ls, keys); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// When the upstream ends the connection, the session ends with an error.
func TestSessionUpstreamGone(t *testing.T) {
	f, addr := startFake(t)
	h, hooks := newHooks()
	s := openSession(t, addr, newBalancer(t), hooks, 0)
	conn := recv(t, f.conns, "session")
	_ = conn.Disconnect("going away")
	if err := recv(t, h.closed, "closed hook"); err == nil {
		t.Fatal("closed hook: nil error after the upstream disconnected")
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session not done")
	}
	if s.Err() == nil {
		t.Fatal("Err() nil")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Addr: "a:1"}, true},
		{Config{Addr: "a:1", AnswerWithin: 9 * time.Second}, true},
		{Config{}, false},
		{Config{Addr: "a:1", AnswerWithin: 10 * time.Second}, false},
		{Config{Addr: "a:1", AnswerWithin: -1}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.cfg, err)
		}
	}
}

// A reopened session gets its predecessor's LeaseSet (seed): the first
// lease request is answered with it at once, and the balancer may still
// hand over the same LeaseSet, which then goes upstream.
func TestSessionSeedAnswersAtOnce(t *testing.T) {
	f, addr := startFake(t)
	b := newBalancer(t)
	h, hooks := newHooks()
	ls, keys := b.leaseSet(t, uint32(time.Now().Unix()), testLeases(1))
	s, err := open(context.Background(), Config{Addr: addr, AnswerWithin: 5 * time.Second}, b.config(t), hooks,
		&routerproto.CreateLeaseSet2{SessionID: 99, LeaseSet: ls, PrivateKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	conn := recv(t, f.conns, "session")
	none(t, f.leaseSets, 100*time.Millisecond, "seed sent before a request")
	if err := conn.RequestLeaseSet(fakeSessionID, testLeases(2)); err != nil {
		t.Fatal(err)
	}
	up := recv(t, f.leaseSets, "answer at once")
	if up.SessionID != fakeSessionID || up.LeaseSet.Published != ls.Published {
		t.Fatalf("answer: session %d, published %d", up.SessionID, up.LeaseSet.Published)
	}
	recv(t, h.requests, "lease request hook")
	if st := s.Stats(); st.AtOnce != 1 || st.Pending {
		t.Fatalf("stats %+v", st)
	}
	if err := s.SetLeaseSet(ls, keys); !errors.Is(err, ErrStaleLeaseSet) {
		t.Fatalf("same leaseset after it went upstream: %v, want ErrStaleLeaseSet", err)
	}
}

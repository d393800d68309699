package router

import (
	"context"
	"crypto/rand"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/servetest"
	"github.com/imh-project/imh/routerproto"
)

// testRouter is a Router over a fakeBackend served on a loopback port.
type testRouter struct {
	r    *Router
	be   *fakeBackend
	addr string
}

func startRouter(t *testing.T, lifetime time.Duration, tune func(*Config)) *testRouter {
	t.Helper()
	return startRouterOn(t, newFakeBackend(lifetime), tune)
}

// startRouterOn serves a Router over be.
func startRouterOn(t *testing.T, be *fakeBackend, tune func(*Config)) *testRouter {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Name = "r-test"
	cfg.PublishRetry = 10 * time.Millisecond
	cfg.PublishRetryMax = 50 * time.Millisecond
	cfg.BuildRetry = 10 * time.Millisecond
	cfg.RebuildBefore = 0
	if tune != nil {
		tune(&cfg)
	}
	r, err := New(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := servetest.Loopback(t, r)
	return &testRouter{r: r, be: be, addr: addr}
}

// dest is a test destination: its keys and LeaseSet key.
type dest struct {
	keys  *i2p.PrivateKeys
	lsKey *i2p.LeaseSetKey
}

func newDest(t *testing.T) *dest {
	t.Helper()
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := i2p.NewLeaseSetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &dest{keys: k, lsKey: lk}
}

func (d *dest) hash() i2p.Hash { return d.keys.Destination().Hash() }

// leaseSet builds a signed LeaseSet2 with the given leases.
func (d *dest) leaseSet(t *testing.T, published uint32, leases []i2p.Lease2) *routerproto.CreateLeaseSet2 {
	t.Helper()
	ls := &i2p.LeaseSet2{
		Destination: d.keys.Destination(),
		Published:   published,
		Expires:     600,
		Keys:        []i2p.EncryptionKey{d.lsKey.EncryptionKey()},
		Leases:      leases,
	}
	if err := ls.Sign(d.keys); err != nil {
		t.Fatal(err)
	}
	return &routerproto.CreateLeaseSet2{LeaseSet: ls, PrivateKeys: []routerproto.LeaseSetPrivateKey{{Type: i2p.EncX25519, Key: d.lsKey.Private()}}}
}

// tconn is a raw protocol connection for tests: every message the router
// sends can be awaited, including Disconnect.
type tconn struct {
	t    *testing.T
	c    *routerproto.Conn
	msgs chan routerproto.Message
	caps *routerproto.Capabilities
	err  chan error
}

// dial connects and handshakes; ext asks for extensions.
func dial(t *testing.T, addr string, ext bool) *tconn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := routerproto.NewConn(nc, 5*time.Second)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.WriteProtocolByte(); err != nil {
		t.Fatal(err)
	}
	gd := &routerproto.GetDate{Version: "0.9.67"}
	if ext {
		gd.Options = i2p.Mapping{routerproto.OptExt: "1"}
	}
	if err := c.WriteMessage(gd); err != nil {
		t.Fatal(err)
	}
	tc := &tconn{t: t, c: c, msgs: make(chan routerproto.Message, 1024), err: make(chan error, 1)}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if caps, ok := m.(*routerproto.Capabilities); ok {
			tc.caps = caps
			continue
		}
		if _, ok := m.(*routerproto.SetDate); !ok {
			t.Fatalf("handshake: got %s", m.Type())
		}
		break
	}
	_ = c.SetReadDeadline(time.Time{})
	go func() {
		for {
			m, err := c.ReadMessage()
			if err != nil {
				tc.err <- err
				close(tc.msgs)
				return
			}
			tc.msgs <- m
		}
	}()
	return tc
}

func (tc *tconn) send(m routerproto.Message) {
	tc.t.Helper()
	if err := tc.c.WriteMessage(m); err != nil {
		tc.t.Fatalf("send %s: %v", m.Type(), err)
	}
}

// next returns the next message, failing after timeout.
func (tc *tconn) next(timeout time.Duration) routerproto.Message {
	tc.t.Helper()
	select {
	case m, ok := <-tc.msgs:
		if !ok {
			tc.t.Fatalf("connection closed while waiting: %v", <-tc.err)
		}
		return m
	case <-time.After(timeout):
		tc.t.Fatalf("no message within %v", timeout)
		return nil
	}
}

// expect returns the first message of type T, skipping others it does not
// care about (skip returns true for those).
func expect[T routerproto.Message](tc *tconn, timeout time.Duration) T {
	tc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := tc.next(time.Until(deadline))
		if v, ok := m.(T); ok {
			return v
		}
		if d, ok := m.(*routerproto.Disconnect); ok {
			var zero T
			tc.t.Fatalf("got Disconnect %q waiting for %T", d.Reason, zero)
		}
	}
}

// expectNone checks that no message arrives for d.
func (tc *tconn) expectNone(d time.Duration) {
	tc.t.Helper()
	select {
	case m, ok := <-tc.msgs:
		if ok {
			tc.t.Fatalf("unexpected %s", m.Type())
		}
	case <-time.After(d):
	}
}

// expectDisconnect waits for a Disconnect with reason, then the close.
func (tc *tconn) expectDisconnect(reason string, timeout time.Duration) {
	tc.t.Helper()
	d := expectSkipping[*routerproto.Disconnect](tc, timeout)
	if d.Reason != reason {
		tc.t.Fatalf("disconnect reason %q, want %q", d.Reason, reason)
	}
	select {
	case _, ok := <-tc.msgs:
		if ok {
			tc.t.Fatal("message after Disconnect")
		}
	case <-time.After(timeout):
		tc.t.Fatal("connection not closed after Disconnect")
	}
}

// expectSkipping is expect without failing on a Disconnect.
func expectSkipping[T routerproto.Message](tc *tconn, timeout time.Duration) T {
	tc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := tc.next(time.Until(deadline))
		if v, ok := m.(T); ok {
			return v
		}
	}
}

// createSession sends a signed CreateSession with opts.
func (tc *tconn) createSession(d *dest, opts i2p.Mapping) {
	tc.t.Helper()
	sc, err := routerproto.SignSessionConfig(d.keys, opts, uint64(time.Now().UnixMilli()))
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.send(&routerproto.CreateSession{Config: sc})
}

// managed returns options of a managed session with term.
func managed(term uint64) i2p.Mapping {
	return i2p.Mapping{OptManaged: "true", OptTerm: strconv.FormatUint(term, 10), "i2cp.leaseSetEncType": "4"}
}

// openManaged creates (or re-attaches) a managed session and returns its id.
func (tc *tconn) openManaged(d *dest, term uint64) uint16 {
	tc.t.Helper()
	tc.createSession(d, managed(term))
	st := expect[*routerproto.SessionStatus](tc, 5*time.Second)
	if st.Status != routerproto.SessionCreated {
		tc.t.Fatalf("session status %s, want created", st.Status)
	}
	return st.SessionID
}

// sessionOf returns the /status entry of the session with id.
func (tr *testRouter) sessionOf(id uint16) (SessionStatus, bool) {
	for _, s := range tr.r.Status(context.Background()).Sessions {
		if s.ID == id {
			return s, true
		}
	}
	return SessionStatus{}, false
}

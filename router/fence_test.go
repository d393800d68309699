package router

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/routerproto"
)

// recConn is an in-memory wireConn that records what the router sends, for
// tests that must act in the window between a connection being superseded
// and being closed (which over TCP is a race).
type recConn struct {
	mu     sync.Mutex
	msgs   []routerproto.Message
	reason string
	closed bool
}

func (c *recConn) Send(m routerproto.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

func (c *recConn) Disconnect(reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reason, c.closed = reason, true
	return nil
}

func (c *recConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *recConn) find(t *testing.T, match func(routerproto.Message) bool) routerproto.Message {
	t.Helper()
	var found routerproto.Message
	eventually.True(t, wait, "message", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range c.msgs {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// TestCommandsOnSupersededConnection: every command a superseded controller
// still manages to send is refused and counted in stale_refused.
func TestCommandsOnSupersededConnection(t *testing.T) {
	be := newFakeBackend(time.Minute)
	cfg := DefaultConfig()
	cfg.Name = "fence"
	r, err := New(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := newDest(t)
	sign := func(term uint64) *routerproto.SessionConfig {
		sc, err := routerproto.SignSessionConfig(d.keys, managed(term), uint64(time.Now().UnixMilli()))
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	oldW, newW := &recConn{}, &recConn{}
	old, nw := r.attach(oldW, true), r.attach(newW, true)
	r.createSession(context.Background(), old, sign(3), peerConn{})
	id := oldW.find(t, func(m routerproto.Message) bool { _, ok := m.(*routerproto.SessionStatus); return ok }).(*routerproto.SessionStatus).SessionID
	r.createSession(context.Background(), nw, sign(4), peerConn{})
	newW.find(t, func(m routerproto.Message) bool {
		st, ok := m.(*routerproto.SessionStatus)
		return ok && st.Status == routerproto.SessionCreated && st.SessionID == id
	})
	eventually.True(t, wait, "old controller disconnected", func() bool {
		oldW.mu.Lock()
		defer oldW.mu.Unlock()
		return oldW.reason == "imh: superseded by term 4"
	})

	// The old connection's commands, as if they were already in flight.
	r.createTunnel(old, &routerproto.CreateTunnel{RequestID: 1, SessionID: id, Direction: routerproto.Inbound, HopCount: 1})
	r.getTunnelPool(old, &routerproto.GetTunnelPool{RequestID: 2, SessionID: id, Direction: routerproto.DirBoth})
	cls := d.leaseSet(t, uint32(time.Now().Unix()), []i2p.Lease2{})
	cls.SessionID = id
	r.createLeaseSet2(old, cls)
	r.destroySession(old, id)

	s, ok := sessionStatus(r, id)
	if !ok {
		t.Fatal("a stale DestroySession destroyed the session")
	}
	if s.StaleRefused != 4 || s.Term != 4 {
		t.Fatalf("status %+v, want 4 stale refusals at term 4", s)
	}
	if be.publishedCount() != 0 {
		t.Fatal("a stale CreateLeaseSet2 was published")
	}
	if n := be.buildCount(); n != 0 {
		t.Fatalf("stale CreateTunnel built %d tunnels", n)
	}
}

func sessionStatus(r *Router, id uint16) (SessionStatus, bool) {
	for _, s := range r.Status(context.Background()).Sessions {
		if s.ID == id {
			return s, true
		}
	}
	return SessionStatus{}, false
}

func TestCheckBinding(t *testing.T) {
	b := []byte{1, 2, 3, 4}
	for _, tt := range []struct {
		name    string
		opts    i2p.Mapping
		binding []byte
		ok      bool
	}{
		{"plaintext connection: nothing to bind", i2p.Mapping{}, nil, true},
		{"bound to this connection", i2p.Mapping{routerproto.OptBinding: "01020304"}, b, true},
		{"no binding on TLS", i2p.Mapping{}, b, false},
		{"another connection's", i2p.Mapping{routerproto.OptBinding: "01020305"}, b, false},
		{"not hex", i2p.Mapping{routerproto.OptBinding: "zz"}, b, false},
	} {
		if err := checkBinding(tt.opts, tt.binding); (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestPeerRoleAllows(t *testing.T) {
	for _, tt := range []struct {
		role            pki.Role
		managed, attach bool
		ok              bool
	}{
		{"", true, false, true},
		{pki.RoleAgent, true, false, true},
		{pki.RoleAgent, false, true, true},
		{pki.RoleFrontend, false, true, true},
		{pki.RoleFrontend, true, false, false},
		{pki.RoleFrontend, false, false, false},
		{pki.RoleClient, false, false, true},
		{pki.RoleClient, true, false, false},
		{pki.RoleClient, false, true, false},
		{pki.RoleRouter, false, false, false},
	} {
		if err := (peerConn{role: tt.role}).allows(tt.managed, tt.attach); (err == nil) != tt.ok {
			t.Errorf("%q managed=%v attach=%v: %v", tt.role, tt.managed, tt.attach, err)
		}
	}
}

package router

import (
	"testing"
	"time"

	"github.com/imh-project/imh/routerproto"
)

// TestSessionCap: past Config.MaxSessions a CreateSession is refused, and a
// destroyed session makes room again.
func TestSessionCap(t *testing.T) {
	tr := startRouter(t, time.Minute, func(c *Config) { c.MaxSessions = 2 })
	c := dial(t, tr.addr, true)
	ids := []uint16{c.openManaged(newDest(t), 1), c.openManaged(newDest(t), 1)}
	third := newDest(t)
	c.createSession(third, managed(1))
	if st := expect[*routerproto.SessionStatus](c, wait); st.Status != routerproto.SessionRefused {
		t.Fatalf("third session: status %s, want refused", st.Status)
	}
	c.send(&routerproto.DestroySession{SessionID: ids[0]})
	if st := expectSkipping[*routerproto.SessionStatus](c, wait); st.Status != routerproto.SessionDestroyed {
		t.Fatalf("destroy: status %s", st.Status)
	}
	c.createSession(third, managed(1))
	if st := expectSkipping[*routerproto.SessionStatus](c, wait); st.Status != routerproto.SessionCreated {
		t.Fatalf("after a destroy: status %s, want created", st.Status)
	}
}

// TestNewSessionIDWhenFull: with every id in use, picking one ends (it used
// to spin forever under the router's lock).
func TestNewSessionIDWhenFull(t *testing.T) {
	r := &Router{sessions: make(map[uint16]*session)}
	for id := range uint16(routerproto.NoSession) {
		if id != 7 {
			r.sessions[id] = &session{}
		}
	}
	done := make(chan struct{}, 1)
	var id uint16
	var ok bool
	go func() {
		id, ok = r.newSessionIDLocked()
		done <- struct{}{}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("newSessionIDLocked spins")
	}
	if !ok || id != 7 {
		t.Fatalf("got %d %v, want the one free id 7", id, ok)
	}
	r.sessions[7] = &session{}
	go func() {
		_, ok = r.newSessionIDLocked()
		done <- struct{}{}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("newSessionIDLocked spins on a full table")
	}
	if ok {
		t.Fatal("an id was found in a full table")
	}
}

// TestSessionCapPerConnection: one connection holds at most
// MaxSessionsPerConn sessions; re-attaching to one it holds takes nothing
// new, and another connection still gets its own.
func TestSessionCapPerConnection(t *testing.T) {
	tr := startRouter(t, time.Minute, func(c *Config) { c.MaxSessionsPerConn = 2 })
	c := dial(t, tr.addr, true)
	first := newDest(t)
	c.openManaged(first, 1)
	c.openManaged(newDest(t), 1)
	c.createSession(newDest(t), managed(1))
	if st := expect[*routerproto.SessionStatus](c, wait); st.Status != routerproto.SessionRefused {
		t.Fatalf("third session on one connection: status %s, want refused", st.Status)
	}
	c.createSession(first, managed(2)) // a re-attach: nothing new
	if st := expectSkipping[*routerproto.SessionStatus](c, wait); st.Status != routerproto.SessionCreated {
		t.Fatalf("re-attach at the cap: status %s, want created", st.Status)
	}
	other := dial(t, tr.addr, true)
	other.openManaged(newDest(t), 1)
}

package router

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/routerproto"
)

const wait = 5 * time.Second

// TestUnmanagedSessionLifecycle: a stock-style client (no extensions) gets
// a session whose router builds its own pools, a lease request for those
// tunnels, its LeaseSet published, payloads through its tunnels, and the
// session dies with the connection.
func TestUnmanagedSessionLifecycle(t *testing.T) {
	tr := startRouter(t, time.Minute, nil)
	d := newDest(t)
	c := dial(t, tr.addr, false)
	if c.caps != nil {
		t.Fatal("stock client got Capabilities")
	}
	c.createSession(d, i2p.Mapping{"inbound.quantity": "3", "inbound.length": "2", "outbound.quantity": "1", "outbound.length": "0"})
	st := expect[*routerproto.SessionStatus](c, wait)
	if st.Status != routerproto.SessionCreated {
		t.Fatalf("status %s", st.Status)
	}
	req := expect[*routerproto.RequestVariableLeaseSet](c, wait)
	for len(req.Leases) < 3 { // the request follows the pool as it fills
		req = expect[*routerproto.RequestVariableLeaseSet](c, wait)
	}
	if req.SessionID != st.SessionID || len(req.Leases) != 3 {
		t.Fatalf("lease request %+v", req)
	}
	status := tr.r.Status(context.Background())
	var in, out int
	for _, tun := range status.Tunnels {
		if tun.Direction == "inbound" {
			in++
			if len(tun.Hops) != 2 {
				t.Errorf("inbound tunnel with %d hops, want 2", len(tun.Hops))
			}
		} else {
			out++
		}
	}
	if in != 3 || out != 1 {
		t.Fatalf("router built %d inbound, %d outbound; want 3, 1", in, out)
	}
	var leases []i2p.Lease2
	for _, l := range req.Leases {
		leases = append(leases, l.ToLease2())
	}
	cls := d.leaseSet(t, uint32(time.Now().Unix()), leases)
	cls.SessionID = st.SessionID
	c.send(cls)
	eventually.True(t, wait, "leaseset published", func() bool { return tr.be.publishedCount() == 1 })
	c.expectNone(50 * time.Millisecond) // a stock client hears no LeaseSetStatus

	if !tr.be.deliver(d.hash(), req.Leases[0].TunnelID, []byte("hello")) {
		t.Fatal("delivery through a live inbound tunnel refused")
	}
	p := expect[*routerproto.MessagePayload](c, wait)
	if !bytes.Equal(p.Payload, []byte("hello")) || p.SessionID != st.SessionID {
		t.Fatalf("payload %+v", p)
	}
	if tr.be.deliver(d.hash(), 12345, []byte("x")) {
		t.Fatal("delivery through an unknown tunnel accepted")
	}

	_ = c.c.Close()
	eventually.True(t, wait, "session gone with its connection", func() bool {
		_, ok := tr.sessionOf(st.SessionID)
		return !ok
	})
	if tr.be.deliver(d.hash(), req.Leases[0].TunnelID, []byte("late")) {
		t.Fatal("delivery accepted after the session died")
	}
}

// TestManagedSessionBuildsOnlyWhatItIsAsked: no pools, no lease request;
// CreateTunnel with explicit hops and router's choice; failures and
// expiries reported as TunnelStatus; GetTunnelPool; fast tier.
func TestManagedSessionBuildsOnlyWhatItIsAsked(t *testing.T) {
	tr := startRouter(t, 400*time.Millisecond, nil)
	d := newDest(t)
	c := dial(t, tr.addr, true)
	if c.caps == nil || !c.caps.Has(routerproto.CapExplicitHops) || c.caps.RouterHash != tr.be.Hash() {
		t.Fatalf("capabilities %+v", c.caps)
	}
	id := c.openManaged(d, 1)
	c.expectNone(100 * time.Millisecond)
	if n := tr.be.buildCount(); n != 0 {
		t.Fatalf("managed session built %d tunnels on its own", n)
	}

	c.send(&routerproto.GetFastTier{RequestID: 7})
	pl := expect[*routerproto.PeerList](c, wait)
	if pl.RequestID != 7 || pl.Result != routerproto.ResultOK || len(pl.Peers) != 10 || pl.Peers[0].Reliability != 9000 {
		t.Fatalf("peer list %+v", pl)
	}

	hops := []i2p.Hash{pl.Peers[3].Hash, pl.Peers[5].Hash}
	c.send(&routerproto.CreateTunnel{RequestID: 1, SessionID: id, Direction: routerproto.Inbound, HopCount: 2, Hops: hops})
	ts := expect[*routerproto.TunnelStatus](c, wait)
	if ts.RequestID != 1 || ts.Result != routerproto.ResultOK || ts.Tunnel.Gateway != hops[0] || len(ts.Tunnel.Hops) != 2 || ts.Tunnel.Hops[1] != hops[1] {
		t.Fatalf("tunnel status %+v", ts)
	}
	c.send(&routerproto.CreateTunnel{RequestID: 2, SessionID: id, Direction: routerproto.Outbound, HopCount: 3})
	ts2 := expect[*routerproto.TunnelStatus](c, wait)
	if ts2.RequestID != 2 || ts2.Result != routerproto.ResultOK || len(ts2.Tunnel.Hops) != 3 || ts2.Tunnel.Direction != routerproto.Outbound {
		t.Fatalf("tunnel status %+v", ts2)
	}
	tr.be.setFailBuilds(1)
	c.send(&routerproto.CreateTunnel{RequestID: 3, SessionID: id, Direction: routerproto.Inbound, HopCount: 1})
	ts3 := expect[*routerproto.TunnelStatus](c, wait)
	if ts3.RequestID != 3 || ts3.Result != routerproto.ResultFailed {
		t.Fatalf("failed build reported as %+v", ts3)
	}
	c.send(&routerproto.CreateTunnel{RequestID: 4, SessionID: id + 1, Direction: routerproto.Inbound, HopCount: 1})
	if ts4 := expect[*routerproto.TunnelStatus](c, wait); ts4.Result != routerproto.ResultNoSession {
		t.Fatalf("unknown session answered %+v", ts4)
	}

	c.send(&routerproto.GetTunnelPool{RequestID: 9, SessionID: id, Direction: routerproto.DirBoth})
	tl := expect[*routerproto.TunnelList](c, wait)
	if tl.RequestID != 9 || len(tl.Tunnels) != 2 {
		t.Fatalf("tunnel list %+v", tl)
	}
	st := tr.r.Status(context.Background())
	if st.Builds.OK != 2 || st.Builds.Failed != 1 || st.FastTier != 10 || len(st.Tunnels) != 2 {
		t.Fatalf("status %+v", st)
	}

	// Both tunnels expire after 400ms: unsolicited TunnelStatus, request id 0.
	expired := map[uint32]bool{}
	for len(expired) < 2 {
		ev := expect[*routerproto.TunnelStatus](c, wait)
		if ev.RequestID != 0 || ev.Result != routerproto.ResultExpired {
			t.Fatalf("expiry event %+v", ev)
		}
		expired[ev.Tunnel.TunnelID] = true
	}
	if !expired[ts.Tunnel.TunnelID] || !expired[ts2.Tunnel.TunnelID] {
		t.Fatalf("expired %v", expired)
	}
	if tr.be.deliver(d.hash(), ts.Tunnel.TunnelID, []byte("x")) {
		t.Fatal("delivery through an expired tunnel accepted")
	}
	if n := tr.be.buildCount(); n != 3 {
		t.Fatalf("managed session rebuilt on its own: %d builds", n)
	}
	if tr.be.publishedCount() != 0 {
		t.Fatal("managed session published on its own")
	}
}

// TestDestroySessionAnswersPendingBuilds: DestroySession answers the
// session's builds in flight with no-session at once, even when the backend
// is slow to give them up, so that the client's requests do not wait for
// their timeout (docs/reliability.md, "A leader's tunnel builds in flight").
func TestDestroySessionAnswersPendingBuilds(t *testing.T) {
	be := newFakeBackend(time.Minute)
	be.hold = make(chan struct{})
	release := sync.OnceFunc(func() { close(be.hold) })
	tr := startRouterOn(t, be, nil)
	defer release() // before the router's Close, which waits for the builds
	c := dial(t, tr.addr, true)
	id := c.openManaged(newDest(t), 1)
	c.send(&routerproto.CreateTunnel{RequestID: 1, SessionID: id, Direction: routerproto.Inbound, HopCount: 1})
	c.send(&routerproto.CreateTunnel{RequestID: 2, SessionID: id, Direction: routerproto.Outbound, HopCount: 2})
	deadline := time.Now().Add(wait)
	for be.buildCount() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d builds started, want 2", be.buildCount())
		}
		time.Sleep(5 * time.Millisecond)
	}

	c.send(&routerproto.DestroySession{SessionID: id})
	answered := map[uint32]bool{}
	for len(answered) < 2 {
		ts := expect[*routerproto.TunnelStatus](c, time.Second)
		if ts.Result != routerproto.ResultNoSession || ts.SessionID != id || answered[ts.RequestID] {
			t.Fatalf("pending build answered %+v", ts)
		}
		answered[ts.RequestID] = true
	}
	if !answered[1] || !answered[2] {
		t.Fatalf("answered %v, want requests 1 and 2", answered)
	}
	if st := expect[*routerproto.SessionStatus](c, time.Second); st.Status != routerproto.SessionDestroyed {
		t.Fatalf("session status %s, want destroyed", st.Status)
	}
	release()
	c.expectNone(100 * time.Millisecond) // the builds end without a second answer
}

// TestManagedLeaseSetPublication: stored, then published after retries;
// rejected for a bad signature, another destination or an older published.
func TestManagedLeaseSetPublication(t *testing.T) {
	tr := startRouter(t, time.Minute, nil)
	d := newDest(t)
	c := dial(t, tr.addr, true)
	id := c.openManaged(d, 1)
	c.send(&routerproto.CreateTunnel{RequestID: 1, SessionID: id, Direction: routerproto.Inbound, HopCount: 1})
	tun := expect[*routerproto.TunnelStatus](c, wait).Tunnel

	tr.be.setFailPublish(2)
	now := uint32(time.Now().Unix())
	cls := d.leaseSet(t, now, []i2p.Lease2{tun.Lease()})
	cls.SessionID = id
	c.send(cls)
	s1 := expect[*routerproto.LeaseSetStatus](c, wait)
	if s1.State != routerproto.LeaseSetStored || s1.Published != now {
		t.Fatalf("first status %+v", s1)
	}
	s2 := expect[*routerproto.LeaseSetStatus](c, wait)
	if s2.State != routerproto.LeaseSetPublished || s2.Published != now || s2.Floodfills < 1 {
		t.Fatalf("second status %+v", s2)
	}
	if tr.be.publishedCount() != 1 {
		t.Fatalf("published %d", tr.be.publishedCount())
	}

	tests := []struct {
		name string
		cls  func() *routerproto.CreateLeaseSet2
	}{
		{"older published", func() *routerproto.CreateLeaseSet2 { return d.leaseSet(t, now-1, nil) }},
		{"equal published", func() *routerproto.CreateLeaseSet2 { return d.leaseSet(t, now, nil) }},
		{"other destination", func() *routerproto.CreateLeaseSet2 { return newDest(t).leaseSet(t, now+5, nil) }},
		{"bad signature", func() *routerproto.CreateLeaseSet2 {
			m := d.leaseSet(t, now+5, nil)
			m.LeaseSet.Signature[0] ^= 1
			return m
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.cls()
			m.SessionID = id
			c.send(m)
			if st := expect[*routerproto.LeaseSetStatus](c, wait); st.State != routerproto.LeaseSetRejected {
				t.Fatalf("status %+v", st)
			}
		})
	}
	if tr.be.publishedCount() != 1 {
		t.Fatalf("rejected leasesets were published: %d", tr.be.publishedCount())
	}
}

// TestGracePeriodQueuedPayloads: a managed session outlives its control
// connection; payloads are queued (bounded, oldest dropped) and delivered
// on re-attach with PayloadFrom; tunnels are kept; after the grace period
// without a controller the session dies.
func TestGracePeriodQueuedPayloads(t *testing.T) {
	const grace = 600 * time.Millisecond
	tr := startRouter(t, time.Minute, func(c *Config) { c.GracePeriod = grace; c.QueueLimit = 3 })
	d := newDest(t)
	c1 := dial(t, tr.addr, true)
	id := c1.openManaged(d, 4)
	c1.send(&routerproto.CreateTunnel{RequestID: 1, SessionID: id, Direction: routerproto.Inbound, HopCount: 2})
	tun := expect[*routerproto.TunnelStatus](c1, wait).Tunnel

	_ = c1.c.Close()
	eventually.True(t, wait, "controller detached", func() bool {
		s, ok := tr.sessionOf(id)
		return ok && !s.ControlAttached
	})
	for i := range 5 {
		if !tr.be.deliver(d.hash(), tun.TunnelID, payloadN(i)) {
			t.Fatalf("delivery %d refused during the grace period", i)
		}
	}

	c2 := dial(t, tr.addr, true)
	if got := c2.openManaged(d, 4); got != id {
		t.Fatalf("re-attach gave session %d, want the same %d", got, id)
	}
	for i := 2; i < 5; i++ { // 0 and 1 were dropped: the queue holds 3
		from := expect[*routerproto.PayloadFrom](c2, wait)
		p := expect[*routerproto.MessagePayload](c2, wait)
		if from.TunnelID != tun.TunnelID || from.Gateway != tun.Gateway || from.MessageID != p.MessageID {
			t.Fatalf("payload from %+v for message %d", from, p.MessageID)
		}
		if !bytes.Equal(p.Payload, payloadN(i)) {
			t.Fatalf("queued payload %q, want %q", p.Payload, payloadN(i))
		}
	}
	c2.send(&routerproto.GetTunnelPool{RequestID: 2, SessionID: id, Direction: routerproto.Inbound})
	if tl := expect[*routerproto.TunnelList](c2, wait); len(tl.Tunnels) != 1 || tl.Tunnels[0].TunnelID != tun.TunnelID {
		t.Fatalf("tunnels after re-attach %+v", tl)
	}
	if tr.be.buildCount() != 1 {
		t.Fatalf("re-attach rebuilt tunnels: %d builds", tr.be.buildCount())
	}
	// Live payloads go straight through.
	tr.be.deliver(d.hash(), tun.TunnelID, []byte("live"))
	if p := expect[*routerproto.MessagePayload](c2, wait); string(p.Payload) != "live" {
		t.Fatalf("live payload %q", p.Payload)
	}

	_ = c2.c.Close()
	lost := time.Now()
	eventually.True(t, wait, "session destroyed after the grace period", func() bool {
		_, ok := tr.sessionOf(id)
		return !ok
	})
	if el := time.Since(lost); el < grace {
		t.Fatalf("session died %v after detaching, before the %v grace period", el, grace)
	}
	if tr.be.deliver(d.hash(), tun.TunnelID, []byte("x")) {
		t.Fatal("delivery accepted after the session died")
	}
	c3 := dial(t, tr.addr, true)
	if got := c3.openManaged(d, 4); got == id {
		// Ids are random; equal is possible but vanishingly rare. What
		// matters is that the old tunnels are gone.
		t.Logf("new session reused id %d", id)
	}
	c3.send(&routerproto.GetTunnelPool{RequestID: 3, SessionID: id, Direction: routerproto.DirBoth})
	if tl := expect[*routerproto.TunnelList](c3, wait); len(tl.Tunnels) != 0 && tl.Result == routerproto.ResultOK {
		t.Fatalf("a new session inherited tunnels: %+v", tl)
	}
}

// TestReattachFencing covers re-attach with equal, higher and stale terms.
func TestReattachFencing(t *testing.T) {
	tests := []struct {
		name       string
		first      uint64
		second     uint64
		wantAttach bool
	}{
		{"equal term replaces", 5, 5, true},
		{"higher term replaces", 5, 9, true},
		{"stale term refused", 5, 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := startRouter(t, time.Minute, nil)
			d := newDest(t)
			old := dial(t, tr.addr, true)
			id := old.openManaged(d, tt.first)
			old.send(&routerproto.CreateTunnel{RequestID: 1, SessionID: id, Direction: routerproto.Inbound, HopCount: 1})
			tun := expect[*routerproto.TunnelStatus](old, wait).Tunnel

			nw := dial(t, tr.addr, true)
			nw.createSession(d, managed(tt.second))
			st := expectSkipping[*routerproto.SessionStatus](nw, wait)
			if !tt.wantAttach {
				if st.Status != routerproto.SessionRefused {
					t.Fatalf("stale attach answered %s", st.Status)
				}
				nw.expectDisconnect("imh: stale term", wait)
				s, _ := tr.sessionOf(id)
				if s.StaleRefused != 1 || s.Term != tt.first || !s.ControlAttached {
					t.Fatalf("status after stale attach %+v", s)
				}
				// The old controller still works.
				old.send(&routerproto.GetTunnelPool{RequestID: 2, SessionID: id, Direction: routerproto.Inbound})
				if tl := expect[*routerproto.TunnelList](old, wait); tl.Result != routerproto.ResultOK || len(tl.Tunnels) != 1 {
					t.Fatalf("old controller after stale attempt: %+v", tl)
				}
				return
			}
			if st.Status != routerproto.SessionCreated || st.SessionID != id {
				t.Fatalf("re-attach answered %+v, want created %d", st, id)
			}
			old.expectDisconnect(fmt.Sprintf("imh: superseded by term %d", tt.second), wait)
			s, _ := tr.sessionOf(id)
			if s.Term != tt.second || !s.ControlAttached || s.StaleRefused != 0 {
				t.Fatalf("status after re-attach %+v", s)
			}
			nw.send(&routerproto.GetTunnelPool{RequestID: 2, SessionID: id, Direction: routerproto.Inbound})
			if tl := expect[*routerproto.TunnelList](nw, wait); len(tl.Tunnels) != 1 || tl.Tunnels[0].TunnelID != tun.TunnelID {
				t.Fatalf("tunnels not kept across re-attach: %+v", tl)
			}
			tr.be.deliver(d.hash(), tun.TunnelID, []byte("after"))
			if p := expect[*routerproto.MessagePayload](nw, wait); string(p.Payload) != "after" {
				t.Fatalf("payload after re-attach went elsewhere: %q", p.Payload)
			}
		})
	}
}

// TestTwoControllersRacing: many connections re-attach at once with
// different terms; the highest term ends in control, every other
// connection is cut (superseded or stale), the session id never changes,
// and stale_refused counts exactly the stale refusals.
func TestTwoControllersRacing(t *testing.T) {
	tr := startRouter(t, time.Minute, nil)
	d := newDest(t)
	first := dial(t, tr.addr, true)
	id := first.openManaged(d, 1)

	const n = 8
	conns := make([]*tconn, n)
	for i := range conns {
		conns[i] = dial(t, tr.addr, true)
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Terms 2..9 in parallel, except that two connections share
			// term 7 to race equal terms too.
			term := uint64(2 + i)
			if i == n-2 {
				term = uint64(2 + n - 3)
			}
			sc, err := routerproto.SignSessionConfig(d.keys, managed(term), uint64(time.Now().UnixMilli()))
			if err != nil {
				t.Error(err)
				return
			}
			if err := c.c.WriteMessage(&routerproto.CreateSession{Config: sc}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	top := conns[n-1] // term n+1, the highest
	st := expectSkipping[*routerproto.SessionStatus](top, wait)
	if st.Status != routerproto.SessionCreated || st.SessionID != id {
		t.Fatalf("highest term answered %+v", st)
	}
	stale := 0
	for i, c := range append([]*tconn{first}, conns[:n-1]...) {
		var reason string
		for reason == "" {
			switch m := c.next(wait).(type) {
			case *routerproto.Disconnect:
				reason = m.Reason
			case *routerproto.SessionStatus:
				if m.Status == routerproto.SessionCreated && m.SessionID != id {
					t.Fatalf("conn %d got a different session %d", i, m.SessionID)
				}
			}
		}
		switch {
		case reason == "imh: stale term":
			stale++
		case len(reason) > len("imh: superseded by term ") && reason[:24] == "imh: superseded by term ":
		default:
			t.Fatalf("conn %d cut with %q", i, reason)
		}
	}
	eventually.True(t, wait, "final state", func() bool {
		s, ok := tr.sessionOf(id)
		return ok && s.Term == n+1 && s.ControlAttached
	})
	s, _ := tr.sessionOf(id)
	if int(s.StaleRefused) != stale {
		t.Fatalf("stale_refused %d, but %d connections were refused as stale", s.StaleRefused, stale)
	}
	top.send(&routerproto.GetTunnelPool{RequestID: 1, SessionID: id, Direction: routerproto.DirBoth})
	if tl := expect[*routerproto.TunnelList](top, wait); tl.Result != routerproto.ResultOK {
		t.Fatalf("winner cannot command: %+v", tl)
	}
	if len(tr.r.Status(context.Background()).Sessions) != 1 {
		t.Fatal("racing re-attaches created extra sessions")
	}
}

// TestDataAttachment: a data attachment gets the session's id and its
// payloads, may read the tunnel pool, cannot control the session, survives
// a change of controller, and hands payloads back to the controller when
// it leaves.
func TestDataAttachment(t *testing.T) {
	tr := startRouter(t, time.Minute, nil)
	d := newDest(t)
	c1 := dial(t, tr.addr, true)
	id := c1.openManaged(d, 1)
	c1.send(&routerproto.CreateTunnel{RequestID: 1, SessionID: id, Direction: routerproto.Inbound, HopCount: 1})
	tun := expect[*routerproto.TunnelStatus](c1, wait).Tunnel

	other := dial(t, tr.addr, true)
	other.createSession(newDest(t), i2p.Mapping{routerproto.OptAttach: "data"})
	if st := expect[*routerproto.SessionStatus](other, wait); st.Status != routerproto.SessionRefused {
		t.Fatalf("data attachment to no session: %s", st.Status)
	}

	dd := dial(t, tr.addr, true)
	dd.createSession(d, i2p.Mapping{routerproto.OptAttach: "data"})
	if st := expect[*routerproto.SessionStatus](dd, wait); st.Status != routerproto.SessionCreated || st.SessionID != id {
		t.Fatalf("data attachment answered %+v", st)
	}
	if s, _ := tr.sessionOf(id); s.DataAttached != 1 || !s.ControlAttached {
		t.Fatalf("status %+v", s)
	}
	tr.be.deliver(d.hash(), tun.TunnelID, []byte("to data"))
	if p := expect[*routerproto.MessagePayload](dd, wait); string(p.Payload) != "to data" {
		t.Fatalf("data attachment got %q", p.Payload)
	}
	c1.expectNone(20 * time.Millisecond)

	dd.send(&routerproto.CreateTunnel{RequestID: 5, SessionID: id, Direction: routerproto.Inbound, HopCount: 1})
	if ts := expect[*routerproto.TunnelStatus](dd, wait); ts.Result != routerproto.ResultNotControl {
		t.Fatalf("data attachment CreateTunnel: %+v", ts)
	}
	dd.send(&routerproto.DestroySession{SessionID: id})
	if st := expect[*routerproto.SessionStatus](dd, wait); st.Status != routerproto.SessionRefused {
		t.Fatalf("data attachment DestroySession: %s", st.Status)
	}
	dd.send(&routerproto.GetTunnelPool{RequestID: 6, SessionID: id, Direction: routerproto.Inbound})
	if tl := expect[*routerproto.TunnelList](dd, wait); tl.Result != routerproto.ResultOK || len(tl.Tunnels) != 1 {
		t.Fatalf("data attachment GetTunnelPool: %+v", tl)
	}

	c2 := dial(t, tr.addr, true)
	c2.openManaged(d, 2)
	c1.expectDisconnect("imh: superseded by term 2", wait)
	tr.be.deliver(d.hash(), tun.TunnelID, []byte("still data"))
	if p := expect[*routerproto.MessagePayload](dd, wait); string(p.Payload) != "still data" {
		t.Fatalf("after the controller changed the data attachment got %q", p.Payload)
	}

	_ = dd.c.Close()
	eventually.True(t, wait, "data attachment gone", func() bool { s, _ := tr.sessionOf(id); return s.DataAttached == 0 })
	tr.be.deliver(d.hash(), tun.TunnelID, []byte("to control"))
	if p := expect[*routerproto.MessagePayload](c2, wait); string(p.Payload) != "to control" {
		t.Fatalf("controller got %q", p.Payload)
	}
}

// TestLeaseSetReplacedBeforePublished: a LeaseSet whose publication is
// still being retried when a newer one arrives is reported failed; the
// newer one is published.
func TestLeaseSetReplacedBeforePublished(t *testing.T) {
	tr := startRouter(t, time.Minute, func(c *Config) { c.PublishRetry = time.Second; c.PublishRetryMax = time.Second })
	d := newDest(t)
	c := dial(t, tr.addr, true)
	id := c.openManaged(d, 1)
	tr.be.setFailPublish(1)
	now := uint32(time.Now().Unix())
	first := d.leaseSet(t, now, nil)
	first.SessionID = id
	c.send(first)
	if st := expect[*routerproto.LeaseSetStatus](c, wait); st.State != routerproto.LeaseSetStored {
		t.Fatalf("first: %+v", st)
	}
	eventually.True(t, wait, "first attempt failed", func() bool {
		tr.be.mu.Lock()
		defer tr.be.mu.Unlock()
		return tr.be.failPublish == 0
	})
	second := d.leaseSet(t, now+1, nil)
	second.SessionID = id
	c.send(second)
	got := map[uint32]routerproto.LeaseSetState{}
	for len(got) < 2 || got[now+1] != routerproto.LeaseSetPublished {
		st := expect[*routerproto.LeaseSetStatus](c, wait)
		got[st.Published] = st.State
	}
	if got[now] != routerproto.LeaseSetFailed {
		t.Fatalf("replaced leaseset reported %s", got[now])
	}
	if tr.be.publishedCount() != 1 {
		t.Fatalf("published %d", tr.be.publishedCount())
	}
}

// TestSendMessage: statuses follow the nonce; SendVia names a live outbound
// tunnel or gets "no local tunnels"; a session without outbound tunnels
// cannot send.
func TestSendMessage(t *testing.T) {
	tr := startRouter(t, time.Minute, nil)
	d, to := newDest(t), newDest(t)
	c := dial(t, tr.addr, true)
	id := c.openManaged(d, 1)
	statuses := func(nonce uint32, want ...routerproto.MessageStatusCode) {
		t.Helper()
		for _, w := range want {
			ms := expect[*routerproto.MessageStatus](c, wait)
			if ms.Nonce != nonce || ms.Status != w {
				t.Fatalf("status %+v, want %d for nonce %d", ms, w, nonce)
			}
		}
	}
	c.send(&routerproto.SendMessage{SessionID: id, Destination: to.keys.Destination(), Payload: []byte("p"), Nonce: 1})
	statuses(1, routerproto.MsgNoLocalTunnels)

	c.send(&routerproto.CreateTunnel{RequestID: 1, SessionID: id, Direction: routerproto.Outbound, HopCount: 2})
	out := expect[*routerproto.TunnelStatus](c, wait).Tunnel
	c.send(&routerproto.SendMessage{SessionID: id, Destination: to.keys.Destination(), Payload: []byte("p"), Nonce: 2})
	statuses(2, routerproto.MsgAccepted, routerproto.MsgGuaranteedSuccess)
	c.send(&routerproto.SendVia{SessionID: id, TunnelID: out.TunnelID + 1, Destination: to.keys.Destination(), Payload: []byte("p"), Nonce: 3})
	statuses(3, routerproto.MsgNoLocalTunnels)
	c.send(&routerproto.SendVia{SessionID: id, TunnelID: out.TunnelID, Destination: to.keys.Destination(), Payload: []byte("v"), Nonce: 4})
	statuses(4, routerproto.MsgAccepted, routerproto.MsgGuaranteedSuccess)
	c.send(&routerproto.SendMessage{SessionID: id, Destination: to.keys.Destination(), Payload: []byte("quiet")})
	eventually.True(t, wait, "three sends", func() bool {
		tr.be.mu.Lock()
		defer tr.be.mu.Unlock()
		return len(tr.be.sent) == 3
	})
	c.expectNone(20 * time.Millisecond) // nonce 0: no status
	tr.be.mu.Lock()
	defer tr.be.mu.Unlock()
	if s := tr.be.sent[1]; s.TunnelID != out.TunnelID || s.To != to.hash() || s.From != d.hash() || string(s.Payload) != "v" {
		t.Fatalf("SendVia went out as %+v", s)
	}
}

// TestReportTunnel: a tunnel the backend built on its own joins the
// session, is announced to the controller, carries deliveries and expires.
func TestReportTunnel(t *testing.T) {
	tr := startRouter(t, time.Minute, nil)
	d := newDest(t)
	c := dial(t, tr.addr, true)
	id := c.openManaged(d, 1)
	gw := fakeHash("upstream-gw")
	tun := Tunnel{ID: 77, Inbound: true, Gateway: gw, Hops: []i2p.Hash{gw}, Created: time.Now(), Expires: time.Now().Add(300 * time.Millisecond)}
	if tr.r.ReportTunnel(newDest(t).hash(), tun) {
		t.Fatal("tunnel reported for a destination without a session")
	}
	if !tr.r.ReportTunnel(d.hash(), tun) {
		t.Fatal("tunnel refused")
	}
	ts := expect[*routerproto.TunnelStatus](c, wait)
	if ts.RequestID != 0 || ts.SessionID != id || ts.Result != routerproto.ResultOK || ts.Tunnel.TunnelID != 77 || ts.Tunnel.Gateway != gw {
		t.Fatalf("announcement %+v", ts)
	}
	if !tr.be.deliver(d.hash(), 77, []byte("x")) {
		t.Fatal("delivery through the reported tunnel refused")
	}
	if ex := expect[*routerproto.TunnelStatus](c, wait); ex.Result != routerproto.ResultExpired || ex.Tunnel.TunnelID != 77 {
		t.Fatalf("expiry %+v", ex)
	}
}

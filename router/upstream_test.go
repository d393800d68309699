package router

import (
	"slices"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// startUpstream serves a Router over a fake backend that behaves like a
// stock upstream router (Features.UpstreamTunnels, no builds).
func startUpstream(t *testing.T) *testRouter {
	t.Helper()
	be := newFakeBackend(time.Minute)
	be.upstream = true
	return startRouterOn(t, be, nil)
}

func TestNewAttachesBackend(t *testing.T) {
	tr := startRouter(t, time.Minute, nil)
	tr.be.mu.Lock()
	defer tr.be.mu.Unlock()
	if tr.be.attached != tr.r {
		t.Fatalf("AttachRouter got %p, want the router %p", tr.be.attached, tr.r)
	}
}

func TestCapabilitiesByBackend(t *testing.T) {
	for _, tc := range []struct {
		name     string
		upstream bool
		want     []string
		lacks    []string
	}{
		{"own tunnels", false,
			[]string{routerproto.CapCreateTunnel, routerproto.CapExplicitHops, routerproto.CapFastTier, routerproto.CapSendVia},
			[]string{routerproto.CapNeedLeaseSet}},
		{"upstream tunnels", true,
			[]string{routerproto.CapManagedSessions, routerproto.CapTunnelPool, routerproto.CapPayloadFrom, routerproto.CapLeaseSetStatus, routerproto.CapNeedLeaseSet},
			[]string{routerproto.CapCreateTunnel, routerproto.CapExplicitHops, routerproto.CapFastTier, routerproto.CapSendVia}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newFakeBackend(time.Minute)
			be.upstream = tc.upstream
			tr := startRouterOn(t, be, nil)
			c := dial(t, tr.addr, true)
			got := tr.r.Capabilities()
			for _, w := range tc.want {
				if !slices.Contains(got, w) || !c.caps.Has(w) {
					t.Errorf("capabilities %v (announced %+v) lack %s", got, c.caps, w)
				}
			}
			for _, l := range tc.lacks {
				if slices.Contains(got, l) {
					t.Errorf("capabilities %v announce %s", got, l)
				}
			}
		})
	}
}

// TestUpstreamDeliveryUnknownTunnel: a stock upstream cannot name the
// inbound tunnel; its deliveries (tunnel 0) are accepted and reported as
// PayloadFrom tunnel 0, zero gateway. Other backends still need a tunnel.
func TestUpstreamDeliveryUnknownTunnel(t *testing.T) {
	own := startRouter(t, time.Minute, nil)
	d := newDest(t)
	oc := dial(t, own.addr, true)
	oc.openManaged(d, 1)
	if own.be.deliver(d.hash(), 0, []byte("x")) {
		t.Fatal("router with own tunnels accepted a delivery through unknown tunnel 0")
	}

	tr := startUpstream(t)
	c := dial(t, tr.addr, true)
	id := c.openManaged(d, 1)
	if tr.be.deliver(newDest(t).hash(), 0, []byte("x")) {
		t.Fatal("delivery for a destination without a session accepted")
	}
	if !tr.be.deliver(d.hash(), 0, []byte("hello")) {
		t.Fatal("delivery with unknown tunnel refused")
	}
	pf := expect[*routerproto.PayloadFrom](c, wait)
	if pf.SessionID != id || pf.TunnelID != 0 || !pf.Gateway.IsZero() {
		t.Fatalf("PayloadFrom %+v, want tunnel 0 and no gateway", pf)
	}
	mp := expect[*routerproto.MessagePayload](c, wait)
	if mp.MessageID != pf.MessageID || string(mp.Payload) != "hello" {
		t.Fatalf("payload %+v", mp)
	}
}

// TestUpstreamSendWithoutOwnTunnels: the upstream picks its outbound
// tunnel, so sends need none of the session's own; the backend gets the
// full target Destination.
func TestUpstreamSendWithoutOwnTunnels(t *testing.T) {
	tr := startUpstream(t)
	d, to := newDest(t), newDest(t)
	c := dial(t, tr.addr, true)
	id := c.openManaged(d, 1)
	c.send(&routerproto.SendMessageExpires{SendMessage: routerproto.SendMessage{SessionID: id, Destination: to.keys.Destination(), Payload: []byte("p"), Nonce: 9}})
	for _, w := range []routerproto.MessageStatusCode{routerproto.MsgAccepted, routerproto.MsgGuaranteedSuccess} {
		if ms := expect[*routerproto.MessageStatus](c, wait); ms.Nonce != 9 || ms.Status != w {
			t.Fatalf("status %+v, want %d", ms, w)
		}
	}
	tr.be.mu.Lock()
	defer tr.be.mu.Unlock()
	if len(tr.be.sent) != 1 {
		t.Fatalf("%d sends reached the backend", len(tr.be.sent))
	}
	if s := tr.be.sent[0]; s.To != to.hash() || s.ToDest == nil || !s.ToDest.Equal(to.keys.Destination()) || s.From != d.hash() {
		t.Fatalf("send went out as %+v", s)
	}
}

// TestNeedLeaseSet: the backend asks the controller for a LeaseSet newer
// than the session's newest; without a controller nobody is asked.
func TestNeedLeaseSet(t *testing.T) {
	tr := startUpstream(t)
	d := newDest(t)
	if tr.r.NeedLeaseSet(d.hash(), routerproto.NeedRequested, time.Second) {
		t.Fatal("asked for a destination without a session")
	}
	c := dial(t, tr.addr, true)
	id := c.openManaged(d, 1)
	if !tr.r.NeedLeaseSet(d.hash(), routerproto.NeedRequested, 7*time.Second) {
		t.Fatal("controller not asked")
	}
	n := expect[*routerproto.NeedLeaseSet](c, wait)
	if n.SessionID != id || n.Reason != routerproto.NeedRequested || n.DeadlineMs != 7000 || n.MinPublished != 0 {
		t.Fatalf("NeedLeaseSet %+v", n)
	}
	pub := uint32(time.Now().Unix())
	m := d.leaseSet(t, pub, []i2p.Lease2{{Gateway: fakeHash("gw"), TunnelID: 5, End: pub + 300}})
	m.SessionID = id
	c.send(m)
	if st := expect[*routerproto.LeaseSetStatus](c, wait); st.State != routerproto.LeaseSetStored {
		t.Fatalf("leaseset status %+v", st)
	}
	if !tr.r.NeedLeaseSet(d.hash(), routerproto.NeedNotStored, 0) {
		t.Fatal("controller not asked again")
	}
	n = expectSkipping[*routerproto.NeedLeaseSet](c, wait)
	if n.Reason != routerproto.NeedNotStored || n.MinPublished != pub || n.DeadlineMs != 0 {
		t.Fatalf("second NeedLeaseSet %+v, want min published %d", n, pub)
	}
	plain := dial(t, tr.addr, false)
	d2 := newDest(t)
	plain.openManaged(d2, 1)
	if tr.r.NeedLeaseSet(d2.hash(), routerproto.NeedRequested, 0) {
		t.Fatal("asked a controller without extensions")
	}
}

// TestReportInbound: the upstream's full list replaces the inbound
// tunnels: new ones announced once, vanished ones reported broken.
func TestReportInbound(t *testing.T) {
	tr := startUpstream(t)
	d := newDest(t)
	c := dial(t, tr.addr, true)
	id := c.openManaged(d, 1)
	exp := time.Now().Add(time.Minute).Truncate(time.Second)
	a := Tunnel{ID: 1, Gateway: fakeHash("a"), Expires: exp}
	b := Tunnel{ID: 2, Gateway: fakeHash("b"), Expires: exp}
	cc := Tunnel{ID: 3, Gateway: fakeHash("c"), Expires: exp}
	if tr.r.ReportInbound(newDest(t).hash(), []Tunnel{a}) {
		t.Fatal("reported for a destination without a session")
	}
	if !tr.r.ReportInbound(d.hash(), []Tunnel{a, b}) {
		t.Fatal("refused")
	}
	got := map[uint32]routerproto.Result{}
	for range 2 {
		ts := expect[*routerproto.TunnelStatus](c, wait)
		if ts.SessionID != id || ts.RequestID != 0 || ts.Tunnel.Direction != routerproto.Inbound {
			t.Fatalf("announcement %+v", ts)
		}
		got[ts.Tunnel.TunnelID] = ts.Result
	}
	tr.r.ReportInbound(d.hash(), []Tunnel{b, cc})
	for range 2 {
		ts := expect[*routerproto.TunnelStatus](c, wait)
		got[ts.Tunnel.TunnelID] = ts.Result
	}
	want := map[uint32]routerproto.Result{1: routerproto.ResultBroken, 2: routerproto.ResultOK, 3: routerproto.ResultOK}
	if len(got) != 3 || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("results %v, want %v", got, want)
	}
	c.expectNone(50 * time.Millisecond) // b was known: not announced again
	c.send(&routerproto.GetTunnelPool{RequestID: 4, SessionID: id, Direction: routerproto.DirBoth})
	tl := expect[*routerproto.TunnelList](c, wait)
	var ids []uint32
	for _, ti := range tl.Tunnels {
		ids = append(ids, ti.TunnelID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint32{2, 3}) {
		t.Fatalf("pool %v, want [2 3]", ids)
	}
	// /status: the upstream holds 2 inbound tunnels; the config asked for
	// none (inbound.quantity not set), so want is 0.
	st := tr.r.Status(t.Context())
	if len(st.Sessions) != 1 || st.Sessions[0].UpstreamInbound == nil || *st.Sessions[0].UpstreamInbound != (InboundCount{Have: 2, Want: 0}) {
		t.Fatalf("status sessions %+v, want upstream_inbound {2 0}", st.Sessions)
	}
}

// TestStatusUpstreamInbound: /status shows have (live inbound tunnels the
// upstream told of) against want (inbound.quantity of the session config)
// with an upstream, and nothing otherwise.
func TestStatusUpstreamInbound(t *testing.T) {
	tr := startUpstream(t)
	d := newDest(t)
	c := dial(t, tr.addr, true)
	opts := managed(1)
	opts["inbound.quantity"] = "3"
	c.createSession(d, opts)
	if st := expect[*routerproto.SessionStatus](c, wait); st.Status != routerproto.SessionCreated {
		t.Fatalf("session status %s", st.Status)
	}
	exp := time.Now().Add(time.Minute).Truncate(time.Second)
	tr.r.ReportInbound(d.hash(), []Tunnel{{ID: 1, Gateway: fakeHash("a"), Expires: exp}})
	st := tr.r.Status(t.Context())
	if len(st.Sessions) != 1 || st.Sessions[0].UpstreamInbound == nil || *st.Sessions[0].UpstreamInbound != (InboundCount{Have: 1, Want: 3}) {
		t.Fatalf("status sessions %+v, want upstream_inbound {1 3}", st.Sessions)
	}

	own := startRouter(t, time.Minute, nil)
	oc := dial(t, own.addr, true)
	oc.openManaged(newDest(t), 1)
	if st := own.r.Status(t.Context()); len(st.Sessions) != 1 || st.Sessions[0].UpstreamInbound != nil {
		t.Fatalf("router with own tunnels: sessions %+v, want no upstream_inbound", st.Sessions)
	}
}

package router

import (
	"context"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/servetest"
	"github.com/imh-project/imh/router/simnet"
	"github.com/imh-project/imh/routerproto"
)

// startSimnetRouter serves a router attached to n as name.
func startSimnetRouter(t *testing.T, n *simnet.Network, name string) (*Router, string) {
	t.Helper()
	link, err := n.Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	be := NewSimnetBackend(link)
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.PublishRetry = 10 * time.Millisecond
	cfg.PublishRetryMax = 50 * time.Millisecond
	r, err := New(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := servetest.Loopback(t, r)
	t.Cleanup(func() { stop(); _ = be.Close() })
	return r, addr
}

func testNetwork(t *testing.T) *simnet.Network {
	t.Helper()
	cfg := simnet.DefaultConfig()
	cfg.Peers = 300
	cfg.Floodfills = 20
	cfg.RouterLatency = time.Millisecond
	cfg.BuildTimeout = 50 * time.Millisecond
	cfg.NetDBLatency = 2 * time.Millisecond
	n, err := simnet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// buildInbound asks for router-chosen inbound tunnels until one is built
// (simulated builds fail as the peers' reliability says).
func buildInbound(t *testing.T, c *tconn, id uint16, hops uint8) routerproto.TunnelInfo {
	t.Helper()
	for req := uint32(1); req < 50; req++ {
		c.send(&routerproto.CreateTunnel{RequestID: req, SessionID: id, Direction: routerproto.Inbound, HopCount: hops})
		ts := expect[*routerproto.TunnelStatus](c, wait)
		if ts.Result == routerproto.ResultOK {
			return ts.Tunnel
		}
	}
	t.Fatal("no inbound tunnel built in 50 attempts")
	return routerproto.TunnelInfo{}
}

// TestSimnetTwoManagedRouters is the balancer's path on the simulated
// network: one destination with a managed session on two routers, an
// inbound tunnel on each, one LeaseSet with both leases handed to both
// routers (stored once at the floodfills), and remote clients' messages
// delivered through both routers to their controllers.
func TestSimnetTwoManagedRouters(t *testing.T) {
	n := testNetwork(t)
	_, a1 := startSimnetRouter(t, n, "r1")
	r2, a2 := startSimnetRouter(t, n, "r2")
	d := newDest(t)
	c1, c2 := dial(t, a1, true), dial(t, a2, true)
	id1, id2 := c1.openManaged(d, 1), c2.openManaged(d, 1)

	c1.send(&routerproto.GetFastTier{RequestID: 1})
	if pl := expect[*routerproto.PeerList](c1, wait); pl.Result != routerproto.ResultOK || len(pl.Peers) == 0 {
		t.Fatalf("fast tier %+v", pl)
	}
	t1, t2 := buildInbound(t, c1, id1, 2), buildInbound(t, c2, id2, 2)

	pub := uint32(time.Now().Unix())
	cls := d.leaseSet(t, pub, []i2p.Lease2{t1.Lease(), t2.Lease()})
	for _, x := range []struct {
		c  *tconn
		id uint16
	}{{c1, id1}, {c2, id2}} {
		m := *cls
		m.SessionID = x.id
		x.c.send(&m)
		if st := expect[*routerproto.LeaseSetStatus](x.c, wait); st.State != routerproto.LeaseSetStored {
			t.Fatalf("first status %+v", st)
		}
		if st := expect[*routerproto.LeaseSetStatus](x.c, wait); st.State != routerproto.LeaseSetPublished || st.Published != pub {
			t.Fatalf("second status %+v", st)
		}
	}
	ds := n.DestStatus(d.hash())
	if ds.Stores != 1 || ds.Published != int64(pub) {
		t.Fatalf("floodfills: %d stores, published %d; want 1 store of %d", ds.Stores, ds.Published, pub)
	}

	res, err := n.Send(context.Background(), simnet.SendConfig{Dest: d.hash(), Count: 20, Clients: 8, Mode: simnet.ModeOneway, Behaviour: simnet.BehaviourJava})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 160 || res.ByRouter["r1"] == 0 || res.ByRouter["r2"] == 0 {
		t.Fatalf("send result %+v", res)
	}
	for _, x := range []struct {
		c    *tconn
		name string
		tun  routerproto.TunnelInfo
	}{{c1, "r1", t1}, {c2, "r2", t2}} {
		for range res.ByRouter[x.name] {
			from := expect[*routerproto.PayloadFrom](x.c, wait)
			p := expect[*routerproto.MessagePayload](x.c, wait)
			if from.TunnelID != x.tun.TunnelID || from.Gateway != x.tun.Gateway || len(p.Payload) == 0 {
				t.Fatalf("%s: payload from %+v, want tunnel %d", x.name, from, x.tun.TunnelID)
			}
		}
		x.c.expectNone(20 * time.Millisecond)
	}
	if st := r2.Status(context.Background()); st.Delivered != uint64(res.ByRouter["r2"]) || st.Backend != "simnet" || st.Hash != n.RouterHash("r2").String() {
		t.Fatalf("r2 status %+v", st)
	}
}

// TestSimnetUnmanagedProbe is what `imh i2cp probe` with keys does: an
// ordinary session with zero-hop tunnels, a lease request for tunnels the
// router built itself, and the answered LeaseSet stored by the floodfills.
func TestSimnetUnmanagedProbe(t *testing.T) {
	n := testNetwork(t)
	_, addr := startSimnetRouter(t, n, "r1")
	d := newDest(t)
	c := dial(t, addr, false)
	c.createSession(d, i2p.Mapping{"inbound.length": "0", "outbound.length": "0", "inbound.quantity": "1", "outbound.quantity": "1", "i2cp.leaseSetEncType": "4"})
	st := expect[*routerproto.SessionStatus](c, wait)
	req := expect[*routerproto.RequestVariableLeaseSet](c, wait)
	if len(req.Leases) != 1 || req.Leases[0].Gateway != n.RouterHash("r1") {
		t.Fatalf("lease request %+v: want one zero-hop lease at the router itself", req)
	}
	cls := d.leaseSet(t, uint32(time.Now().Unix()), []i2p.Lease2{req.Leases[0].ToLease2()})
	cls.SessionID = st.SessionID
	c.send(cls)
	eventually.True(t, wait, "leaseset stored by the floodfills", func() bool { return n.DestStatus(d.hash()).Stores == 1 })

	// A send to a destination without an endpoint finds no LeaseSet; a send
	// to an attached endpoint reaches its handler with the payload unchanged.
	c.send(&routerproto.SendMessage{SessionID: st.SessionID, Destination: newDest(t).keys.Destination(), Payload: []byte("x"), Nonce: 9})
	for _, want := range []routerproto.MessageStatusCode{routerproto.MsgAccepted, routerproto.MsgNoLeaseSet} {
		if ms := expect[*routerproto.MessageStatus](c, wait); ms.Status != want || ms.Nonce != 9 {
			t.Fatalf("message status %+v, want %d", ms, want)
		}
	}
	ep, err := n.AttachEndpoint(newDest(t).keys, simnet.BehaviourI2pd)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	got := make(chan []byte, 1)
	ep.SetHandler(func(p []byte) { got <- p })
	c.send(&routerproto.SendMessage{SessionID: st.SessionID, Destination: ep.Destination(), Payload: []byte("reply"), Nonce: 10})
	for _, want := range []routerproto.MessageStatusCode{routerproto.MsgAccepted, routerproto.MsgGuaranteedSuccess} {
		if ms := expect[*routerproto.MessageStatus](c, wait); ms.Status != want || ms.Nonce != 10 {
			t.Fatalf("message status %+v, want %d", ms, want)
		}
	}
	select {
	case p := <-got:
		if string(p) != "reply" {
			t.Fatalf("endpoint got %q", p)
		}
	case <-time.After(wait):
		t.Fatal("endpoint handler not called")
	}

	// The endpoint's payload through the session's lease reaches the
	// controller unchanged.
	if err := ep.Send(context.Background(), d.keys.Destination(), []byte("syn")); err != nil {
		t.Fatalf("endpoint send: %v", err)
	}
	if p := expectSkipping[*routerproto.MessagePayload](c, wait); string(p.Payload) != "syn" {
		t.Fatalf("controller got %q", p.Payload)
	}
}

package simnet_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/router/simnet"
)

// twoRouters sets up a destination hosted on r1 and r2 with three 2-hop
// inbound tunnels each.
func twoRouters(t *testing.T, seed int64) (n *simnet.Network, a, b *fakeRouter, d *testDest, ta, tb []simnet.Tunnel) {
	t.Helper()
	return twoRoutersConfig(t, testConfig(seed))
}

func twoRoutersConfig(t *testing.T, cfg simnet.Config) (n *simnet.Network, a, b *fakeRouter, d *testDest, ta, tb []simnet.Tunnel) {
	t.Helper()
	ctx := context.Background()
	seed := cfg.Seed
	n = newNetwork(t, cfg)
	a, b = attachFake(t, n, "r1"), attachFake(t, n, "r2")
	d = newTestDest(t, uint64(seed))
	a.host(d.hash())
	b.host(d.hash())
	ta = a.buildInbound(ctx, 3, 2, d.hash().B32())
	tb = b.buildInbound(ctx, 3, 2, d.hash().B32())
	return n, a, b, d, ta, tb
}

func TestOnewayBothRoutersAllDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		n, a, b, d, ta, tb := twoRouters(t, 7)
		if err := a.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, ta, tb)); err != nil {
			t.Fatalf("publish: %v", err)
		}
		res, err := n.Send(ctx, simnet.SendConfig{Dest: d.hash(), Count: 100, Clients: 40, Interval: time.Second, Mode: simnet.ModeOneway, Behaviour: simnet.BehaviourMix})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("oneway, 40 mixed clients x 100 messages, both routers' leases: %+v", res)
		if res.Delivered != 4000 || res.Failed != 0 {
			t.Fatalf("delivered %d failed %d, want 4000 and 0: %v", res.Delivered, res.Failed, res.Reasons)
		}
		if res.ByRouter["r1"] < 800 || res.ByRouter["r2"] < 800 {
			t.Fatalf("split %v, want both routers to get at least 20%%", res.ByRouter)
		}
		if a.receivedBy(d.hash()) != res.ByRouter["r1"] || b.receivedBy(d.hash()) != res.ByRouter["r2"] {
			t.Fatalf("routers received %d and %d, network counted %v", a.receivedBy(d.hash()), b.receivedBy(d.hash()), res.ByRouter)
		}
		// Each client looked the destination up once: its LeaseSet stayed valid.
		if st := n.DestStatus(d.hash()); st.Lookups != 40 || st.Traffic.Delivered != 4000 {
			t.Fatalf("floodfill lookups %d, traffic %+v; want 40 lookups", st.Lookups, st.Traffic)
		}
	})
}

func TestReqRespSessionBoundElsewhere(t *testing.T) {
	for _, tc := range []struct {
		name      string
		both      bool
		behaviour simnet.Behaviour
	}{
		{"both routers, i2pd", true, simnet.BehaviourI2pd},
		{"one router, i2pd", false, simnet.BehaviourI2pd},
		{"both routers, java", true, simnet.BehaviourJava},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				n, a, _, d, ta, tb := twoRouters(t, 8)
				tunnels := [][]simnet.Tunnel{ta}
				if tc.both {
					tunnels = append(tunnels, tb)
				}
				if err := a.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, tunnels...)); err != nil {
					t.Fatalf("publish: %v", err)
				}
				res, err := n.Send(ctx, simnet.SendConfig{Dest: d.hash(), Count: 200, Clients: 20, Interval: time.Second, Mode: simnet.ModeReqResp, Behaviour: tc.behaviour})
				if err != nil {
					t.Fatal(err)
				}
				lost := res.Reasons[string(simnet.ReasonBoundElsewhere)]
				t.Logf("reqresp, 20 %s clients x 200 messages at 1/s: delivered %d, lost %d (%.1f%%), session_bound_elsewhere %d, by router %v",
					tc.behaviour, res.Delivered, res.Failed, 100*float64(res.Failed)/4000, lost, res.ByRouter)
				switch {
				case tc.both && tc.behaviour == simnet.BehaviourI2pd:
					if lost == 0 || res.Failed != lost {
						t.Fatalf("want session_bound_elsewhere losses only, got %v", res.Reasons)
					}
				default:
					if res.Failed != 0 || res.Delivered != 4000 {
						t.Fatalf("want every message delivered, got %+v", res)
					}
				}
			})
		})
	}
}

// TestRouterDown: r1 goes down and r2 publishes a LeaseSet with only its own
// leases. Clients that cached the old LeaseSet lose messages sent to r1's
// leases until those have failed or they looked up again (a few each,
// TestRelookupAfterRouterKill); new clients lose nothing.
func TestRouterDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		n, a, b, d, ta, tb := twoRouters(t, 9)
		dest := d.hash()
		t0 := time.Now()
		const oldLifetime = 3 * time.Minute
		if err := a.link.Publish(ctx, d.leaseSet(t, t0, oldLifetime, ta, tb)); err != nil {
			t.Fatal(err)
		}
		var old []*simnet.Client
		for i := range 20 {
			old = append(old, n.NewClient(fmt.Sprintf("old%d", i), []simnet.Behaviour{simnet.BehaviourI2pd, simnet.BehaviourJava}[i%2]))
		}
		before := sendEach(t, old, dest, 10)
		if before.Failed != 0 {
			t.Fatalf("before the failure: %+v", before)
		}

		a.link.Close()
		if err := b.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, tb)); err != nil {
			t.Fatal(err)
		}
		// One old client restarts (forgets the LeaseSet): it looks up again.
		old[0].Forget(dest)
		var fresh []*simnet.Client
		for i := range 20 {
			fresh = append(fresh, n.NewClient(fmt.Sprintf("new%d", i), []simnet.Behaviour{simnet.BehaviourI2pd, simnet.BehaviourJava}[i%2]))
		}
		var oldRes, freshRes, restarted simnet.SendResult
		oldRes, freshRes, restarted = simnet.NewSendResult(), simnet.NewSendResult(), simnet.NewSendResult()
		for seq := range 60 {
			for i, c := range old {
				o := send(t, c, dest, seq)
				if i == 0 {
					restarted.Add(o)
				} else {
					oldRes.Add(o)
				}
			}
			for _, c := range fresh {
				freshRes.Add(send(t, c, dest, seq))
			}
			time.Sleep(time.Second)
		}
		t.Logf("r1 down, old LeaseSet cached: old clients %+v; restarted client %+v; new clients %+v", oldRes, restarted, freshRes)
		if oldRes.Reasons[string(simnet.ReasonRouterDown)] == 0 || oldRes.Failed != oldRes.Reasons[string(simnet.ReasonRouterDown)] {
			t.Fatalf("old clients: want router_down losses only, got %+v", oldRes)
		}
		if freshRes.Failed != 0 || freshRes.ByRouter["r1"] != 0 || restarted.Failed != 0 {
			t.Fatalf("new or restarted clients lost messages: %+v %+v", freshRes, restarted)
		}

		// Once the old LeaseSet has expired, old clients look up again.
		time.Sleep(time.Until(t0.Add(oldLifetime)) + time.Second)
		after := sendEach(t, old, dest, 20)
		t.Logf("after the old LeaseSet expired: old clients %+v", after)
		if after.Failed != 0 {
			t.Fatalf("old clients after expiry: %+v", after)
		}
	})
}

func send(t *testing.T, c *simnet.Client, dest [32]byte, seq int) simnet.Outcome {
	t.Helper()
	o, err := c.Send(context.Background(), dest, simnet.ModeOneway, uint64(seq))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// sendEach has every client send count one-way messages, one per second.
func sendEach(t *testing.T, clients []*simnet.Client, dest [32]byte, count int) simnet.SendResult {
	t.Helper()
	res := simnet.NewSendResult()
	for seq := range count {
		for _, c := range clients {
			res.Add(send(t, c, dest, seq))
		}
		time.Sleep(time.Second)
	}
	return res
}

// TestExpiredTunnelsRefuse: once its tunnels expire, a LeaseSet that is
// still valid delivers nothing, and the sender's lease choice skips ended
// leases.
func TestExpiredTunnelsRefuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		n, a, _, d, ta, _ := twoRouters(t, 10)
		// The LeaseSet claims the leases end later than the tunnels do.
		ls := d.leaseSet(t, time.Now(), 11*time.Minute, lengthen(ta, 3*time.Minute))
		if err := a.link.Publish(ctx, ls); err != nil {
			t.Fatal(err)
		}
		c := n.NewClient("late", simnet.BehaviourJava)
		if o := send(t, c, d.hash(), 0); !o.Delivered {
			t.Fatalf("first message: %+v", o)
		}
		time.Sleep(time.Until(ta[2].Expires) + time.Second)
		if o := send(t, c, d.hash(), 1); o.Reason != simnet.ReasonExpired {
			t.Fatalf("message to an expired tunnel: %+v, want expired", o)
		}
	})
}

func lengthen(ts []simnet.Tunnel, d time.Duration) []simnet.Tunnel {
	out := make([]simnet.Tunnel, len(ts))
	for i, t := range ts {
		t.Expires = t.Expires.Add(d)
		out[i] = t
	}
	return out
}

// TestBoundToDownRouter: request/response clients bound to r1 keep failing
// with session_bound_elsewhere at r2 after r1 goes away, even with a fresh
// LeaseSet, until their session expires (SessionLifetime after the last
// reply), as measured on i2pd.
func TestBoundToDownRouter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		cfg := testConfig(12)
		cfg.SessionLifetime = 4 * time.Minute
		n, a, b, d, ta, tb := twoRoutersConfig(t, cfg)
		dest := d.hash()
		if err := a.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, ta)); err != nil {
			t.Fatal(err)
		}
		c := n.NewClient("bound", simnet.BehaviourI2pd)
		reqresp := func(seq int) simnet.Outcome {
			o, err := c.Send(ctx, dest, simnet.ModeReqResp, uint64(seq))
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		if o := reqresp(0); !o.Delivered || o.Router != "r1" {
			t.Fatalf("first request: %+v", o)
		}
		lastReply := time.Now()
		a.link.Close()
		if err := b.link.Publish(ctx, d.leaseSet(t, time.Now().Add(time.Second), 9*time.Minute, tb)); err != nil {
			t.Fatal(err)
		}
		c.Forget(dest) // looks up again: gets r2's leases
		lost := 0
		seq := 1
		for ; time.Since(lastReply) < n.Config().SessionLifetime; seq++ {
			if o := reqresp(seq); o.Reason != simnet.ReasonBoundElsewhere {
				t.Fatalf("request %d at %v after the last reply: %+v, want session_bound_elsewhere", seq, time.Since(lastReply), o)
			}
			lost++
			time.Sleep(10 * time.Second)
		}
		o := reqresp(seq)
		t.Logf("client bound to r1 after r1 went down: %d requests lost over %v, then %+v", lost, n.Config().SessionLifetime, o)
		if !o.Delivered || o.Router != "r2" {
			t.Fatalf("after the session expired: %+v, want delivered at r2", o)
		}
	})
}

// TestSendDeterministic: the same seed gives the same traffic outcome, to
// the message, even though the clients run concurrently.
func TestSendDeterministic(t *testing.T) {
	run := func() simnet.SendResult {
		var res simnet.SendResult
		synctest.Test(t, func(t *testing.T) {
			ctx := context.Background()
			n, a, _, d, ta, tb := twoRouters(t, 13)
			if err := a.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, ta, tb)); err != nil {
				t.Fatal(err)
			}
			var err error
			res, err = n.Send(ctx, simnet.SendConfig{Dest: d.hash(), Count: 120, Clients: 10, Interval: time.Second, Mode: simnet.ModeReqResp, Behaviour: simnet.BehaviourMix})
			if err != nil {
				t.Fatal(err)
			}
		})
		return res
	}
	a, b := run(), run()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different traffic: %+v vs %+v", a, b)
	}
	t.Logf("seed 13, 10 mixed reqresp clients x 120: %+v", a)
}

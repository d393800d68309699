package simnet_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/router/simnet"
)

func TestOnewayTwoRoutersAllDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		n := newNetwork(t, testConfig(7))
		a, b := attachFake(t, n, "r1"), attachFake(t, n, "r2")
		d := newTestDest(t, 1)
		a.host(d.hash())
		b.host(d.hash())
		ta := a.buildInbound(ctx, 3, 2, d.hash().B32())
		tb := b.buildInbound(ctx, 3, 2, d.hash().B32())
		if err := a.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, ta, tb)); err != nil {
			t.Fatalf("publish: %v", err)
		}
		res, err := n.Send(ctx, simnet.SendConfig{Dest: d.hash(), Count: 50, Clients: 20, Interval: time.Second, Mode: simnet.ModeOneway, Behaviour: simnet.BehaviourMix})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("oneway, both routers' leases: %+v", res)
		if res.Delivered != 1000 || res.Failed != 0 {
			t.Fatalf("delivered %d failed %d, want 1000 and 0: %v", res.Delivered, res.Failed, res.Reasons)
		}
		if res.ByRouter["r1"] < 200 || res.ByRouter["r2"] < 200 {
			t.Fatalf("split %v, want both routers to get a share", res.ByRouter)
		}
	})
}

package simnet_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/router/simnet"
)

// TestRelookupAfterRouterKill: senders that cached a LeaseSet whose router
// was killed (and restarted, with new tunnels) move to the leases that
// still work and look the destination up again, so they take the newer
// LeaseSet the routers published and deliver again within a few messages,
// long before the cached LeaseSet expires (docs/reliability.md, "Delivery
// after a router SIGKILL"). Before, they kept losing messages until it
// expired: in the second case every one of them.
func TestRelookupAfterRouterKill(t *testing.T) {
	for _, tc := range []struct {
		name      string
		behaviour simnet.Behaviour
		killBoth  bool // kill and restart r1, then r2; else kill r1 only
		// maxLost bounds the messages each client loses after the kill;
		// every later message must be delivered.
		maxLost int
	}{
		// At most r1's three leases fail before the client only picks
		// r2's, or looks up and gets the LeaseSet without r1's.
		{"r1 killed, i2pd", simnet.BehaviourI2pd, false, 3},
		{"r1 killed, java", simnet.BehaviourJava, false, 3},
		// Every cached lease is dead: two failures in a row bring a lookup
		// once the last one is RelookupInterval (1 s, four messages) old.
		{"both killed and restarted, i2pd", simnet.BehaviourI2pd, true, 6},
		{"both killed and restarted, java", simnet.BehaviourJava, true, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				n, a, b, d, ta, tb := twoRouters(t, 21)
				dest := d.hash()
				if err := a.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, ta, tb)); err != nil {
					t.Fatal(err)
				}
				var clients []*simnet.Client
				for i := range 10 {
					clients = append(clients, n.NewClient(fmt.Sprintf("c%d", i), tc.behaviour))
				}
				const interval = 250 * time.Millisecond
				for seq := range 8 {
					for _, c := range clients {
						if o := send(t, c, dest, seq); !o.Delivered {
							t.Fatalf("before the kill: %+v", o)
						}
					}
					time.Sleep(interval)
				}
				lookups := n.DestStatus(dest).Lookups

				time.Sleep(time.Second) // the cached LeaseSet is now 3 s old
				a.link.Close()
				a = attachFake(t, n, "r1")
				a.host(dest)
				ta = a.buildInbound(ctx, 3, 2, dest.B32())
				if tc.killBoth {
					b.link.Close()
					b = attachFake(t, n, "r2")
					b.host(dest)
					tb = b.buildInbound(ctx, 3, 2, dest.B32())
				}
				if err := b.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, ta, tb)); err != nil {
					t.Fatal(err)
				}

				const count = 40 // 10 s, far less than the cached LeaseSet's 9 minutes
				lost := make([]int, len(clients))
				res := simnet.NewSendResult()
				for seq := range count {
					for i, c := range clients {
						o := send(t, c, dest, 8+seq)
						res.Add(o)
						if !o.Delivered {
							lost[i]++
							if lost[i] != seq+1 {
								t.Errorf("client %d: message %d after the kill lost (%s) after a delivered one", i, seq, o.Reason)
							}
						}
					}
					time.Sleep(interval)
				}
				relookups := n.DestStatus(dest).Lookups - lookups
				t.Logf("%d clients x %d messages after the kill: %+v, lost per client %v, lookups %d", len(clients), count, res, lost, relookups)
				for i, l := range lost {
					if l > tc.maxLost {
						t.Errorf("client %d lost %d messages after the kill, want at most %d", i, l, tc.maxLost)
					}
				}
				if relookups > 2*len(clients) {
					t.Errorf("%d lookups by %d clients after the kill, want at most two each", relookups, len(clients))
				}
			})
		})
	}
}

// TestRelookupRateLimited: a destination whose routers are all gone while
// its LeaseSet is still valid at the floodfills costs each sender at most
// one lookup per RelookupInterval, however fast it sends, and the sender
// does look up again (before, never until the LeaseSet expired).
func TestRelookupRateLimited(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration // between messages
		count    int
	}{
		{10 * time.Millisecond, 1000},
		{250 * time.Millisecond, 40},
		{time.Second, 10},
		{3 * time.Second, 5},
	} {
		t.Run(tc.interval.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				n, a, b, d, ta, tb := twoRouters(t, 22)
				dest := d.hash()
				if err := a.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, ta, tb)); err != nil {
					t.Fatal(err)
				}
				c := n.NewClient("c", simnet.BehaviourI2pd)
				if o := send(t, c, dest, 0); !o.Delivered {
					t.Fatalf("before the routers went: %+v", o)
				}
				a.link.Close()
				b.link.Close()
				start, before := time.Now(), n.DestStatus(dest).Lookups
				for seq := range tc.count {
					if o := send(t, c, dest, 1+seq); o.Delivered {
						t.Fatalf("message %d delivered with every router gone", seq)
					}
					time.Sleep(tc.interval)
				}
				took := time.Since(start)
				lookups := n.DestStatus(dest).Lookups - before
				// One lookup per RelookupInterval of sending, and one more
				// for the interval that began before the first message.
				limit := int(took/n.Config().RelookupInterval) + 1
				t.Logf("%d messages every %v (%v) to a destination without routers: %d lookups, at most %d", tc.count, tc.interval, took, lookups, limit)
				if lookups < 1 || lookups > limit {
					t.Errorf("%d lookups in %v, want 1..%d", lookups, took, limit)
				}
			})
		})
	}
}

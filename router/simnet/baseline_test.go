package simnet_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router/simnet"
)

// TestBaseline runs today's multihoming (each router publishes its own
// LeaseSet) with 1, 2 and 4 routers for 30 simulated minutes: every stored
// LeaseSet is one router's, each router's publications are stored in turn,
// and the floodfills' store count grows with the number of routers.
func TestBaseline(t *testing.T) {
	stores := map[int]int{}
	for _, routers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("routers=%d", routers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNetwork(t, testConfig(31))
				d := newTestDest(t, 31)
				var links []simnet.Link
				for i := range routers {
					l, err := n.Attach(fmt.Sprintf("b%d", i))
					if err != nil {
						t.Fatal(err)
					}
					links = append(links, l)
				}
				cfg := simnet.DefaultBaselineConfig(d.keys)
				cfg.LeaseSetKey = d.lsKey
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
				defer cancel()
				done := make(chan *simnet.Baseline)
				go func() {
					b, err := simnet.RunBaseline(ctx, n.Clock(), links, cfg, nil)
					if err != nil {
						t.Error(err)
					}
					done <- b
				}()
				// Meanwhile, remote clients send one-way and request/response.
				time.Sleep(2 * time.Minute)
				oneway, err := n.Send(ctx, simnet.SendConfig{Dest: d.hash(), Count: 300, Clients: 20, Interval: time.Second, Mode: simnet.ModeOneway, Behaviour: simnet.BehaviourMix})
				if err != nil {
					t.Fatal(err)
				}
				reqresp, err := n.Send(ctx, simnet.SendConfig{Dest: d.hash(), Count: 300, Clients: 20, Interval: time.Second, Mode: simnet.ModeReqResp, Behaviour: simnet.BehaviourI2pd})
				if err != nil {
					t.Fatal(err)
				}
				b := <-done
				st := n.DestStatus(d.hash())
				stores[routers] = st.Stores
				t.Logf("baseline, %d routers, 30 min: %d stores (%v per router, %v rejected), %d lookups; oneway %d/%d delivered %v; reqresp %d/%d delivered %v",
					routers, st.Stores, b.Stats().Publishes, b.Stats().Rejected, st.Lookups,
					oneway.Delivered, oneway.Delivered+oneway.Failed, oneway.Reasons, reqresp.Delivered, reqresp.Delivered+reqresp.Failed, reqresp.Reasons)

				owners, switches, prev := map[string]int{}, 0, ""
				for i, h := range st.History {
					raw, err := i2p.Base64.DecodeString(h.LeaseSet)
					if err != nil {
						t.Fatal(err)
					}
					ls, err := i2p.ParseLeaseSet2(raw)
					if err != nil {
						t.Fatal(err)
					}
					owner := ""
					for _, l := range ls.Leases {
						o, ok := n.TunnelOwner(l)
						if !ok || (owner != "" && o != owner) {
							t.Fatalf("history[%d]: leases of %q and %q: not one router's", i, owner, o)
						}
						owner = o
					}
					owners[owner]++
					if prev != "" && owner != prev {
						switches++
					}
					prev = owner
				}
				if len(owners) != routers {
					t.Fatalf("stored LeaseSets came from %v, want all %d routers", owners, routers)
				}
				if routers > 1 && switches < routers {
					t.Fatalf("the stored LeaseSet switched routers only %d times", switches)
				}
				if oneway.Failed != 0 {
					t.Fatalf("oneway traffic lost messages: %+v", oneway)
				}
			})
		})
	}
	if !(stores[1] < stores[2] && stores[2] < stores[4]) {
		t.Fatalf("stores by number of routers %v, want growth", stores)
	}
}

// TestRemoteBaseline runs the baseline on two stock routers attached to a
// served network over loopback TCP until its context ends: both attach,
// and the stats come back; a config that cannot run is refused before
// anything is dialled.
func TestRemoteBaseline(t *testing.T) {
	n := newNetwork(t, fastConfig(33))
	addr, _ := serveNetwork(t, n)
	d := newTestDest(t, 33)
	cfg := simnet.DefaultBaselineConfig(d.keys)
	cfg.LeaseSetKey = d.lsKey

	bad := cfg
	bad.Inbound = 0
	if _, err := simnet.RemoteBaseline(context.Background(), "simnet://127.0.0.1:1", []string{"b0"}, bad, nil); !errors.Is(err, simnet.ErrBadRequest) {
		t.Fatalf("inbound 0: %v, want ErrBadRequest before dialling", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := simnet.RemoteBaseline(ctx, addr, []string{"b0", "b1"}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Publishes == nil || st.Rejected == nil || st.Received == nil {
		t.Fatalf("stats %+v: want every map", st)
	}
	if got := len(n.Status().Routers); got != 0 {
		t.Errorf("%d routers still attached after RemoteBaseline returned", got)
	}
}

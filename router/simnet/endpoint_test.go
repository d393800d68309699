package simnet_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/router/simnet"
)

// recorder collects what an endpoint's handler is given.
type recorder struct {
	mu  sync.Mutex
	got [][]byte
}

func (r *recorder) add(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, p)
}

func (r *recorder) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.got...)
}

// TestEndpointTwoWay: an endpoint sends through the service's leases, the
// router that received answers it, and a send of the other router binds
// the endpoint's session there, so the java endpoint's lease (on the first
// router) then fails as session_bound_elsewhere.
func TestEndpointTwoWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		n, a, b, d, ta, tb := twoRouters(t, 31)
		if err := a.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, ta, tb)); err != nil {
			t.Fatalf("publish: %v", err)
		}
		e, err := n.AttachEndpoint(newTestDest(t, 3100).keys, simnet.BehaviourJava)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		if _, err := n.AttachEndpoint(newTestDest(t, 3100).keys, simnet.BehaviourJava); !errors.Is(err, simnet.ErrDestInUse) {
			t.Fatalf("second endpoint of one destination: %v, want ErrDestInUse", err)
		}
		var rec recorder
		e.SetHandler(rec.add)

		to, err := e.Lookup(ctx, d.hash())
		if err != nil || !to.Equal(d.keys.Destination()) {
			t.Fatalf("lookup: %v, %v", to, err)
		}
		if err := e.Send(ctx, to, []byte("syn")); err != nil {
			t.Fatalf("send: %v", err)
		}
		first, other := a, b
		if b.lastPayload() != nil {
			first, other = b, a
		}
		if got := string(first.lastPayload()); got != "syn" {
			t.Fatalf("router got %q, want the endpoint's payload unchanged", got)
		}

		if err := first.link.Send(ctx, d.hash(), e.Destination(), []byte("syn-ack")); err != nil {
			t.Fatalf("router send: %v", err)
		}
		synctest.Wait()
		if got := rec.all(); len(got) != 1 || string(got[0]) != "syn-ack" {
			t.Fatalf("endpoint got %q", got)
		}
		if err := e.Send(ctx, to, []byte("ack")); err != nil {
			t.Fatalf("send to the router that answered: %v", err)
		}

		// The other router answers: the session is bound there now.
		if err := other.link.Send(ctx, d.hash(), e.Destination(), []byte("stray")); err != nil {
			t.Fatalf("other router send: %v", err)
		}
		err = e.Send(ctx, to, []byte("data"))
		var nd *simnet.NotDeliveredError
		if !errors.As(err, &nd) || nd.Reason != simnet.ReasonBoundElsewhere || !errors.Is(err, simnet.ErrNotDelivered) {
			t.Fatalf("send after the other router answered: %v, want session_bound_elsewhere", err)
		}
		st := n.DestStatus(d.hash())
		if st.Traffic.Delivered != 2 || st.Traffic.Reasons[string(simnet.ReasonBoundElsewhere)] != 1 {
			t.Fatalf("traffic %+v", st.Traffic)
		}
		if got := n.Stats()[first.link.Name()]; got.Sent != 1 || got.Delivered < 2 {
			t.Fatalf("stats of %s: %+v", first.link.Name(), got)
		}

		if err := a.link.Send(ctx, d.hash(), newTestDest(t, 3101).keys.Destination(), []byte("x")); !errors.Is(err, simnet.ErrNoEndpoint) {
			t.Fatalf("router send to no endpoint: %v, want ErrNoEndpoint", err)
		}
		if err := e.Send(ctx, newTestDest(t, 3102).keys.Destination(), []byte("x")); !errors.As(err, &nd) || nd.Reason != simnet.ReasonNoLeaseSet {
			t.Fatalf("send to an unpublished destination: %v, want no_leaseset", err)
		}

		// Closing stops the endpoint's goroutine (synctest would report it
		// leaked) and detaches it.
		e.Close()
		if err := a.link.Send(ctx, d.hash(), e.Destination(), []byte("x")); !errors.Is(err, simnet.ErrNoEndpoint) {
			t.Fatalf("router send to a closed endpoint: %v, want ErrNoEndpoint", err)
		}
		if err := e.Send(ctx, to, []byte("x")); !errors.Is(err, simnet.ErrClosed) {
			t.Fatalf("send on a closed endpoint: %v, want ErrClosed", err)
		}
	})
}

// TestEndpointReqResp: routers that answer every payload (from inside their
// delivery handlers) bind an i2pd endpoint's session to the answering
// router; with both routers' leases (spread) its re-picks then lose
// payloads as session_bound_elsewhere, with one router's (failover) none.
func TestEndpointReqResp(t *testing.T) {
	for _, spread := range []bool{true, false} {
		t.Run(map[bool]string{true: "spread", false: "failover"}[spread], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				n, a, b, d, ta, tb := twoRouters(t, 32)
				tunnels := [][]simnet.Tunnel{ta}
				if spread {
					tunnels = append(tunnels, tb)
				}
				if err := a.link.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, tunnels...)); err != nil {
					t.Fatalf("publish: %v", err)
				}
				e, err := n.AttachEndpoint(newTestDest(t, 3200).keys, simnet.BehaviourI2pd)
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				for _, r := range []*fakeRouter{a, b} {
					r.link.SetDeliveryHandler(func(dl simnet.Delivery) bool {
						ok := r.accept(dl)
						if ok {
							if err := r.link.Send(ctx, dl.Dest, e.Destination(), []byte("resp")); err != nil {
								t.Errorf("answer from %s: %v", r.link.Name(), err)
							}
						}
						return ok
					})
				}
				lost := 0
				for range 200 {
					err := e.Send(ctx, d.keys.Destination(), []byte("req"))
					var nd *simnet.NotDeliveredError
					switch {
					case errors.As(err, &nd) && nd.Reason == simnet.ReasonBoundElsewhere:
						lost++
					case err != nil:
						t.Fatalf("send: %v", err)
					}
					time.Sleep(time.Second)
				}
				t.Logf("200 requests at 1/s, i2pd endpoint: %d lost as session_bound_elsewhere", lost)
				if got := n.DestStatus(d.hash()).Traffic.Reasons[string(simnet.ReasonBoundElsewhere)]; got != lost {
					t.Fatalf("traffic counts %d session_bound_elsewhere, send reported %d", got, lost)
				}
				if spread != (lost > 0) {
					t.Fatalf("spread %v: %d lost", spread, lost)
				}
			})
		})
	}
}

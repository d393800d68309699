package balancer

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/servetest"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/simnet"
	"github.com/imh-project/imh/routerproto"
)

// simRouter is an imh router on the in-process simulated network, served
// on a loopback port.
type simRouter struct {
	r    *router.Router
	addr string
	stop func()
}

func startSimRouter(t *testing.T, n *simnet.Network, name string) *simRouter {
	t.Helper()
	link, err := n.Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	be := router.NewSimnetBackend(link)
	cfg := router.DefaultConfig()
	cfg.Name = name
	cfg.PublishRetry = 10 * time.Millisecond
	cfg.PublishRetryMax = 100 * time.Millisecond
	r, err := router.New(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := servetest.Loopback(t, r)
	sr := &simRouter{r: r, addr: addr}
	var once sync.Once
	sr.stop = func() { once.Do(func() { stop(); _ = be.Close() }) }
	t.Cleanup(sr.stop)
	return sr
}

// storedLeaseSet is what the simulated floodfills serve for the destination.
func storedLeaseSet(t *testing.T, n *simnet.Network, h i2p.Hash) *i2p.LeaseSet2 {
	t.Helper()
	hist := n.DestStatus(h).History
	if len(hist) == 0 {
		return nil
	}
	b, err := i2p.Base64.DecodeString(hist[len(hist)-1].LeaseSet)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := i2p.ParseLeaseSet2(b)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// fastSimnet is a simulated network with peers and floodfills, fast
// enough for tests on a loaded machine.
func fastSimnet(t *testing.T, peers, floodfills int) *simnet.Network {
	t.Helper()
	ncfg := simnet.DefaultConfig()
	ncfg.Peers, ncfg.Floodfills = peers, floodfills
	ncfg.RouterLatency, ncfg.NetDBLatency = time.Millisecond, 2*time.Millisecond
	ncfg.BuildTimeout = 200 * time.Millisecond
	n, err := simnet.New(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The whole path in one process, real sockets: balancer -> routerproto
// Client -> 4 imh routers -> simulated network. The floodfills end up with
// one verified LeaseSet of 12 leases, 3 per router, whose gateways are the
// first hops of live tunnels and members of the gateway set, and remote
// clients' one-way traffic reaches all 4 routers. Then a router dies: its
// leases leave the stored LeaseSet within seconds.
func TestSimnetEndToEnd(t *testing.T) {
	n := fastSimnet(t, 600, 20)
	cl := newFakeCluster(3)
	routers := map[string]*simRouter{}
	for _, name := range []string{"r1", "r2", "r3", "r4"} {
		routers[name] = startSimRouter(t, n, name)
		cl.mustApply(t, &fsm.RouterPut{Name: name, Addr: routers[name].addr})
	}
	keys, _ := cl.addDest(t, "web", 9, fsm.DefaultSettings())
	h := keys.Destination().Hash()

	b := runSimnetBalancer(t, cl, 300*time.Millisecond)

	start := time.Now()
	eventually.True(t, 60*time.Second, "12 leases stored at the floodfills", func() bool {
		ls := storedLeaseSet(t, n, h)
		return ls != nil && len(ls.Leases) == 12
	})
	t.Logf("12-lease LeaseSet stored %s after start", time.Since(start).Round(time.Millisecond))
	ls := storedLeaseSet(t, n, h)
	if err := ls.Verify(); err != nil || !ls.Destination.Equal(keys.Destination()) {
		t.Fatalf("stored leaseset: %v", err)
	}
	view, _ := b.Destination("web")
	by := map[string]int{}
	for _, l := range ls.Leases {
		owner, ok := n.TunnelOwner(l)
		if !ok {
			t.Fatalf("lease %d names no simnet tunnel", l.TunnelID)
		}
		by[owner]++
		if !slices.Contains(view.GatewaySet, l.Gateway.String()) {
			t.Fatalf("gateway %s not in the gateway set", l.Gateway)
		}
		first := false
		for _, tu := range routers[owner].r.Status(t.Context()).Tunnels {
			if tu.Direction == "inbound" && tu.ID == l.TunnelID && len(tu.Hops) > 0 && tu.Hops[0] == l.Gateway.String() {
				first = true
			}
		}
		if !first {
			t.Fatalf("gateway %s is not the first hop of a live tunnel of %s", l.Gateway, owner)
		}
	}
	if len(by) != 4 || by["r1"] != 3 || by["r2"] != 3 || by["r3"] != 3 || by["r4"] != 3 {
		t.Fatalf("leases by router %v", by)
	}
	if !view.GatewayPolicyEnforced || len(view.GatewaySet) != 19 {
		t.Fatalf("view %+v", view)
	}

	res, err := n.Send(t.Context(), simnet.SendConfig{Dest: h, Count: 10, Clients: 40, Mode: simnet.ModeOneway, Behaviour: simnet.BehaviourI2pd})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 400 || len(res.ByRouter) != 4 {
		t.Fatalf("one-way: %+v", res)
	}
	eventually.True(t, 5*time.Second, "payloads counted per router", func() bool {
		v, _ := b.Destination("web")
		total := 0
		for _, c := range v.PayloadsByRouter {
			total += c
		}
		return total == 400 && len(v.PayloadsByRouter) == 4
	})

	routers["r2"].stop()
	killed := time.Now()
	eventually.True(t, 10*time.Second, "r2's leases leave the stored leaseset", func() bool {
		for _, l := range storedLeaseSet(t, n, h).Leases {
			if owner, _ := n.TunnelOwner(l); owner == "r2" {
				return false
			}
		}
		return true
	})
	t.Logf("dead router's leases left the stored LeaseSet after %s", time.Since(killed).Round(time.Millisecond))
	eventually.True(t, 60*time.Second, "the other routers cover r2's share (12 leases again)", func() bool {
		ls := storedLeaseSet(t, n, h)
		by := map[string]int{}
		for _, l := range ls.Leases {
			owner, _ := n.TunnelOwner(l)
			by[owner]++
		}
		return len(ls.Leases) == 12 && by["r2"] == 0
	})
	t.Logf("lease count recovered %s after the router died", time.Since(killed).Round(time.Millisecond))
}

// runSimnetBalancer runs a balancer over cl with real router connections
// and quick retries until the test ends.
func runSimnetBalancer(t *testing.T, cl *fakeCluster, coalesce time.Duration, opts ...func(*Config)) *Balancer {
	t.Helper()
	b, stop := startSimnetBalancer(t, cl, coalesce, opts...)
	t.Cleanup(stop)
	return b
}

// startSimnetBalancer runs a balancer until stop is called (a leader that
// loses its leadership or crashes).
func startSimnetBalancer(t *testing.T, cl *fakeCluster, coalesce time.Duration, opts ...func(*Config)) (*Balancer, func()) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Cluster, cfg.Logger = cl, testLogger(t)
	cfg.Dial = RouterDialer(routerproto.DefaultClientConfig(), nil)
	cfg.Coalesce = coalesce
	cfg.Backoff = Backoff{Base: 50 * time.Millisecond, Max: time.Second, Jitter: 0.2}
	cfg.Reconnect = Backoff{Base: 50 * time.Millisecond, Max: 500 * time.Millisecond, Jitter: 0.2}
	for _, o := range opts {
		o(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	return b, func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
}

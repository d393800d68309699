//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/i2pdnet"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/i2cpup"
	"github.com/imh-project/imh/routerproto"
)

// TestI2CPUpBackendOnTestnet puts an imh router (package router over the
// i2cpup Backend, in this process, serving routerproto on 127.0.0.1) in
// front of the stock i2pd r4 of the private network; its upstream
// connection is opened inside the namespace. The test plays the balancer:
// a managed session, tunnels reported from the upstream's lease request,
// a LeaseSet2 it signs, reported published and stored at a floodfill;
// then a datagram from a session on r5 reaches the balancer as a payload.
func TestI2CPUpBackendOnTestnet(t *testing.T) {
	i2pdPool.join(t)
	requireTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cleanupStale(ctx, t)
	n, err := i2pdnet.Start(ctx, i2pdnet.Options{Log: testnetLogger(t)})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range n.Routers() {
				t.Logf("--- %s log tail:\n%s", r.Name(), n.LogTail(r.Index, 15))
			}
		}
		_ = n.Close()
	})
	if err := n.WaitReady(ctx); err != nil {
		t.Fatalf("wait ready: %v", err)
	}

	be, err := i2cpup.NewBackend(i2cpup.Config{Addr: n.Router(4).I2CPAddr, Dial: n.DialContext, Logger: testnetLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := router.DefaultConfig()
	cfg.Name = "r4-up"
	cfg.Logger = testnetLogger(t)
	rt, err := router.New(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	be.AttachRouter(rt)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { _ = rt.Serve(sctx, ln); close(served) }()
	t.Cleanup(func() { scancel(); <-served; _ = be.Close() })

	c, err := routerproto.Dial(ctx, ln.Addr().String(), routerproto.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lsk, err := i2p.NewLeaseSetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	opts := i2p.Mapping{"imh.managed": "true", "imh.term": "1", "inbound.length": "1", "outbound.length": "1",
		"inbound.quantity": "2", "outbound.quantity": "2", "i2cp.leaseSetType": "3", "i2cp.leaseSetEncType": "4"}
	sc, err := routerproto.SignSessionConfig(keys, opts, uint64(c.RouterNow().UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	sid, err := c.CreateSession(ctx, sc)
	if err != nil {
		t.Fatalf("create session: %v", err)
	}

	// The balancer loop: sign a LeaseSet with every reported inbound
	// tunnel, again on every report or NeedLeaseSet, until published.
	var (
		inbound   = map[uint32]routerproto.TunnelInfo{}
		published uint32
		signed    int
		tPub      time.Duration
	)
	sign := func() {
		ls := &i2p.LeaseSet2{Destination: keys.Destination(), Published: max(uint32(time.Now().Unix()), published+1), Expires: 600,
			Keys: []i2p.EncryptionKey{lsk.EncryptionKey()}}
		for _, ti := range inbound {
			if len(ls.Leases) < i2p.MaxLeases {
				ls.Leases = append(ls.Leases, i2p.Lease2{Gateway: ti.Gateway, TunnelID: ti.TunnelID, End: ti.Expires})
			}
		}
		if err := ls.Sign(keys); err != nil {
			t.Fatal(err)
		}
		published = ls.Published
		signed++
		if err := c.CreateLeaseSet2(&routerproto.CreateLeaseSet2{SessionID: sid, LeaseSet: ls,
			PrivateKeys: []routerproto.LeaseSetPrivateKey{{Type: i2p.EncX25519, Key: lsk.Private()}}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(3 * time.Minute)
	for tPub == 0 {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("router connection ended: %v", c.Err())
			}
			switch m := ev.Message.(type) {
			case *routerproto.TunnelStatus:
				if m.Result == routerproto.ResultOK && m.Tunnel.Direction == routerproto.Inbound {
					inbound[m.Tunnel.TunnelID] = m.Tunnel
					sign()
				}
			case *routerproto.NeedLeaseSet:
				if len(inbound) > 0 {
					sign()
				}
			case *routerproto.LeaseSetStatus:
				t.Logf("leaseset %d: %v %s", m.Published, m.State, m.Reason)
				if m.State == routerproto.LeaseSetPublished && m.Published == published {
					tPub = time.Since(t0)
				}
			}
		case <-deadline:
			t.Fatalf("no published LeaseSet within 3m (%d tunnels reported, %d signed)", len(inbound), signed)
		}
	}
	t.Logf("managed session %d over the upstream: %d inbound tunnels reported, LeaseSet published after %v (%d signed)", sid, len(inbound), tPub.Round(time.Millisecond), signed)
	stored := waitFloodfillStore(ctx, t, n, time.Minute, 15*time.Second, "the LeaseSet", func(ls i2pdnet.LeaseSetInfo) bool {
		return ls.Hash == keys.Destination().Hash()
	})
	t.Logf("stored at a floodfill after %v (floodfills: %v)", stored.FirstAt.Sub(t0).Round(time.Millisecond), stored)
}

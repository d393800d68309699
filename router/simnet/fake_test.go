package simnet_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router/simnet"
)

// fakeRouter plays an imh router on the network: it builds inbound tunnels,
// hosts destinations and accepts deliveries for them on its live tunnels.
type fakeRouter struct {
	t     testing.TB
	link  simnet.Link
	clock simnet.Clock

	mu       sync.Mutex
	dests    map[i2p.Hash]bool
	tunnels  map[uint32]simnet.Tunnel
	received map[i2p.Hash]int
	payloads [][]byte // every accepted payload, in order
}

func newFakeRouter(t testing.TB, link simnet.Link, clock simnet.Clock) *fakeRouter {
	r := &fakeRouter{
		t: t, link: link, clock: clock,
		dests:    make(map[i2p.Hash]bool),
		tunnels:  make(map[uint32]simnet.Tunnel),
		received: make(map[i2p.Hash]int),
	}
	link.SetDeliveryHandler(r.accept)
	return r
}

func attachFake(t testing.TB, n *simnet.Network, name string) *fakeRouter {
	t.Helper()
	l, err := n.Attach(name)
	if err != nil {
		t.Fatalf("attach %s: %v", name, err)
	}
	return newFakeRouter(t, l, n.Clock())
}

func (r *fakeRouter) accept(d simnet.Delivery) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	tun, ok := r.tunnels[d.TunnelID]
	if !ok || !r.dests[d.Dest] || !r.clock.Now().Before(tun.Expires) || tun.Gateway != d.Gateway {
		return false
	}
	r.received[d.Dest]++
	r.payloads = append(r.payloads, d.Payload)
	return true
}

func (r *fakeRouter) host(dest i2p.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dests[dest] = true
}

func (r *fakeRouter) receivedBy(dest i2p.Hash) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received[dest]
}

func (r *fakeRouter) lastPayload() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.payloads) == 0 {
		return nil
	}
	return r.payloads[len(r.payloads)-1]
}

// buildInbound builds count inbound tunnels of hops hops, retrying failed
// builds (at most 20 attempts per tunnel).
func (r *fakeRouter) buildInbound(ctx context.Context, count, hops int, pool string) []simnet.Tunnel {
	r.t.Helper()
	var out []simnet.Tunnel
	for range count {
		var err error
		for attempt := 0; attempt < 20; attempt++ {
			var tun simnet.Tunnel
			tun, err = r.link.BuildTunnel(ctx, simnet.BuildRequest{Inbound: true, HopCount: hops, Pool: pool})
			if err == nil {
				r.mu.Lock()
				r.tunnels[tun.ID] = tun
				r.mu.Unlock()
				out = append(out, tun)
				break
			}
			if !errors.Is(err, simnet.ErrBuildFailed) {
				r.t.Fatalf("build on %s: %v", r.link.Name(), err)
			}
		}
		if err != nil {
			r.t.Fatalf("build on %s: 20 attempts failed: %v", r.link.Name(), err)
		}
	}
	return out
}

// testDest is a destination with its keys.
type testDest struct {
	keys  *i2p.PrivateKeys
	lsKey *i2p.LeaseSetKey
}

func newTestDest(t testing.TB, seed uint64) *testDest {
	t.Helper()
	rnd := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 0xd}) // deterministic keys
	keys, err := i2p.NewPrivateKeys(rnd)
	if err != nil {
		t.Fatal(err)
	}
	lsKey, err := i2p.NewLeaseSetKey(rnd)
	if err != nil {
		t.Fatal(err)
	}
	return &testDest{keys: keys, lsKey: lsKey}
}

func (d *testDest) hash() i2p.Hash { return d.keys.Destination().Hash() }

// leaseSet signs a LeaseSet2 with the tunnels' leases, published at pub and
// valid for expires.
func (d *testDest) leaseSet(t testing.TB, pub time.Time, expires time.Duration, tunnels ...[]simnet.Tunnel) []byte {
	t.Helper()
	ls := &i2p.LeaseSet2{
		Destination: d.keys.Destination(),
		Published:   uint32(pub.Unix()),
		Expires:     uint16(expires / time.Second),
		Keys:        []i2p.EncryptionKey{d.lsKey.EncryptionKey()},
	}
	for _, ts := range tunnels {
		for _, tun := range ts {
			ls.Leases = append(ls.Leases, tun.Lease2())
		}
	}
	if err := ls.Sign(d.keys); err != nil {
		t.Fatal(err)
	}
	b, err := ls.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testConfig is the default model with a smaller population, for speed.
func testConfig(seed int64) simnet.Config {
	cfg := simnet.DefaultConfig()
	cfg.Seed = seed
	return cfg
}

func newNetwork(t testing.TB, cfg simnet.Config) *simnet.Network {
	t.Helper()
	n, err := simnet.New(cfg)
	if err != nil {
		t.Fatalf("new network: %v", err)
	}
	return n
}

package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/observe"
	"github.com/imh-project/imh/router/simnet"
)

// manualClock is simnet's clock under the sim's control: the network's
// fast tiers advance with it. Nothing in the sim sleeps on it.
type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time { return c.now }

// NewTimer is never used by the calls the sim makes (FastTier); a timer
// that never fires keeps the interface honest.
func (c *manualClock) NewTimer(time.Duration) simnet.Timer { return idleTimer{} }

type idleTimer struct{}

func (idleTimer) C() <-chan time.Time { return nil }
func (idleTimer) Stop() bool          { return true }

// sim is one run: a clock, an event queue, the network and the netDB.
type sim struct {
	clock *manualClock
	q     queue
	seq   uint64
	err   error
	seed  uint64

	net     *simnet.Network
	ncfg    simnet.Config
	routers map[string]*router
	db      netDB

	keys     *i2p.PrivateKeys
	encKey   *i2p.LeaseSetKey
	hopCount int
}

func newSim(c Config, seed uint64) (*sim, error) {
	clk := &manualClock{now: Start}
	ncfg := simnet.DefaultConfig()
	ncfg.Seed = int64(seed)
	ncfg.Clock = clk
	n, err := simnet.New(ncfg)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	keys, encKey, err := destKeys(seed)
	if err != nil {
		return nil, err
	}
	return &sim{clock: clk, seed: seed, net: n, ncfg: ncfg, routers: map[string]*router{}, keys: keys, encKey: encKey, hopCount: c.Hops}, nil
}

// destKeys makes the destination's keys from the run's seed, so that the
// same seed gives the same bytes.
func destKeys(seed uint64) (*i2p.PrivateKeys, *i2p.LeaseSetKey, error) {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	copy(s[8:], "imh observe destination")
	r := rand.NewChaCha8(s)
	k, err := i2p.NewPrivateKeys(r)
	if err != nil {
		return nil, nil, fmt.Errorf("destination keys: %w", err)
	}
	x, err := i2p.NewLeaseSetKey(r)
	if err != nil {
		return nil, nil, fmt.Errorf("leaseset key: %w", err)
	}
	return k, x, nil
}

// rng is a generator for one purpose of the run, named by labels.
func (s *sim) rng(labels ...string) *rand.Rand {
	return simnet.SeededRand(int64(s.seed), labels...)
}

// router is one simulated I2P router of the destination.
type router struct {
	name string
	hash i2p.Hash
	link simnet.Link
	rng  *rand.Rand // its build outcomes and tunnel ids
}

// router attaches (once) the router called name.
func (s *sim) router(name string) *router {
	if r := s.routers[name]; r != nil {
		return r
	}
	link, err := s.net.Attach(name)
	if err != nil {
		s.fail(fmt.Errorf("attach %s: %w", name, err))
		return &router{name: name}
	}
	r := &router{name: name, hash: link.Hash(), link: link, rng: s.rng("router", name)}
	s.routers[name] = r
	return r
}

// tier is the router's fast tier now.
func (s *sim) tier(r *router) []simnet.Peer {
	if r.link == nil {
		return nil
	}
	t, err := r.link.FastTier(context.Background())
	if err != nil {
		s.fail(fmt.Errorf("fast tier of %s: %w", r.name, err))
	}
	return t
}

// tunnel is one live inbound tunnel.
type tunnel struct {
	id      uint32
	gateway i2p.Hash
	expires time.Time
}

// build draws the outcome of building an inbound tunnel through hops
// (gateway first) as simnet's model does: each hop accepts with its
// reliability; the answer takes the router's latency plus each hop's
// sampled latency, or BuildTimeout when a failing hop drops the request.
// done runs when the answer comes, with ok and the tunnel.
func (s *sim) build(r *router, hops []i2p.Hash, done func(t tunnel, ok bool)) {
	cfg := s.ncfg
	took, ok := cfg.RouterLatency, true
	for _, h := range hops {
		p, known := s.net.Peer(h)
		if !known {
			s.fail(fmt.Errorf("build on %s: unknown peer %s", r.name, h))
			return
		}
		took += time.Duration(float64(p.Latency) * (0.5 + r.rng.Float64()))
		if r.rng.Float64() >= p.Reliability {
			ok = false
			if r.rng.Float64() < cfg.DropShare {
				took = cfg.BuildTimeout
			}
			break
		}
	}
	id := r.rng.Uint32() | 1
	s.at(s.clock.now.Add(took), func() {
		t := tunnel{id: id, expires: s.clock.now.Add(cfg.TunnelLifetime)}
		if len(hops) > 0 {
			t.gateway = hops[0]
		} else {
			t.gateway = r.hash
		}
		done(t, ok)
	})
}

// netDB is the floodfills as one store: a LeaseSet is stored when its
// `published` is newer than the one held, NetDBLatency after it was sent;
// each store is recorded.
type netDB struct {
	published uint32
	stores    []observe.Store
}

// send hands ls to the floodfills.
func (s *sim) send(ls *i2p.LeaseSet2) {
	s.at(s.clock.now.Add(s.ncfg.NetDBLatency), func() {
		if ls.Published <= s.db.published {
			return
		}
		st, err := observe.NewStore(s.clock.now, ls)
		if err != nil {
			s.fail(fmt.Errorf("store: %w", err))
			return
		}
		s.db.published = ls.Published
		s.db.stores = append(s.db.stores, st)
	})
}

// Package observetest makes synthetic LeaseSet histories for tests: real
// signed LeaseSet2s from a simple single-router model, deterministic for a
// seed, so that tests of the analyzer (and of whatever feeds it) can use
// histories whose differences are known.
package observetest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/observe"
)

// Start is the start of every synthetic history.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Synth describes a synthetic single-router history: a router keeps
// Tunnels inbound tunnels of 10 minutes, replaces each 8 to 9.5 minutes
// after it was built through a gateway drawn from Pool peers, and publishes
// (and a floodfill stores) a new LeaseSet at every replacement. Pool and
// Tunnels are what tests vary; Seed varies everything else.
type Synth struct {
	Seed    uint64
	Pool    int
	Tunnels int
	Hours   float64
}

// Keys makes a destination's keys from a seeded reader: fast and the same
// every run.
func Keys(seed uint64) (*i2p.PrivateKeys, *i2p.LeaseSetKey, error) {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	r := rand.NewChaCha8(s)
	k, err := i2p.NewPrivateKeys(r)
	if err != nil {
		return nil, nil, err
	}
	x, err := i2p.NewLeaseSetKey(r)
	if err != nil {
		return nil, nil, err
	}
	return k, x, nil
}

// SignedStore builds and signs a LeaseSet2 with leases, published at
// published (expires: the latest lease end, at most 660 s ahead), stored at
// at.
func SignedStore(k *i2p.PrivateKeys, x *i2p.LeaseSetKey, at time.Time, published uint32, leases []i2p.Lease2) (observe.Store, error) {
	var last uint32
	for _, l := range leases {
		last = max(last, l.End)
	}
	ls := &i2p.LeaseSet2{
		Destination: k.Destination(),
		Published:   published,
		Expires:     uint16(min(last-min(last, published), 660)),
		Options:     i2p.Mapping{},
		Keys:        []i2p.EncryptionKey{x.EncryptionKey()},
		Leases:      leases,
	}
	if err := ls.Sign(k); err != nil {
		return observe.Store{}, fmt.Errorf("sign synthetic leaseset: %w", err)
	}
	return observe.NewStore(at, ls)
}

// History runs the model. Every run uses the same destination.
func (c Synth) History() (*observe.History, error) {
	if c.Pool <= 0 || c.Tunnels <= 0 || c.Tunnels > i2p.MaxLeases {
		return nil, fmt.Errorf("synth: pool %d, tunnels %d", c.Pool, c.Tunnels)
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x1b2))
	k, x, err := Keys(1)
	if err != nil {
		return nil, err
	}
	pool := make([]i2p.Hash, c.Pool)
	for i := range pool {
		for j := 0; j < len(pool[i]); j += 8 {
			v := rng.Uint64()
			for b := range 8 {
				pool[i][j+b] = byte(v >> (8 * b))
			}
		}
	}
	type tunnel struct {
		lease   i2p.Lease2
		replace time.Time
	}
	build := func(at time.Time) tunnel {
		return tunnel{
			lease:   i2p.Lease2{Gateway: pool[rng.IntN(len(pool))], TunnelID: rng.Uint32(), End: uint32(at.Add(10 * time.Minute).Unix())},
			replace: at.Add(8*time.Minute + time.Duration(rng.IntN(90_000))*time.Millisecond),
		}
	}
	tunnels := make([]tunnel, c.Tunnels)
	for i := range tunnels {
		tunnels[i] = build(Start.Add(-time.Duration(rng.IntN(480_000)) * time.Millisecond))
	}
	h := &observe.History{Run: "synth", Seed: c.Seed, Routers: 1, Hours: c.Hours}
	end := Start.Add(time.Duration(c.Hours * float64(time.Hour)))
	var published uint32
	var lastAt time.Time
	for now := Start; now.Before(end); {
		leases := make([]i2p.Lease2, len(tunnels))
		for i, tn := range tunnels {
			leases[i] = tn.lease
		}
		published = max(published+1, uint32(now.Unix()))
		// a floodfill stores it a moment later, never before the last
		at := now.Add(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		if at.Before(lastAt) {
			at = lastAt
		}
		lastAt = at
		s, err := SignedStore(k, x, at, published, leases)
		if err != nil {
			return nil, err
		}
		h.Stores = append(h.Stores, s)
		next := 0
		for i := range tunnels {
			if tunnels[i].replace.Before(tunnels[next].replace) {
				next = i
			}
		}
		now = tunnels[next].replace
		tunnels[next] = build(now)
	}
	return h, nil
}

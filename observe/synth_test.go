package observe

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
)

// synth describes a synthetic single-router history for tests: a router
// keeps Tunnels inbound tunnels of 10 minutes, replaces each 8 to 9.5
// minutes after it was built through a gateway drawn from Pool peers, and
// publishes (and a floodfill stores) a new LeaseSet at every replacement.
type synth struct {
	Seed    uint64
	Pool    int
	Tunnels int
	Hours   float64
}

// synthStart is the (fixed) start of every synthetic history.
var synthStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// synthKeys makes a destination's keys from a seeded reader: fast and the
// same every run.
func synthKeys(t testing.TB, seed uint64) (*i2p.PrivateKeys, *i2p.LeaseSetKey) {
	t.Helper()
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	r := rand.NewChaCha8(s)
	k, err := i2p.NewPrivateKeys(r)
	if err != nil {
		t.Fatal(err)
	}
	x, err := i2p.NewLeaseSetKey(r)
	if err != nil {
		t.Fatal(err)
	}
	return k, x
}

// signedStore builds, signs and records one LeaseSet2 stored at at.
func signedStore(t testing.TB, k *i2p.PrivateKeys, x *i2p.LeaseSetKey, at time.Time, published uint32, leases []i2p.Lease2) Store {
	t.Helper()
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
		t.Fatal(err)
	}
	s, err := NewStore(at, ls)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (c synth) history(t testing.TB) *History {
	t.Helper()
	rng := rand.New(rand.NewPCG(c.Seed, 0x1b2))
	k, x := synthKeys(t, 1) // one destination for every run
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
		tunnels[i] = build(synthStart.Add(-time.Duration(rng.IntN(540_000)) * time.Millisecond))
	}
	h := &History{Run: "synth", Seed: c.Seed, Routers: 1, Hours: c.Hours}
	end := synthStart.Add(time.Duration(c.Hours * float64(time.Hour)))
	var published uint32
	var lastAt time.Time
	for now := synthStart; now.Before(end); {
		leases := make([]i2p.Lease2, len(tunnels))
		for i, tn := range tunnels {
			leases[i] = tn.lease
		}
		published = max(published+1, uint32(now.Unix()))
		at := now.Add(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		if at.Before(lastAt) {
			at = lastAt
		}
		lastAt = at
		h.Stores = append(h.Stores, signedStore(t, k, x, at, published, leases))
		next := 0
		for i := range tunnels {
			if tunnels[i].replace.Before(tunnels[next].replace) {
				next = i
			}
		}
		now = tunnels[next].replace
		tunnels[next] = build(now)
	}
	return h
}

// leaseOf is a lease written compactly in tests.
type leaseOf struct {
	gw  [32]byte
	id  uint32
	end uint32
}

func leases(ls ...leaseOf) []i2p.Lease2 {
	out := make([]i2p.Lease2, len(ls))
	for i, l := range ls {
		out[i] = i2p.Lease2{Gateway: l.gw, TunnelID: l.id, End: l.end}
	}
	return out
}

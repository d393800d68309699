package balancer

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x1ee7)) }

// tiers makes n routers' fast tiers of size each, overlapping by half:
// router i has peers [i*size/2, i*size/2+size).
func tiers(n, size int) [][]i2p.Hash {
	var out [][]i2p.Hash
	for i := range n {
		var t []i2p.Hash
		for j := range size {
			t = append(t, peer(i*size/2+j))
		}
		out = append(out, t)
	}
	return out
}

func TestGatewaySetSize(t *testing.T) {
	for _, tc := range []struct{ tier, hops, want int }{
		{75, 0, 0},
		{75, 1, 75},
		{75, 2, 38},
		{75, 3, 19},
		{75, 4, 19},
		{75, 7, 19},
		{20, 3, 5},
		{1, 3, 1},
		{0, 3, 0},
	} {
		if got := GatewaySetSize(tc.tier, tc.hops); got != tc.want {
			t.Errorf("GatewaySetSize(%d, %d) = %d, want %d", tc.tier, tc.hops, got, tc.want)
		}
	}
}

func TestPeerUnion(t *testing.T) {
	ts := tiers(4, 10) // peers 0..24 with overlaps
	self := map[i2p.Hash]bool{peer(3): true, peer(20): true}
	u := PeerUnion(append(ts, []i2p.Hash{{}}), self)
	if len(u) != 23 {
		t.Fatalf("union of %d peers, want 23", len(u))
	}
	if !slices.IsSortedFunc(u, compareHash) || slices.Contains(u, peer(3)) || slices.Contains(u, i2p.Hash{}) {
		t.Fatal("union not sorted, or holds an excluded or zero peer")
	}
}

func TestGatewaySetUpdate(t *testing.T) {
	tests := []struct {
		name        string
		cfg         GatewayConfig
		routers     int
		tier, hops  int
		wantSize    int
		wantOfUnion int
	}{
		{name: "3 hops: a quarter of one fast tier", cfg: DefaultGatewayConfig(), routers: 4, tier: 75, hops: 3, wantSize: 19, wantOfUnion: 187},
		{name: "2 hops: half", cfg: DefaultGatewayConfig(), routers: 4, tier: 75, hops: 2, wantSize: 38, wantOfUnion: 187},
		{name: "1 hop: the whole tier", cfg: DefaultGatewayConfig(), routers: 2, tier: 75, hops: 1, wantSize: 75, wantOfUnion: 112},
		{name: "fixed size", cfg: GatewayConfig{Size: 7}, routers: 4, tier: 75, hops: 3, wantSize: 7, wantOfUnion: 187},
		{name: "reference tier size configured", cfg: GatewayConfig{FastTierSize: 40}, routers: 4, tier: 75, hops: 3, wantSize: 10, wantOfUnion: 187},
		{name: "small network caps the set", cfg: GatewayConfig{Size: 30}, routers: 1, tier: 12, hops: 3, wantSize: 12, wantOfUnion: 12},
		{name: "zero hops: no gateways", cfg: DefaultGatewayConfig(), routers: 4, tier: 75, hops: 0, wantSize: 0, wantOfUnion: 187},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := PeerUnion(tiers(tc.routers, tc.tier), nil)
			if len(u) != tc.wantOfUnion {
				t.Fatalf("union %d", len(u))
			}
			g := NewGatewaySet(tc.cfg)
			changed := g.Update(t0, u, tc.tier, tc.hops, newRand(1))
			if got := len(g.Members()); got != tc.wantSize {
				t.Fatalf("size %d, want %d", got, tc.wantSize)
			}
			if changed != (tc.wantSize > 0) {
				t.Fatalf("changed=%t", changed)
			}
			for _, m := range g.Members() {
				if _, ok := slices.BinarySearchFunc(u, m, compareHash); !ok {
					t.Fatalf("member %s not in the union", m)
				}
			}
			if g.Update(t0.Add(time.Minute), u, tc.tier, tc.hops, newRand(2)) {
				t.Fatal("changed without cause")
			}
			// Same seed, same set.
			h := NewGatewaySet(tc.cfg)
			h.Update(t0, u, tc.tier, tc.hops, newRand(1))
			if !slices.Equal(g.Members(), h.Members()) {
				t.Fatal("not deterministic")
			}
		})
	}
}

func TestGatewaySetRotatesSlowly(t *testing.T) {
	u := PeerUnion(tiers(4, 75), nil)
	// Rotation is off by default (the pool's own churn rotates); this
	// checks the mechanism for operators who turn it on.
	g := NewGatewaySet(GatewayConfig{RotateEvery: 10 * time.Minute, RotateCount: 1})
	rnd := newRand(7)
	g.Update(t0, u, 75, 3, rnd)
	prev := g.Members()
	seen := map[i2p.Hash]bool{}
	swaps := 0
	for s := 1; s <= 360; s++ { // one hour, an update every 10 s
		if !g.Update(t0.Add(time.Duration(s)*10*time.Second), u, 75, 3, rnd) {
			continue
		}
		cur := g.Members()
		if len(cur) != 19 {
			t.Fatalf("size %d", len(cur))
		}
		gone := 0
		for _, m := range prev {
			if !slices.Contains(cur, m) {
				gone++
				seen[m] = true
			}
		}
		if gone != 1 {
			t.Fatalf("at %ds a rotation swapped %d members", s*10, gone)
		}
		for _, m := range cur {
			if seen[m] {
				t.Fatalf("retired member %s came back at once", m)
			}
		}
		swaps++
		prev = cur
	}
	if swaps != 6 {
		t.Fatalf("%d rotations in an hour, want 6", swaps)
	}
}

func TestGatewaySetFollowsFastTiers(t *testing.T) {
	u := PeerUnion(tiers(4, 75), nil)
	g := NewGatewaySet(DefaultGatewayConfig())
	rnd := newRand(3)
	g.Update(t0, u, 75, 3, rnd)
	gone := g.Members()[:5]
	smaller := slices.DeleteFunc(slices.Clone(u), func(h i2p.Hash) bool { return slices.Contains(gone, h) })
	if !g.Update(t0.Add(time.Second), smaller, 75, 3, rnd) {
		t.Fatal("no change when members left the fast tiers")
	}
	m := g.Members()
	if len(m) != 19 {
		t.Fatalf("size %d after refill", len(m))
	}
	for _, h := range gone {
		if g.Contains(h) {
			t.Fatalf("%s left the fast tiers but stays a gateway", h)
		}
	}
	// Hops drop to 2: the set grows to half a tier.
	g.Update(t0.Add(2*time.Second), smaller, 75, 2, rnd)
	if len(g.Members()) != 38 {
		t.Fatalf("size %d at 2 hops", len(g.Members()))
	}
	// And back: the longest-serving members stay.
	g.Update(t0.Add(3*time.Second), smaller, 75, 3, rnd)
	if kept := g.Members(); len(kept) != 19 || !allIn(m, kept) {
		t.Fatalf("shrinking kept %d members, not the senior ones", len(kept))
	}
}

func allIn(want, got []i2p.Hash) bool {
	for _, h := range want {
		if !slices.Contains(got, h) {
			return false
		}
	}
	return true
}

func TestPickGatewayDistinct(t *testing.T) {
	for _, tc := range []struct {
		name           string
		size, tunnels  int
		wantMaxPerPeer int
	}{
		{"set larger than the leaseset", 19, 12, 1},
		{"set as large as the leaseset", 12, 12, 1},
		{"set smaller: evenly shared", 5, 12, 3},
		{"one gateway", 1, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGatewaySet(GatewayConfig{Size: tc.size, Distinct: true})
			rnd := newRand(5)
			g.Update(t0, PeerUnion(tiers(4, 75), nil), 75, 3, rnd)
			use := map[i2p.Hash]int{}
			for range tc.tunnels {
				gw, ok := g.PickGateway(use, nil, rnd)
				if !ok || !g.Contains(gw) {
					t.Fatalf("gateway %s ok=%t outside the set", gw, ok)
				}
				use[gw]++
			}
			most := 0
			for _, n := range use {
				most = max(most, n)
			}
			if most != tc.wantMaxPerPeer {
				t.Fatalf("a gateway serves %d tunnels, want %d (%v)", most, tc.wantMaxPerPeer, use)
			}
		})
	}
	if _, ok := NewGatewaySet(GatewayConfig{}).PickGateway(nil, nil, newRand(1)); ok {
		t.Fatal("picked from an empty set")
	}
}

func TestPlanTunnels(t *testing.T) {
	u := PeerUnion(tiers(4, 75), nil)
	g := NewGatewaySet(DefaultGatewayConfig())
	rnd := newRand(9)
	g.Update(t0, u, 75, 3, rnd)
	for hops := range 8 {
		in, err := PlanInbound(g, u, hops, nil, rnd)
		if err != nil {
			t.Fatalf("%d hops: %v", hops, err)
		}
		if len(in) != hops || (hops > 0 && !g.Contains(in[0])) {
			t.Fatalf("%d hops: plan %v", hops, in)
		}
		out, err := PlanOutbound(u, hops, rnd)
		if err != nil || len(out) != hops {
			t.Fatalf("outbound %d hops: %v %v", hops, out, err)
		}
		for _, p := range [][]i2p.Hash{in, out} {
			c := slices.Clone(p)
			slices.SortFunc(c, compareHash)
			if len(slices.Compact(c)) != hops {
				t.Fatalf("repeated hop in %v", p)
			}
		}
	}
	small := PeerUnion(tiers(1, 2), nil)
	gs := NewGatewaySet(DefaultGatewayConfig())
	gs.Update(t0, small, 2, 3, rnd)
	if _, err := PlanInbound(gs, small, 3, nil, rnd); !errors.Is(err, ErrNotEnoughPeers) {
		t.Fatalf("3 hops from 2 peers: %v", err)
	}
	if _, err := PlanInbound(NewGatewaySet(GatewayConfig{}), u, 3, nil, rnd); !errors.Is(err, ErrNotEnoughPeers) {
		t.Fatalf("empty gateway set: %v", err)
	}
	if _, err := PlanOutbound(small, 3, rnd); !errors.Is(err, ErrNotEnoughPeers) {
		t.Fatalf("outbound 3 hops from 2 peers: %v", err)
	}
}

func TestGatewaySetSeed(t *testing.T) {
	u := PeerUnion(tiers(4, 75), nil)
	old := NewGatewaySet(DefaultGatewayConfig())
	old.Update(t0, u, 75, 3, newRand(1))
	leased := old.Members()[:12]
	// A new leader seeds its set with the gateways of the published leases
	// and of other live tunnels (more than fit), then updates.
	g := NewGatewaySet(DefaultGatewayConfig())
	g.Seed(t0.Add(-time.Second), leased)
	g.Seed(t0, u[:20])
	g.Update(t0, u, 75, 3, newRand(2))
	if len(g.Members()) != 19 || !allIn(leased, g.Members()) {
		t.Fatalf("seeded set of %d keeps the leased gateways: %t", len(g.Members()), allIn(leased, g.Members()))
	}
	g.Seed(t0, []i2p.Hash{{}, leased[0]})
	if len(g.Members()) != 19 {
		t.Fatal("zero or duplicate peer seeded")
	}
}

// sliceKeys makes n destinations' gateway slice keys.
func sliceKeys(t *testing.T, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		keys, err := i2p.NewPrivateKeys(rand.NewChaCha8([32]byte{byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		key, err := GatewaySliceKey(keys)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := GatewaySliceKey(keys)
		if !slices.Equal(key, again) {
			t.Fatal("GatewaySliceKey is not deterministic: a new leader would pick another slice")
		}
		out = append(out, key)
	}
	return out
}

func TestGatewaySetKeyedSlice(t *testing.T) {
	tier := tiers(1, 75)[0]
	keys := sliceKeys(t, 40)
	sizes := map[int]bool{}
	for i, key := range keys {
		for _, tc := range []struct{ hops, lo, hi int }{
			{1, 75, 75}, {2, 20, 55}, {3, 6, 32},
		} {
			g := NewGatewaySet(DefaultGatewayConfig())
			g.UseSlice(key)
			g.Update(t0, tier, 75, tc.hops, newRand(uint64(i)))
			m := g.Members()
			if len(m) < tc.lo || len(m) > tc.hi {
				t.Fatalf("key %d, %d hops: %d members, want %d..%d", i, tc.hops, len(m), tc.lo, tc.hi)
			}
			for _, h := range m {
				if !inSlice(key, h, tc.hops) {
					t.Fatalf("key %d: member %s outside the slice", i, h)
				}
			}
			// Another leader (another random source) derives the same set.
			h := NewGatewaySet(DefaultGatewayConfig())
			h.UseSlice(key)
			h.Update(t0, tier, 75, tc.hops, newRand(uint64(i)+1000))
			if !slices.Equal(m, h.Members()) {
				t.Fatalf("key %d, %d hops: the set depends on the random source", i, tc.hops)
			}
			if tc.hops == 3 {
				sizes[len(m)] = true
			}
		}
	}
	// Like a single router's slice, the size varies between destinations
	// (binomial around a quarter), not a fixed 19.
	if len(sizes) < 4 {
		t.Fatalf("3-hop slice sizes over %d destinations: %v", len(keys), sizes)
	}
}

func TestGatewaySetKeyedSliceFollowsTier(t *testing.T) {
	key := sliceKeys(t, 1)[0]
	tier := tiers(1, 75)[0]
	g := NewGatewaySet(DefaultGatewayConfig())
	g.UseSlice(key)
	g.Seed(t0, tier[:3]) // a predecessor's gateways, some outside the slice
	g.Update(t0, tier, 75, 3, newRand(1))
	first := g.Members()
	// A member leaves the tier, a new peer joins it: the set follows.
	gone := first[0]
	var joiner i2p.Hash
	for i := 1000; ; i++ {
		if inSlice(key, peer(i), 3) {
			joiner = peer(i)
			break
		}
	}
	next := append(slices.DeleteFunc(slices.Clone(tier), func(h i2p.Hash) bool { return h == gone }), joiner)
	slices.SortFunc(next, compareHash)
	joined := g.Joined()
	if !g.Update(t0.Add(time.Minute), next, 75, 3, newRand(2)) {
		t.Fatal("no change when the tier changed")
	}
	if g.Contains(gone) || !g.Contains(joiner) || len(g.Members()) != len(first) {
		t.Fatalf("after the tier changed: has gone %t, has joiner %t, %d members (was %d)", g.Contains(gone), g.Contains(joiner), len(g.Members()), len(first))
	}
	if g.Joined() != joined+1 {
		t.Fatalf("churn counted %d, want 1", g.Joined()-joined)
	}
	if g.Update(t0.Add(2*time.Minute), next, 75, 3, newRand(3)) {
		t.Fatal("change without a tier change")
	}
	// A fixed size or a rotation keeps the random set of before.
	for _, cfg := range []GatewayConfig{{Size: 7}, {RotateEvery: time.Minute, RotateCount: 1}} {
		f := NewGatewaySet(cfg)
		f.UseSlice(key)
		f.Update(t0, tier, 75, 3, newRand(4))
		if n := len(f.Members()); cfg.Size > 0 && n != 7 || cfg.Size == 0 && n != 19 {
			t.Fatalf("%+v: %d members", cfg, n)
		}
	}
}

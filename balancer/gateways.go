package balancer

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/imh-project/imh/i2p"
)

// ErrNotEnoughPeers reports that the fast tiers cannot supply the distinct
// hops a tunnel needs.
var ErrNotEnoughPeers = errors.New("balancer: not enough peers for the tunnel")

// Rand is the randomness the policies draw from (math/rand/v2's *rand.Rand
// satisfies it). It is injected so that tests are deterministic; the loop
// uses it from one goroutine.
type Rand interface {
	IntN(n int) int
	Float64() float64
}

// GatewayConfig sizes and paces the gateway set.
type GatewayConfig struct {
	// Size fixes the gateway-set size; 0 sizes it like a single router's
	// slice of its fast tier for the hop count: the keyed slice itself
	// (UseSlice), or GatewaySetSize peers drawn at random without a key.
	Size int
	// FastTierSize is the fast-tier size of one router that the slice is
	// taken from; 0 uses the largest fast tier the routers report.
	FastTierSize int
	// RotateEvery is how often members are swapped for others: slow, as a
	// single router's gateway slice changes only with its fast tier.
	RotateEvery time.Duration
	// RotateCount is how many members one rotation swaps.
	RotateCount int
	// Distinct picks, for each new tunnel, the member serving the fewest
	// of the destination's tunnels, so that one LeaseSet's gateways stay
	// distinct. Off (the default), members are drawn uniformly at random,
	// repeats included, as a single router draws from its slice: an
	// observer counting how often a new tunnel reuses a gateway of the
	// LeaseSet before (gateway_reuse) sees one router's figure.
	Distinct bool
}

// DefaultGatewayConfig does not rotate: the set is drawn from one router's
// fast tier (GatewayPool), and a member leaves when it leaves that tier, so
// the set churns at the pace of a single router's gateway slice, which
// changes only with its fast tier. Measured with observe/sim (issue 20):
// a rotation of one member every 10 minutes on top of that showed as
// gateway churn four times a single router's.
func DefaultGatewayConfig() GatewayConfig {
	return GatewayConfig{}
}

// GatewayPool is the peers the gateway set is drawn from: the fast tier of
// the first router (in the destination's router order) whose tier is
// known, without the excluded peers. One router's tier, not the union of
// all: a single router's gateway slice turns over only with its own tier,
// and a set drawn from the union would lose a member only when it left
// every router's tier (too stable), or churn at the union's pace. A router
// that is down keeps its last tier, so the pool survives its death.
func GatewayPool(tiers [][]i2p.Hash, exclude map[i2p.Hash]bool) []i2p.Hash {
	for _, t := range tiers {
		if len(t) > 0 {
			return PeerUnion([][]i2p.Hash{t}, exclude)
		}
	}
	return nil
}

// Validate checks the configuration.
func (c GatewayConfig) Validate() error {
	if c.Size < 0 || c.FastTierSize < 0 || c.RotateCount < 0 || c.RotateEvery < 0 {
		return fmt.Errorf("balancer: negative gateway setting: %+v", c)
	}
	return nil
}

// GatewaySetSize is the size of the slice of a fast tier that a single
// router draws its inbound gateways from, per proposal 140: the whole fast
// tier at 1 hop, half at 2, a quarter at 3 or more (19 of 75 at 3 hops).
// Zero hops need no gateways.
func GatewaySetSize(fastTier, hops int) int {
	if hops <= 0 || fastTier <= 0 {
		return 0
	}
	div := 4.0
	switch hops {
	case 1:
		div = 1
	case 2:
		div = 2
	}
	return int(math.Ceil(float64(fastTier) / div))
}

// PeerUnion merges fast tiers into one sorted, duplicate-free list without
// the excluded peers (the destination's own routers must never be hops:
// they would show in the LeaseSet that the service is multihomed).
func PeerUnion(tiers [][]i2p.Hash, exclude map[i2p.Hash]bool) []i2p.Hash {
	var out []i2p.Hash
	for _, t := range tiers {
		for _, h := range t {
			if !exclude[h] && !h.IsZero() {
				out = append(out, h)
			}
		}
	}
	slices.SortFunc(out, compareHash)
	return slices.Compact(out)
}

func compareHash(a, b i2p.Hash) int { return bytes.Compare(a[:], b[:]) }

type member struct {
	peer  i2p.Hash
	since time.Time
}

// GatewaySet is the one slice of peers that the inbound gateways of ALL
// routers of a destination are drawn from, so that the LeaseSet's gateway
// set, and its churn, look like one router's. Not safe for concurrent use.
type GatewaySet struct {
	cfg        GatewayConfig
	sliceKey   []byte // UseSlice: membership is the keyed slice of the pool
	members    []member
	lastRotate time.Time
	joined     uint64 // members added by Update to a non-empty set (churn)
}

// Len is the number of members.
func (g *GatewaySet) Len() int { return len(g.members) }

// Joined counts the peers that Update added to a set that already had
// members: the gateway set's churn (replacements and rotations), not its
// first filling.
func (g *GatewaySet) Joined() uint64 { return g.joined }

// NewGatewaySet returns an empty set; Update fills it.
func NewGatewaySet(cfg GatewayConfig) *GatewaySet { return &GatewaySet{cfg: cfg} }

// gatewaySliceLabel is what GatewaySliceKey signs; changing it moves every
// destination's gateway slice at once.
const gatewaySliceLabel = "imh gateway slice v1"

// GatewaySliceKey derives the secret that cuts a destination's gateway
// slice out of a fast tier (UseSlice). It is the SHA-256 of the
// destination's Ed25519 signature over a fixed label: Ed25519 signatures
// are deterministic, so every leader derives the same key and a failover
// keeps the slice, and only a holder of the signing key can derive it. A
// slice keyed by public data (the Destination, as a hash partition by
// pool name would be) would let an observer predict which quarter of a
// tier the gateways must come from and check it; a stock router keys its
// slice with a secret of its own.
func GatewaySliceKey(keys *i2p.PrivateKeys) ([]byte, error) {
	sig, err := keys.Sign([]byte(gatewaySliceLabel))
	if err != nil {
		return nil, fmt.Errorf("gateway slice key: %w", err)
	}
	sum := sha256.Sum256(sig)
	return sum[:], nil
}

// UseSlice makes the set, unless its size is fixed (GatewayConfig.Size)
// or it rotates (RotateEvery), exactly the pool's peers that fall into the destination's slice: each
// peer is placed into one of four parts by HMAC-SHA256(key, peer hash),
// and the slice is every part at 1 hop, two parts at 2 hops, one at 3 or
// more, as a stock router (Java I2P's ClientPeerSelector, proposal 140)
// cuts its pool's gateways from its fast tier. The set's size is then
// distributed as a single router's is (binomial around a quarter of the
// tier at 3 hops) rather than fixed at its mean, which an observer
// comparing the gateway count with one router's told apart (issue 20:
// gateway_set advantage 0.85 against a noise floor of 0.30).
func (g *GatewaySet) UseSlice(key []byte) { g.sliceKey = slices.Clone(key) }

// inSlice reports whether peer falls into the keyed slice for hops.
func inSlice(key []byte, peer i2p.Hash, hops int) bool {
	mac := hmac.New(sha256.New, key)
	mac.Write(peer[:])
	part := mac.Sum(nil)[0] & 3
	switch {
	case hops <= 1:
		return true
	case hops == 2:
		return part < 2
	default:
		return part == 0
	}
}

// slice is the keyed slice of union for hops, or nil when the set does
// not use one (no key, a fixed size, a rotation, zero hops) or the slice is empty (a
// tiny tier; Update then fills at random as without a key).
func (g *GatewaySet) slice(union []i2p.Hash, hops int) map[i2p.Hash]bool {
	if len(g.sliceKey) == 0 || g.cfg.Size > 0 || g.cfg.RotateEvery > 0 || hops <= 0 {
		return nil
	}
	out := make(map[i2p.Hash]bool)
	for _, h := range union {
		if inSlice(g.sliceKey, h, hops) {
			out[h] = true
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// updateSlice makes the members exactly the slice: members outside it
// leave, slice peers that are not members join (counted as churn when the
// set had members).
func (g *GatewaySet) updateSlice(now time.Time, union []i2p.Hash, in map[i2p.Hash]bool) bool {
	before := len(g.members)
	g.members = slices.DeleteFunc(g.members, func(m member) bool { return !in[m.peer] })
	changed := len(g.members) != before
	churn := len(g.members) > 0
	for _, h := range union { // union is sorted: joins are deterministic
		if in[h] && !g.Contains(h) {
			if churn {
				g.joined++
			}
			g.members = append(g.members, member{peer: h, since: now})
			changed = true
		}
	}
	return changed
}

// Seed makes peers members, each as if it had joined at since: a new
// leader adopts the gateways its predecessor's LeaseSet shows, so that a
// failover does not change the gateway set an observer sees. Update trims
// a set that is too large, longest-serving members first.
func (g *GatewaySet) Seed(since time.Time, peers []i2p.Hash) {
	for _, h := range peers {
		if !h.IsZero() && !g.Contains(h) {
			g.members = append(g.members, member{peer: h, since: since})
		}
	}
}

// Members returns the current members, sorted.
func (g *GatewaySet) Members() []i2p.Hash {
	out := make([]i2p.Hash, len(g.members))
	for i, m := range g.members {
		out[i] = m.peer
	}
	slices.SortFunc(out, compareHash)
	return out
}

// Contains reports whether h is a member.
func (g *GatewaySet) Contains(h i2p.Hash) bool {
	return slices.ContainsFunc(g.members, func(m member) bool { return m.peer == h })
}

// Target is the size the set aims for given the union and the largest
// fast tier observed.
func (g *GatewaySet) Target(unionLen, largestTier, hops int) int {
	n := g.cfg.Size
	if n == 0 {
		tier := g.cfg.FastTierSize
		if tier == 0 {
			tier = largestTier
		}
		n = GatewaySetSize(tier, hops)
	}
	return min(n, unionLen)
}

// Update brings the set in line with the current union of fast tiers.
// With a slice key (UseSlice) the members are exactly the union's peers in
// the destination's slice. Otherwise members that left every fast tier are
// dropped, the set is trimmed or
// filled to its target size, and every RotateEvery the longest-serving
// RotateCount members are swapped for random peers. It reports whether the
// membership changed.
func (g *GatewaySet) Update(now time.Time, union []i2p.Hash, largestTier, hops int, rnd Rand) bool {
	if in := g.slice(union, hops); in != nil {
		return g.updateSlice(now, union, in)
	}
	inUnion := make(map[i2p.Hash]bool, len(union))
	for _, h := range union {
		inUnion[h] = true
	}
	before := len(g.members)
	g.members = slices.DeleteFunc(g.members, func(m member) bool { return !inUnion[m.peer] })
	changed := len(g.members) != before
	target := g.Target(len(union), largestTier, hops)
	if len(g.members) > target {
		g.sortBySeniority()
		g.members = g.members[:target]
		changed = true
	}
	if g.lastRotate.IsZero() {
		g.lastRotate = now
	}
	if g.cfg.RotateEvery > 0 && now.Sub(g.lastRotate) >= g.cfg.RotateEvery {
		g.lastRotate = now
		if n := min(g.cfg.RotateCount, len(g.members), len(union)-len(g.members)); n > 0 {
			g.sortBySeniority()
			retired := make(map[i2p.Hash]bool, n)
			for _, m := range g.members[:n] {
				retired[m.peer] = true
			}
			g.members = g.members[n:]
			changed = true
			// A rotation never draws back a peer it has just retired.
			g.fill(now, union, len(g.members)+n, rnd, retired)
		}
	}
	if len(g.members) < target {
		g.fill(now, union, target, rnd, nil)
		changed = true
	}
	return changed
}

// sortBySeniority orders members longest-serving first (ties by hash).
func (g *GatewaySet) sortBySeniority() {
	slices.SortFunc(g.members, func(a, b member) int {
		if c := a.since.Compare(b.since); c != 0 {
			return c
		}
		return compareHash(a.peer, b.peer)
	})
}

// fill adds random peers of the union that are not members (nor in skip)
// until the set has n members or the pool is empty.
func (g *GatewaySet) fill(now time.Time, union []i2p.Hash, n int, rnd Rand, skip map[i2p.Hash]bool) {
	var pool []i2p.Hash
	for _, h := range union {
		if !g.Contains(h) && !skip[h] {
			pool = append(pool, h)
		}
	}
	churn := len(g.members) > 0
	for len(g.members) < n && len(pool) > 0 {
		if churn {
			g.joined++
		}
		i := rnd.IntN(len(pool))
		g.members = append(g.members, member{peer: pool[i], since: now})
		pool = slices.Delete(pool, i, i+1)
	}
}

// PickGateway chooses the gateway for a new inbound tunnel: a member drawn
// at random, or with Distinct a member used by the fewest live (or
// pending) inbound tunnels of the destination (ties broken at random). ok
// is false when the set is empty or every member is excluded.
func (g *GatewaySet) PickGateway(inUse map[i2p.Hash]int, exclude map[i2p.Hash]bool, rnd Rand) (i2p.Hash, bool) {
	var best []i2p.Hash
	bestUse := math.MaxInt
	for _, h := range g.Members() {
		if exclude[h] {
			continue
		}
		u := 0
		if g.cfg.Distinct {
			u = inUse[h]
		}
		switch {
		case u < bestUse:
			best, bestUse = append(best[:0], h), u
		case u == bestUse:
			best = append(best, h)
		}
	}
	if len(best) == 0 {
		return i2p.Hash{}, false
	}
	return best[rnd.IntN(len(best))], true
}

// PickHops draws n distinct random peers from the union, none of them in
// exclude.
func PickHops(union []i2p.Hash, n int, exclude map[i2p.Hash]bool, rnd Rand) ([]i2p.Hash, error) {
	var pool []i2p.Hash
	for _, h := range union {
		if !exclude[h] {
			pool = append(pool, h)
		}
	}
	if len(pool) < n {
		return nil, fmt.Errorf("%w: need %d, have %d", ErrNotEnoughPeers, n, len(pool))
	}
	out := make([]i2p.Hash, 0, n)
	for range n {
		i := rnd.IntN(len(pool))
		out = append(out, pool[i])
		pool = slices.Delete(pool, i, i+1)
	}
	return out, nil
}

// PlanInbound chooses the hops of a new inbound tunnel, gateway first: the
// gateway from the gateway set, the other hops from the union of fast tiers
// (never the gateway again). With 0 hops the router is its own gateway and
// the plan is empty.
func PlanInbound(g *GatewaySet, union []i2p.Hash, hops int, inUse map[i2p.Hash]int, rnd Rand) ([]i2p.Hash, error) {
	if hops <= 0 {
		return nil, nil
	}
	gw, ok := g.PickGateway(inUse, nil, rnd)
	if !ok {
		return nil, fmt.Errorf("%w: empty gateway set", ErrNotEnoughPeers)
	}
	others, err := PickHops(union, hops-1, map[i2p.Hash]bool{gw: true}, rnd)
	if err != nil {
		return nil, err
	}
	return append([]i2p.Hash{gw}, others...), nil
}

// PlanOutbound chooses the hops of a new outbound tunnel from the union of
// fast tiers, first hop first.
func PlanOutbound(union []i2p.Hash, hops int, rnd Rand) ([]i2p.Hash, error) {
	if hops <= 0 {
		return nil, nil
	}
	return PickHops(union, hops, nil, rnd)
}

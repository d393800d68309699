package simnet

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/imh-project/imh/i2p"
)

// Peer is one simulated I2P router that carries tunnels, as the network
// profiles it.
type Peer struct {
	Hash i2p.Hash `json:"hash"`
	// Caps is the router's capability string: bandwidth letter, then "f"
	// for floodfills, then "R" (reachable) or "U".
	Caps           string  `json:"caps"`
	BandwidthClass byte    `json:"bandwidth_class"`
	Reliability    float64 `json:"reliability"` // per-hop build success probability
	// Latency is the mean per-hop build latency through this peer.
	Latency   time.Duration `json:"latency"`
	Floodfill bool          `json:"floodfill"`
	Reachable bool          `json:"reachable"`
}

// SeededRand returns a generator determined by seed and labels,
// so every consumer of randomness (here and in observe/sim) has its own
// reproducible stream.
func SeededRand(seed int64, labels ...string) *rand.Rand {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	for _, l := range labels {
		h.Write([]byte{0})
		h.Write([]byte(l))
	}
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])))
}

// makePeers draws the peer population from the seed.
func makePeers(cfg Config) []Peer {
	r := SeededRand(cfg.Seed, "peers")
	total := 0.0
	for _, c := range cfg.Classes {
		total += c.Share
	}
	peers := make([]Peer, cfg.Peers)
	for i := range peers {
		var h i2p.Hash
		for j := 0; j < len(h); j += 8 {
			binary.BigEndian.PutUint64(h[j:], r.Uint64())
		}
		cl := pickClass(cfg.Classes, r.Float64()*total)
		rel := min(max(cl.Reliability+(r.Float64()-0.5)*0.1, 0.05), 0.99)
		if cl.Reliability == 1 {
			rel = 1
		}
		lat := time.Duration(float64(cl.Latency) * (0.75 + 0.5*r.Float64()))
		peers[i] = Peer{
			Hash:           h,
			BandwidthClass: cl.Letter,
			Reliability:    rel,
			Latency:        lat,
			Reachable:      r.Float64() >= cfg.Unreachable,
		}
	}
	// Floodfills: the first Floodfills reachable peers of a seeded shuffle
	// (unreachable ones only if there are not enough).
	order := r.Perm(len(peers))
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(boolInt(!peers[a].Reachable), boolInt(!peers[b].Reachable))
	})
	for _, i := range order[:cfg.Floodfills] {
		peers[i].Floodfill = true
	}
	for i := range peers {
		p := &peers[i]
		p.Caps = string(p.BandwidthClass)
		if p.Floodfill {
			p.Caps += "f"
		}
		if p.Reachable {
			p.Caps += "R"
		} else {
			p.Caps += "U"
		}
	}
	return peers
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pickClass(classes []BandwidthClass, x float64) BandwidthClass {
	for _, c := range classes {
		if x < c.Share {
			return c
		}
		x -= c.Share
	}
	return classes[len(classes)-1]
}

// capacity is how attractive a peer is for tunnels before a router's own
// perception: reliable, high-bandwidth, low-latency peers rank first.
func capacity(p Peer) float64 {
	return p.Reliability * p.Reliability / (float64(p.Latency)/float64(time.Second) + 0.05)
}

// profileView is one router's ranking of the reachable peers: capacity times
// a per-router perception factor in [0.6, 1.4), so routers agree on good
// peers roughly but not exactly, as profiles built from their own traffic do.
// It returns peer indices, best first.
func profileView(seed int64, name string, peers []Peer) []int {
	r := SeededRand(seed, "profile", name)
	type scored struct {
		i     int
		score float64
	}
	view := make([]scored, 0, len(peers))
	for i, p := range peers {
		noise := 0.6 + 0.8*r.Float64()
		if p.Reachable {
			view = append(view, scored{i, capacity(p) * noise})
		}
	}
	slices.SortFunc(view, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	out := make([]int, len(view))
	for k, s := range view {
		out[k] = s.i
	}
	return out
}

// fastTier is a router's fast tier, advanced lazily epoch by epoch so that
// its content at a given time depends only on the seed and the name.
type fastTier struct {
	view  []int // the profile view, best first
	tier  []int // peer indices
	epoch int64
}

func newFastTier(seed int64, name string, peers []Peer, size int) *fastTier {
	view := profileView(seed, name, peers)
	size = min(size, len(view))
	return &fastTier{view: view, tier: slices.Clone(view[:size])}
}

// advance moves the tier to epoch e: each epoch replaces churn members by
// peers from the next-best part of the view (up to 3x the tier size deep).
func (f *fastTier) advance(seed int64, name string, e int64, churn int) {
	pool := f.view[:min(len(f.view), 3*len(f.tier))]
	for f.epoch < e {
		f.epoch++
		if len(pool) <= len(f.tier) {
			continue
		}
		r := SeededRand(seed, "churn", name, itoa(f.epoch))
		for range churn {
			out := r.IntN(len(f.tier))
			for {
				in := pool[r.IntN(len(pool))]
				if !slices.Contains(f.tier, in) {
					f.tier[out] = in
					break
				}
			}
		}
	}
}

// GatewaySlice is the part of a fast tier from which a router picks the
// inbound gateways of one pool's tunnels (proposal 140, after Java I2P's
// ClientPeerSelector): the whole tier for 1-hop tunnels, half of it for 2
// hops, a quarter for 3 or more. The tier is partitioned into four slices
// by SHA-256(pool | peer hash), so each pool (e.g. each destination) has its
// own slice and its gateways stay within about a quarter of the tier. It
// returns the peers in the tier's order.
func GatewaySlice(tier []Peer, pool string, hopCount int) []Peer {
	var out []Peer
	for _, p := range tier {
		if inGatewaySlice(p.Hash, pool, hopCount) {
			out = append(out, p)
		}
	}
	return out
}

func inGatewaySlice(peer i2p.Hash, pool string, hopCount int) bool {
	switch {
	case hopCount <= 1:
		return true
	case hopCount == 2:
		return peerSlice(peer, pool) < 2
	default:
		return peerSlice(peer, pool) == 0
	}
}

// peerSlice is the peer's slice (0..3) for a pool.
func peerSlice(peer i2p.Hash, pool string) int {
	h := sha256.New()
	h.Write([]byte(pool))
	h.Write(peer[:])
	var sum [32]byte
	return int(h.Sum(sum[:0])[0] & 3)
}

func itoa(n int64) string {
	var b [20]byte
	return string(binary.BigEndian.AppendUint64(b[:0], uint64(n)))
}

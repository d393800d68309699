package sim

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router/simnet"
)

// The stock router's pacing, after i2pd's tunnel pool and LeaseSet
// destination.
const (
	// stockRecreate: a replacement is asked for this long before a tunnel
	// ends (i2pd TUNNEL_RECREATION_THRESHOLD).
	stockRecreate = 90 * time.Second
	// stockExpiring: a tunnel this close to its end leaves the LeaseSet
	// (i2pd TUNNEL_EXPIRATION_THRESHOLD: an expiring tunnel is not
	// established any more).
	stockExpiring = 60 * time.Second
	// stockMinPublish: the least time between two publications
	// (i2pd PUBLISH_MIN_INTERVAL).
	stockMinPublish = 20 * time.Second
	// tick paces the routers' and the balancer's work.
	tick = time.Second
)

// stockPool is a stock router's inbound pool for the destination: it keeps
// quantity tunnels, choosing the hops itself, the gateway from the
// destination's slice of its fast tier (proposal 140).
type stockPool struct {
	s        *sim
	r        *router
	quantity int
	hops     int
	pool     string
	tunnels  []tunnel
	building int
}

func (s *sim) newStockPool(r *router, quantity, hops int) *stockPool {
	p := &stockPool{s: s, r: r, quantity: quantity, hops: hops, pool: s.keys.Destination().B32()}
	s.every(Start, tick, p.manage)
	return p
}

// manage drops the tunnels that ended and starts the builds the pool
// lacks (all at once, as i2pd's pool does).
func (p *stockPool) manage() {
	now := p.s.clock.now
	p.tunnels = slices.DeleteFunc(p.tunnels, func(t tunnel) bool { return !t.expires.After(now) })
	fresh := 0
	for _, t := range p.tunnels {
		if t.expires.Sub(now) > stockRecreate {
			fresh++
		}
	}
	for range p.quantity - fresh - p.building {
		p.building++
		p.s.build(p.r, p.chooseHops(), func(t tunnel, ok bool) {
			p.building--
			if ok {
				p.tunnels = append(p.tunnels, t)
			}
		})
	}
}

// chooseHops picks the gateway from the pool's slice of the fast tier and
// the other hops from the whole tier, all distinct.
func (p *stockPool) chooseHops() []i2p.Hash {
	tier := p.s.tier(p.r)
	slice := simnet.GatewaySlice(tier, p.pool, p.hops)
	if len(slice) == 0 {
		slice = tier
	}
	if len(tier) < p.hops {
		p.s.fail(fmt.Errorf("fast tier of %s: %d peers for %d hops", p.r.name, len(tier), p.hops))
		return nil
	}
	hops := []i2p.Hash{slice[p.r.rng.IntN(len(slice))].Hash}
	for len(hops) < p.hops {
		if h := tier[p.r.rng.IntN(len(tier))].Hash; !slices.Contains(hops, h) {
			hops = append(hops, h)
		}
	}
	return hops
}

// leases are the pool's established tunnels (more than stockExpiring
// left), newest first, at most quantity.
func (p *stockPool) leases() []i2p.Lease2 {
	now := p.s.clock.now
	var ts []tunnel
	for _, t := range p.tunnels {
		if t.expires.Sub(now) > stockExpiring {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(a, b tunnel) int {
		if c := b.expires.Compare(a.expires); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]i2p.Lease2, 0, min(len(ts), p.quantity))
	for _, t := range ts[:min(len(ts), p.quantity)] {
		out = append(out, i2p.Lease2{Gateway: t.gateway, TunnelID: t.id, End: uint32(t.expires.Unix())})
	}
	return out
}

// publisher sends a LeaseSet of the leases it is given whenever they
// change, at most every minInterval.
type publisher struct {
	s           *sim
	minInterval time.Duration
	last        []i2p.Lease2
	lastAt      time.Time
	published   uint32
}

// offer publishes leases if they differ from the last ones and the pace
// allows.
func (pb *publisher) offer(leases []i2p.Lease2) {
	now := pb.s.clock.now
	if len(leases) == 0 || slices.Equal(leases, pb.last) {
		return
	}
	if !pb.lastAt.IsZero() && now.Sub(pb.lastAt) < pb.minInterval {
		return
	}
	published := max(uint32(now.Unix()), pb.published+1)
	var last uint32
	for _, l := range leases {
		last = max(last, l.End)
	}
	ls := &i2p.LeaseSet2{
		Destination: pb.s.keys.Destination(),
		Published:   published,
		Expires:     uint16(min(last-min(last, published), 660)),
		Options:     i2p.Mapping{},
		Keys:        []i2p.EncryptionKey{pb.s.encKey.EncryptionKey()},
		Leases:      leases,
	}
	if err := ls.Sign(pb.s.keys); err != nil {
		pb.s.fail(fmt.Errorf("sign leaseset: %w", err))
		return
	}
	pb.last, pb.lastAt, pb.published = leases, now, published
	pb.s.send(ls)
}

// addStock is a single stock router publishing its own LeaseSet.
func (s *sim) addStock(r *router, quantity int) {
	p := s.newStockPool(r, quantity, s.hops())
	pb := &publisher{s: s, minInterval: stockMinPublish}
	s.every(Start, tick, func() { pb.offer(p.leases()) })
}

// addNaive is the status quo done badly: every router keeps its own stock
// pool (gateways from its own fast tier), and their leases are merged into
// one LeaseSet as they come, published on every change.
func (s *sim) addNaive(c Config) {
	per := (c.Leases + c.Routers - 1) / c.Routers
	var pools []*stockPool
	for i := range c.Routers {
		pools = append(pools, s.newStockPool(s.router(routerName(i)), per, s.hops()))
	}
	pb := &publisher{s: s, minInterval: time.Second}
	s.every(Start, tick, func() {
		var all []i2p.Lease2
		for _, p := range pools {
			all = append(all, p.leases()...)
		}
		pb.offer(all[:min(len(all), i2p.MaxLeases)])
	})
}

func routerName(i int) string { return fmt.Sprintf("r%d", i+1) }

// hops is the tunnel length of the run.
func (s *sim) hops() int { return s.hopCount }

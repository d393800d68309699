package simnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
)

// localLink is a router attached in process.
type localLink struct {
	n    *Network
	name string
	hash i2p.Hash

	mu      sync.Mutex
	rng     *rand.Rand
	tier    *fastTier
	handler func(Delivery) bool
	closed  bool
}

var _ Link = (*localLink)(nil)

func (l *localLink) Name() string   { return l.name }
func (l *localLink) Hash() i2p.Hash { return l.hash }

func (l *localLink) String() string { return "simnet router " + l.name }

func (l *localLink) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// FastTier returns the router's fast tier at the network's current time.
func (l *localLink) FastTier(ctx context.Context) ([]Peer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("fast tier of %s: %w", l.name, ErrClosed)
	}
	return l.tierLocked(), nil
}

func (l *localLink) tierLocked() []Peer {
	n := l.n
	l.tier.advance(n.cfg.Seed, l.name, n.epoch(n.clock.Now()), n.cfg.FastTierChurn)
	out := make([]Peer, len(l.tier.tier))
	for i, idx := range l.tier.tier {
		out[i] = n.peers[idx]
	}
	return out
}

// buildPlan is the outcome of a build, drawn before its latency elapses.
type buildPlan struct {
	hops    []i2p.Hash
	id      uint32
	latency time.Duration
	ok      bool
}

// BuildTunnel builds a tunnel as the model says: each hop accepts with its
// reliability; the build takes RouterLatency plus each hop's sampled latency,
// or BuildTimeout if a failing hop dropped the request.
func (l *localLink) BuildTunnel(ctx context.Context, req BuildRequest) (Tunnel, error) {
	plan, err := l.plan(req)
	if err != nil {
		return Tunnel{}, fmt.Errorf("build tunnel on %s: %w", l.name, err)
	}
	if err := Sleep(ctx, l.n.clock, plan.latency); err != nil {
		return Tunnel{}, fmt.Errorf("build tunnel on %s: %w", l.name, err)
	}
	if l.isClosed() {
		return Tunnel{}, fmt.Errorf("build tunnel on %s: %w", l.name, ErrClosed)
	}
	l.n.countBuild(l.name, plan.ok)
	if !plan.ok {
		return Tunnel{}, fmt.Errorf("build tunnel on %s (%d hops): %w", l.name, len(plan.hops), ErrBuildFailed)
	}
	now := l.n.clock.Now()
	t := Tunnel{
		ID:      plan.id,
		Inbound: req.Inbound,
		Gateway: l.hash,
		Hops:    plan.hops,
		Created: now,
		Expires: now.Add(l.n.cfg.TunnelLifetime),
	}
	if !req.Inbound {
		return t, nil
	}
	if len(t.Hops) > 0 {
		t.Gateway = t.Hops[0]
	}
	for !l.n.register(l, t) {
		l.mu.Lock()
		t.ID = l.newTunnelIDLocked()
		l.mu.Unlock()
	}
	return t, nil
}

// plan validates the request, chooses hops and draws the outcome under the
// router's lock, so a router's sequence of builds is reproducible.
func (l *localLink) plan(req BuildRequest) (buildPlan, error) {
	cfg := l.n.cfg
	hopCount := req.HopCount
	if req.Hops != nil {
		if req.HopCount != 0 && req.HopCount != len(req.Hops) {
			return buildPlan{}, fmt.Errorf("%w: hop count %d but %d explicit hops", ErrBadRequest, req.HopCount, len(req.Hops))
		}
		hopCount = len(req.Hops)
	}
	if hopCount < 0 || hopCount > cfg.MaxHops {
		return buildPlan{}, fmt.Errorf("%w: %d hops, want 0..%d", ErrBadRequest, hopCount, cfg.MaxHops)
	}
	if err := l.checkHops(req.Hops); err != nil {
		return buildPlan{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return buildPlan{}, ErrClosed
	}
	hops := slices.Clone(req.Hops)
	if req.Hops == nil {
		hops = l.chooseHopsLocked(req, hopCount)
	}
	p := buildPlan{hops: hops, id: l.newTunnelIDLocked(), latency: cfg.RouterLatency, ok: true}
	dropped := false
	for _, h := range hops {
		peer := l.n.peers[l.n.byHash[h]]
		p.latency += time.Duration(float64(peer.Latency) * (0.5 + l.rng.Float64()))
		if p.ok && l.rng.Float64() >= peer.Reliability {
			p.ok = false
			dropped = l.rng.Float64() < cfg.DropShare
		}
	}
	if dropped {
		p.latency = cfg.BuildTimeout
	}
	return p, nil
}

func (l *localLink) checkHops(hops []i2p.Hash) error {
	seen := make(map[i2p.Hash]bool, len(hops))
	for _, h := range hops {
		if _, ok := l.n.byHash[h]; !ok {
			return fmt.Errorf("%w: %s", ErrUnknownPeer, h)
		}
		if seen[h] {
			return fmt.Errorf("%w: hop %s twice", ErrBadRequest, h)
		}
		seen[h] = true
	}
	return nil
}

func (l *localLink) newTunnelIDLocked() uint32 {
	for {
		if id := l.rng.Uint32(); id != 0 {
			return id
		}
	}
}

// chooseHopsLocked picks distinct hops from the fast tier; an inbound
// tunnel's gateway comes from the pool's gateway slice.
func (l *localLink) chooseHopsLocked(req BuildRequest, hopCount int) []i2p.Hash {
	if hopCount == 0 {
		return []i2p.Hash{}
	}
	tier := l.tierLocked()
	hops := make([]i2p.Hash, 0, hopCount)
	used := make(map[i2p.Hash]bool, hopCount)
	if req.Inbound {
		slice := GatewaySlice(tier, req.Pool, hopCount)
		if len(slice) == 0 {
			slice = tier
		}
		gw := slice[l.rng.IntN(len(slice))].Hash
		hops = append(hops, gw)
		used[gw] = true
	}
	candidates := tier
	if len(candidates) < hopCount+1 {
		candidates = l.n.peers
	}
	for len(hops) < hopCount {
		h := candidates[l.rng.IntN(len(candidates))].Hash
		if used[h] {
			continue
		}
		used[h] = true
		hops = append(hops, h)
	}
	return hops
}

// Publish stores a LeaseSet2 at the floodfills (after NetDBLatency).
func (l *localLink) Publish(ctx context.Context, ls []byte) error {
	if l.isClosed() {
		return fmt.Errorf("publish from %s: %w", l.name, ErrClosed)
	}
	if err := Sleep(ctx, l.n.clock, l.n.cfg.NetDBLatency); err != nil {
		return fmt.Errorf("publish from %s: %w", l.name, err)
	}
	if err := l.n.db.store(ls); err != nil {
		return fmt.Errorf("publish from %s: %w", l.name, err)
	}
	return nil
}

// Lookup fetches a LeaseSet2 from the floodfills (after NetDBLatency).
func (l *localLink) Lookup(ctx context.Context, dest i2p.Hash) ([]byte, error) {
	if l.isClosed() {
		return nil, fmt.Errorf("lookup from %s: %w", l.name, ErrClosed)
	}
	if err := Sleep(ctx, l.n.clock, l.n.cfg.NetDBLatency); err != nil {
		return nil, fmt.Errorf("lookup from %s: %w", l.name, err)
	}
	b, _, err := l.n.db.lookup(dest)
	if err != nil {
		return nil, fmt.Errorf("lookup %s from %s: %w", dest.B32(), l.name, err)
	}
	return b, nil
}

func (l *localLink) SetDeliveryHandler(h func(Delivery) bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handler = h
}

func (l *localLink) deliveryHandler() func(Delivery) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	return l.handler
}

// Close takes the router down; closing twice is harmless.
func (l *localLink) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.handler = nil
	l.mu.Unlock()
	l.n.detach(l)
	return nil
}

package simnet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
)

// BaselineConfig is today's multihoming, as `imh simnet baseline` runs it:
// the same keys on several stock routers, each with an unmanaged session
// that builds its own inbound tunnels and publishes its own LeaseSet (the
// last one stored wins).
type BaselineConfig struct {
	Keys *i2p.PrivateKeys
	// LeaseSetKey is the X25519 key the LeaseSets carry; nil makes one.
	LeaseSetKey *i2p.LeaseSetKey
	// Inbound tunnels per router and their length (i2pd-style pool; the
	// router chooses the hops, gateways from the destination's slice).
	Inbound int
	Hops    int
	// Rebuild is how long before expiry a replacement tunnel is built
	// (i2pd: 60 s).
	Rebuild time.Duration
	// MinPublishInterval is the least time between two publications of one
	// router (i2pd: 20 s); a router publishes whenever its set of inbound
	// tunnels changes, and again after a rejected publication.
	MinPublishInterval time.Duration
	// LeaseSetLifetime is the `expires` offset of the LeaseSets.
	LeaseSetLifetime time.Duration
}

// DefaultBaselineConfig is a stock router's pool: 3 inbound tunnels of 3
// hops, as `imh dest create` defaults to.
func DefaultBaselineConfig(keys *i2p.PrivateKeys) BaselineConfig {
	return BaselineConfig{
		Keys: keys, Inbound: 3, Hops: 3, Rebuild: time.Minute,
		MinPublishInterval: 20 * time.Second, LeaseSetLifetime: 10 * time.Minute,
	}
}

// BaselineStats counts what the baseline's routers did.
type BaselineStats struct {
	Publishes map[string]int `json:"publishes"` // stored, per router
	Rejected  map[string]int `json:"rejected"`  // refused by the floodfills
	Received  map[string]int `json:"received"`  // deliveries accepted
}

// Baseline is a running baseline; see RunBaseline.
type Baseline struct {
	cfg    BaselineConfig
	clock  Clock
	logger *slog.Logger

	mu    sync.Mutex
	stats BaselineStats
}

// RunBaseline plays a stock router's unmanaged session for cfg.Keys on each
// link (each a router attached to the network) until ctx ends. The routers'
// publications are counted by the floodfills like any other; Stats tells
// who published what. It returns nil when ctx ends.
func RunBaseline(ctx context.Context, clock Clock, links []Link, cfg BaselineConfig, logger *slog.Logger) (*Baseline, error) {
	b, err := newBaseline(clock, cfg, logger)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Go(func() { b.runRouter(ctx, l) })
	}
	wg.Wait()
	return b, nil
}

// Validate checks that cfg can run: signing keys, 1..16 inbound tunnels
// and positive intervals. Its errors wrap ErrBadRequest.
func (cfg BaselineConfig) Validate() error {
	if cfg.Keys == nil || !cfg.Keys.CanSign() {
		return fmt.Errorf("%w: baseline needs signing keys", ErrBadRequest)
	}
	if cfg.Inbound < 1 || cfg.Inbound > i2p.MaxLeases || cfg.Hops < 0 || cfg.MinPublishInterval <= 0 || cfg.LeaseSetLifetime <= 0 || cfg.LeaseSetLifetime > i2p.MaxFutureSkew {
		return fmt.Errorf("%w: baseline config %+v", ErrBadRequest, cfg)
	}
	return nil
}

// RemoteBaseline runs the baseline on one stock router per name, each
// attached to the network served at addr (Dial), until ctx ends; then it
// detaches them and returns what they did. It is `imh simnet baseline`
// against the `imh simnet serve` daemon.
func RemoteBaseline(ctx context.Context, addr string, names []string, cfg BaselineConfig, logger *slog.Logger) (BaselineStats, error) {
	if err := cfg.Validate(); err != nil {
		return BaselineStats{}, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var links []Link
	defer func() {
		for _, l := range links {
			l.Close()
		}
	}()
	for _, name := range names {
		l, err := Dial(ctx, addr, name, logger)
		if err != nil {
			return BaselineStats{}, err
		}
		links = append(links, l)
	}
	logger.Info("baseline running", "dest", cfg.Keys.Destination().B32(), "routers", strings.Join(names, ","))
	b, err := RunBaseline(ctx, RealClock(), links, cfg, logger)
	if err != nil {
		return BaselineStats{}, err
	}
	return b.Stats(), nil
}

func newBaseline(clock Clock, cfg BaselineConfig, logger *slog.Logger) (*Baseline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.LeaseSetKey == nil {
		k, err := i2p.NewLeaseSetKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("baseline leaseset key: %w", err)
		}
		cfg.LeaseSetKey = k
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Baseline{
		cfg: cfg, clock: clock, logger: logger.With("component", "simnet-baseline", "dest", cfg.Keys.Destination().B32()),
		stats: BaselineStats{Publishes: map[string]int{}, Rejected: map[string]int{}, Received: map[string]int{}},
	}, nil
}

// Stats returns a copy of the counters.
func (b *Baseline) Stats() BaselineStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return BaselineStats{Publishes: c(b.stats.Publishes), Rejected: c(b.stats.Rejected), Received: c(b.stats.Received)}
}

// stockRouter is one router's unmanaged session.
type stockRouter struct {
	b    *Baseline
	link Link

	mu      sync.Mutex
	tunnels map[uint32]Tunnel
}

func (b *Baseline) runRouter(ctx context.Context, l Link) {
	r := &stockRouter{b: b, link: l, tunnels: make(map[uint32]Tunnel)}
	dest := b.cfg.Keys.Destination().Hash()
	l.SetDeliveryHandler(func(d Delivery) bool {
		if d.Dest != dest || !r.live(d.TunnelID, d.Gateway) {
			return false
		}
		b.mu.Lock()
		b.stats.Received[l.Name()]++
		b.mu.Unlock()
		return true
	})
	defer l.SetDeliveryHandler(nil)
	var published []i2p.Lease2 // the leases of our last stored LeaseSet
	var lastTry time.Time
	for ctx.Err() == nil {
		r.maintain(ctx)
		leases := r.leases()
		now := b.clock.Now()
		if len(leases) > 0 && !slices.Equal(leases, published) && now.Sub(lastTry) >= b.cfg.MinPublishInterval {
			lastTry = now
			if r.publish(ctx, leases) {
				published = leases
			}
		}
		if Sleep(ctx, b.clock, time.Second) != nil {
			return
		}
	}
}

func (r *stockRouter) live(id uint32, gw i2p.Hash) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tunnels[id]
	return ok && t.Gateway == gw && r.b.clock.Now().Before(t.Expires)
}

// maintain drops expired tunnels and builds replacements for those within
// Rebuild of expiry, one build at a time, as a stock pool does.
func (r *stockRouter) maintain(ctx context.Context) {
	now := r.b.clock.Now()
	fresh := 0
	r.mu.Lock()
	for id, t := range r.tunnels {
		switch {
		case !now.Before(t.Expires):
			delete(r.tunnels, id)
		case t.Expires.Sub(now) > r.b.cfg.Rebuild:
			fresh++
		}
	}
	r.mu.Unlock()
	if fresh >= r.b.cfg.Inbound {
		return
	}
	t, err := r.link.BuildTunnel(ctx, BuildRequest{Inbound: true, HopCount: r.b.cfg.Hops, Pool: r.b.cfg.Keys.Destination().B32()})
	if err != nil {
		if !errors.Is(err, ErrBuildFailed) && ctx.Err() == nil {
			r.b.logger.Debug("baseline build", "router", r.link.Name(), "err", err)
		}
		return
	}
	r.mu.Lock()
	r.tunnels[t.ID] = t
	r.mu.Unlock()
}

// leases are the router's live tunnels, newest first (at most 16).
func (r *stockRouter) leases() []i2p.Lease2 {
	now := r.b.clock.Now()
	r.mu.Lock()
	var ts []Tunnel
	for _, t := range r.tunnels {
		if now.Before(t.Expires) {
			ts = append(ts, t)
		}
	}
	r.mu.Unlock()
	slices.SortFunc(ts, func(a, b Tunnel) int { return b.Expires.Compare(a.Expires) })
	var out []i2p.Lease2
	for _, t := range ts[:min(len(ts), i2p.MaxLeases)] {
		out = append(out, t.Lease2())
	}
	return out
}

func (r *stockRouter) publish(ctx context.Context, leases []i2p.Lease2) bool {
	b := r.b
	pub := uint32(b.clock.Now().Unix())
	ls := &i2p.LeaseSet2{
		Destination: b.cfg.Keys.Destination(),
		Published:   pub,
		Expires:     uint16(b.cfg.LeaseSetLifetime / time.Second),
		Keys:        []i2p.EncryptionKey{b.cfg.LeaseSetKey.EncryptionKey()},
		Leases:      leases,
	}
	if err := ls.Sign(b.cfg.Keys); err != nil {
		b.logger.Error("baseline sign", "err", err)
		return false
	}
	raw, err := ls.MarshalBinary()
	if err != nil {
		b.logger.Error("baseline marshal", "err", err)
		return false
	}
	err = r.link.Publish(ctx, raw)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == nil:
		b.stats.Publishes[r.link.Name()]++
		return true
	case errors.Is(err, ErrLeaseSetRejected):
		b.stats.Rejected[r.link.Name()]++
	}
	if ctx.Err() == nil {
		b.logger.Debug("baseline publish", "router", r.link.Name(), "err", err)
	}
	return false
}

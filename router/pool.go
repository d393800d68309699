package router

import (
	"slices"
	"strconv"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// Pool defaults of a stock router (I2P-WIRE 5).
const (
	defaultQuantity = 2
	defaultLength   = 3
	maxQuantity     = 16
)

// pool keeps an unmanaged session's tunnels as a stock router does: the
// inbound/outbound quantity and length from its options, replacements built
// before expiry, and a RequestVariableLeaseSet each time the set of inbound
// tunnels changes (once at least one tunnel exists in each direction).
type pool struct {
	r    *Router
	s    *session
	wake chan struct{}

	lastLeases []i2p.Lease // guarded by Router.mu: what the client was last asked to sign
}

func newPool(r *Router, s *session) *pool {
	return &pool{r: r, s: s, wake: make(chan struct{}, 1)}
}

// kick makes the pool re-check its tunnels (after an expiry or reconfigure).
func (p *pool) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// poolSettings reads quantity and length for one direction from options.
func poolSettings(opts i2p.Mapping, dir string) (quantity, length int) {
	quantity, length = defaultQuantity, defaultLength
	if v, err := strconv.Atoi(opts[dir+".quantity"]); err == nil && v >= 1 {
		quantity = min(v, maxQuantity)
	}
	if v, err := strconv.Atoi(opts[dir+".length"]); err == nil && v >= 0 {
		length = min(v, routerproto.MaxHops)
	}
	return quantity, length
}

// run maintains the pool until the session ends.
func (p *pool) run() {
	backoff := p.r.cfg.BuildRetry
	for {
		failed := p.fill()
		p.requestLeaseSet()
		wait := p.nextCheck()
		if failed {
			wait = min(wait, backoff)
			backoff = min(2*backoff, 30*time.Second)
		} else {
			backoff = p.r.cfg.BuildRetry
		}
		t := p.r.clock.NewTimer(wait)
		select {
		case <-p.s.ctx.Done():
			t.Stop()
			return
		case <-p.wake:
		case <-t.C():
		}
		t.Stop()
	}
}

// fill builds what is missing in both directions; a tunnel that expires
// within RebuildBefore no longer counts. It reports whether a build failed.
func (p *pool) fill() (failed bool) {
	for _, inbound := range []bool{true, false} {
		dir := "outbound"
		if inbound {
			dir = "inbound"
		}
		p.r.mu.Lock()
		if p.s.dead {
			p.r.mu.Unlock()
			return false
		}
		quantity, length := poolSettings(p.s.options, dir)
		fresh := 0
		now := p.r.now()
		cutoff := now.Add(p.r.cfg.RebuildBefore)
		for _, t := range p.s.liveTunnels(inbound, now) {
			if t.Expires.After(cutoff) {
				fresh++
			}
		}
		p.r.mu.Unlock()
		for range quantity - fresh {
			if p.s.ctx.Err() != nil {
				return false
			}
			if _, err := p.r.build(p.s, BuildRequest{Inbound: inbound, HopCount: length, Pool: p.s.hash.String()}); err != nil {
				p.r.log.Info("pool build failed", "dest", p.s.dest.B32(), "direction", dir, "err", err)
				failed = true
			}
		}
	}
	return failed
}

// nextCheck is when the earliest tunnel enters its rebuild window.
func (p *pool) nextCheck() time.Duration {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	wait := time.Minute
	now := p.r.now()
	for _, t := range p.s.tunnels {
		if d := t.Expires.Add(-p.r.cfg.RebuildBefore).Sub(now); d < wait {
			wait = max(d, 100*time.Millisecond)
		}
	}
	return wait
}

// requestLeaseSet asks the client to sign a LeaseSet for the current
// inbound tunnels, if they changed since the last request and the session
// has tunnels both ways (as a stock router does before its first request).
func (p *pool) requestLeaseSet() {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	s := p.s
	if s.dead || s.ctrl == nil {
		return
	}
	now := p.r.now()
	in, out := s.liveTunnels(true, now), s.liveTunnels(false, now)
	if len(in) == 0 || len(out) == 0 {
		return
	}
	var leases []i2p.Lease
	for _, t := range in {
		if len(leases) == i2p.MaxLeases {
			break
		}
		leases = append(leases, i2p.Lease{Gateway: t.Gateway, TunnelID: t.ID, EndMs: uint64(t.Expires.UnixMilli())})
	}
	if slices.Equal(leases, p.lastLeases) {
		return
	}
	p.lastLeases = leases
	s.ctrl.send(&routerproto.RequestVariableLeaseSet{SessionID: s.id, Leases: leases})
}

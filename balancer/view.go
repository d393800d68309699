package balancer

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
)

// liveView is the snapshot the loop publishes after each step for the
// cluster's status API (other goroutines read it).
type liveView struct {
	mu        sync.RWMutex
	routers   map[string]status.RouterLive
	frontends map[string]status.FrontendLive
	dests     map[string]status.DestinationLive
}

func (v *liveView) router(name string) (status.RouterLive, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r, ok := v.routers[name]
	r.Capabilities = slices.Clone(r.Capabilities)
	return r, ok
}

func (v *liveView) frontend(name string) (status.FrontendLive, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	f, ok := v.frontends[name]
	f.Destinations = slices.Clone(f.Destinations)
	return f, ok
}

func (v *liveView) destination(name string) (status.DestinationLive, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	d, ok := v.dests[name]
	d.GatewaySet = slices.Clone(d.GatewaySet)
	d.StandbyRouters = slices.Clone(d.StandbyRouters)
	d.PayloadsByRouter = maps.Clone(d.PayloadsByRouter)
	d.UpstreamInbound = maps.Clone(d.UpstreamInbound)
	if d.Invisibility != nil {
		inv := *d.Invisibility
		inv.Features = slices.Clone(inv.Features)
		d.Invisibility = &inv
	}
	return d, ok
}

func (v *liveView) set(routers map[string]status.RouterLive, frontends map[string]status.FrontendLive, dests map[string]status.DestinationLive) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.routers, v.frontends, v.dests = routers, frontends, dests
}

func (v *liveView) clear() { v.set(nil, nil, nil) }

// publishView snapshots router health, each frontend's link and last
// report, and each destination's live facts.
func (l *loop) publishView(now time.Time) {
	routers := make(map[string]status.RouterLive, len(l.routers))
	for name, r := range l.routers {
		rl := status.RouterLive{State: r.state, Capabilities: r.capNames()}
		if r.state == status.RouterDown && r.lastErr != nil {
			rl.Error = r.lastErr.Error()
		}
		routers[name] = rl
	}
	dests := make(map[string]status.DestinationLive, len(l.dests))
	for name, d := range l.dests {
		gs := []string{}
		for _, h := range d.gateways.Members() {
			gs = append(gs, h.String())
		}
		live := status.DestinationLive{
			GatewaySet:            gs,
			GatewayPolicyEnforced: l.enforced(d),
			StandbyRouters:        []string{},
			PayloadsByRouter:      maps.Clone(d.payloads),
			UpstreamInbound:       l.upstreamInbound(d, now),
			EchoDropped:           d.echoDropped,
			Invisibility:          d.history.invisibility(now, l.leaseTarget(d, l.routerStates(d))),
		}
		if d.svc != nil {
			live.Streams = d.svc.live()
		}
		if d.policy.Name() == PolicyFailover {
			live.ActiveRouter, live.Switches = d.active, d.switches
			live.StandbyRouters = standbyRouters(l.routerStates(d), d.inboundLeases(), d.active, now)
		}
		dests[name] = live
	}
	l.b.view.set(routers, l.frontendsLive(), dests)
}

// upstreamInbound counts, per router that builds its own tunnels (no
// create-tunnel: an adapter in front of a stock router) and holds a ready
// session of d, the live inbound tunnels it reported against the
// --inbound its session config asked its upstream for. A stock i2pd
// router may hold fewer than asked for minutes (docs/policies.md); this is
// where `imh status` shows it.
func (l *loop) upstreamInbound(d *destState, now time.Time) map[string]status.InboundCount {
	out := map[string]status.InboundCount{}
	for name, s := range d.sessions {
		r := l.routers[name]
		if r == nil || !s.ready || r.has(routerproto.CapCreateTunnel) {
			continue
		}
		have := 0
		for _, t := range s.tunnels {
			if t.Direction == routerproto.Inbound && end(t).After(now) {
				have++
			}
		}
		out[name] = status.InboundCount{Have: have, Want: int(d.settings.Inbound)}
	}
	return out
}

// enforced reports whether the gateway policy holds for d: every router
// that is up takes explicit hops (or tunnels have no hops at all).
func (l *loop) enforced(d *destState) bool {
	if d.settings.Hops == 0 {
		return true
	}
	for _, r := range l.routers {
		if r.up() && !r.has(routerproto.CapExplicitHops) {
			return false
		}
	}
	return true
}

// standbyRouters are the routers that could take over at once: up, not the
// active one, and hot — holding at least one live inbound tunnel. A router
// whose control connection answers but whose tunnels are gone (a stock
// router behind an adapter that lost it) is not a standby.
func standbyRouters(states []RouterState, inbound []Lease, active string, now time.Time) []string {
	hot := make(map[string]bool)
	for _, l := range inbound {
		if l.End.After(now) {
			hot[l.Router] = true
		}
	}
	out := []string{}
	for _, rs := range states {
		if rs.Up && rs.Name != active && hot[rs.Name] {
			out = append(out, rs.Name)
		}
	}
	return out
}

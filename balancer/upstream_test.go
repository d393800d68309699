package balancer

import (
	"maps"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

func TestUpstreamOptions(t *testing.T) {
	for _, tc := range []struct {
		s    fsm.Settings
		want map[string]string
	}{
		// One spare inbound tunnel (SpareInbound) ...
		{fsm.Settings{Inbound: 3, Outbound: 2, Hops: 1}, map[string]string{"inbound.length": "1", "outbound.length": "1", "inbound.quantity": "4", "outbound.quantity": "2"}},
		{fsm.Settings{Inbound: 1, Outbound: 2, Hops: 3}, map[string]string{"inbound.length": "3", "outbound.length": "3", "inbound.quantity": "2", "outbound.quantity": "2"}},
		// ... but none for zero-hop pools or a full LeaseSet.
		{fsm.Settings{Inbound: 16, Outbound: 1, Hops: 0}, map[string]string{"inbound.length": "0", "outbound.length": "0", "inbound.quantity": "16", "outbound.quantity": "1"}},
		{fsm.Settings{Inbound: 2, Outbound: 1, Hops: 0}, map[string]string{"inbound.length": "0", "outbound.length": "0", "inbound.quantity": "2", "outbound.quantity": "1"}},
		{fsm.Settings{Inbound: 16, Outbound: 1, Hops: 2}, map[string]string{"inbound.length": "2", "outbound.length": "2", "inbound.quantity": "16", "outbound.quantity": "1"}},
	} {
		got := UpstreamOptions(tc.s)
		want := i2p.Mapping{"i2cp.leaseSetType": "3", "i2cp.leaseSetEncType": "4", "i2cp.fastReceive": "true", "i2cp.messageReliability": "none"}
		maps.Copy(want, tc.want)
		if !maps.Equal(got, want) {
			t.Errorf("UpstreamOptions(%+v) = %v, want %v", tc.s, got, want)
		}
	}
}

// The session config the balancer signs carries the upstream's I2CP
// options for a router that cannot build tunnels on request (it forwards
// the config unchanged to a stock router), and only imh's own options for
// one that can.
func TestLoopSessionOptionsByCapability(t *testing.T) {
	upstreamCaps := []string{routerproto.CapManagedSessions, routerproto.CapTunnelPool, routerproto.CapLeaseSetStatus, routerproto.CapNeedLeaseSet, routerproto.CapPayloadFrom}
	settings := fsm.Settings{Inbound: 2, Outbound: 3, Hops: 1, Policy: fsm.PolicySpread, Service: fsm.ServiceEcho}
	for _, tc := range []struct {
		name     string
		caps     []string
		upstream bool
	}{
		{"stock upstream", upstreamCaps, true},
		{"imh router", allCaps, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, 2, tc.caps, settings)
				run := h.start(7, 3)
				defer run.stop(t)
				time.Sleep(5 * time.Second)
				dh := h.keys.Destination().Hash()
				for _, r := range h.routers {
					r.mu.Lock()
					s := r.sessions[dh]
					var opts i2p.Mapping
					if s != nil {
						opts = maps.Clone(s.options)
					}
					r.mu.Unlock()
					if s == nil {
						t.Fatalf("%s: no session", r.name)
					}
					if opts[routerproto.OptManaged] != "true" || opts[routerproto.OptTerm] != "7" {
						t.Errorf("%s: imh options %v", r.name, opts)
					}
					for k, v := range UpstreamOptions(settings) {
						if got, ok := opts[k]; tc.upstream && got != v || !tc.upstream && ok {
							t.Errorf("%s: option %s = %q (present %v), upstream %v wants %q", r.name, k, got, ok, tc.upstream, v)
						}
					}
				}
			})
		})
	}
}

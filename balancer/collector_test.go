package balancer

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/internal/metrics/metricstest"
	"github.com/imh-project/imh/internal/status"
)

// TestCollectorExposition pins the collector's names, help, types, labels and
// values for fixed figures (docs/monitoring.md is a contract).
func TestCollectorExposition(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cases := []struct {
		name string
		c    prometheus.Collector
	}{
		{"balancer.prom", metrics.Collector{Families: balancerFamilies, Emit: func(ch chan<- prometheus.Metric) {
			emitBalancer(ch, Metrics{Leading: true, Term: 3,
				Routers: map[string]RouterMetrics{"ra": {Up: true, Downs: 1}, "rb": {Downs: 4}},
				Dests: map[string]DestMetrics{
					"web": {Policy: PolicyFailover, ActiveRouter: "ra", Leases: 3, LeaseGoal: 6, Published: now.Add(-90 * time.Second),
						GatewaySet: 20, GatewaysInUse: 3, Counters: DestCounters{Publishes: 11, Switches: 2, GatewayChanges: 5},
						Streams: status.StreamsLive{Open: 2, Accepted: 40, Refused: 1, BytesIn: 1000, BytesOut: 2000},
						ByRouter: map[string]DestRouterMetrics{
							"ra": {Leases: 3, InboundTunnels: 3, OutboundTunnels: 2, PendingBuilds: 1,
								Counters: RouterCounters{TunnelBuilds: 30, TunnelBuildFailures: 4, HandOvers: 11, Payloads: 50, PayloadBytes: 5000}},
							"rb": {InboundTunnels: 1},
						}},
					"mail": {Leases: 0, LeaseGoal: 6},
				}}, now)
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			metricstest.Golden(t, filepath.Join("testdata", "metrics", tc.name), tc.c)
		})
	}
}

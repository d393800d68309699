package router

import (
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/internal/metrics/metricstest"
)

// TestCollectorExposition pins the collector's names, help, types, labels and
// values for fixed figures (docs/monitoring.md is a contract).
func TestCollectorExposition(t *testing.T) {
	cases := []struct {
		name string
		c    prometheus.Collector
	}{
		{"router.prom", metrics.Collector{Families: routerFamilies, Emit: func(ch chan<- prometheus.Metric) {
			emitRouter(ch, Status{Name: "ra", FastTier: 75, Builds: BuildCounts{OK: 12, Failed: 3}, Delivered: 99,
				Sessions: []SessionStatus{
					{ID: 1, B32: "aaaa.b32.i2p", ControlAttached: true, DataAttached: 1, Queued: 2, QueueDropped: 3, StaleRefused: 1},
					{ID: 2, B32: "aaaa.b32.i2p", DataAttached: 2, Queued: 1, QueueDropped: 1, StaleRefused: 2},
					{ID: 3, B32: "bbbb.b32.i2p"},
				},
				Tunnels: []TunnelStatus{{ID: 1, Direction: "inbound"}, {ID: 2, Direction: "inbound"}, {ID: 3, Direction: "outbound"}},
			}, 6)
		}}},
		{"router_idle.prom", metrics.Collector{Families: routerFamilies, Emit: func(ch chan<- prometheus.Metric) {
			emitRouter(ch, Status{Name: "rb"}, 0)
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			metricstest.Golden(t, filepath.Join("testdata", "metrics", tc.name), tc.c)
		})
	}
}

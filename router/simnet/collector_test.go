package simnet

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
		{"simnet.prom", metrics.Collector{Families: simnetFamilies, Emit: func(ch chan<- prometheus.Metric) {
			emitSimnet(ch, Status{Peers: 2000, Floodfills: 100, Routers: []string{"ra", "rb"}, Tunnels: 9,
				RouterStats: map[string]RouterStats{
					"ra": {BuildsOK: 10, BuildsFailed: 2, Delivered: 30, Refused: 1, Sent: 7, SendFailed: 1},
					"rb": {BuildsOK: 5},
				},
				Destinations: map[string]DestStatus{"aaaa.b32.i2p": {Stores: 4, Rejected: 1, Lookups: 8}},
			})
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			metricstest.Golden(t, filepath.Join("testdata", "metrics", tc.name), tc.c)
		})
	}
}

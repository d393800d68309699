package frontend

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/internal/metrics/metricstest"
)

// TestCollectorExposition pins the collector's names, help, types, labels and
// values for fixed figures (docs/monitoring.md is a contract).
func TestCollectorExposition(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cases := []struct {
		name string
		c    prometheus.Collector
	}{
		{"frontend.prom", metrics.Collector{Families: frontendFamilies, Emit: func(ch chan<- prometheus.Metric) {
			emitFrontend(ch, Status{Name: "fe1", Dests: []DestStatus{
				{Name: "web", Attached: true, Active: true, BackendUp: true, KeyExpires: now.Add(time.Hour),
					Open: 1, Accepted: 20, Refused: 2, BytesIn: 300, BytesOut: 400, Errors: 1},
				{Name: "mail"},
			}}, 5)
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			metricstest.Golden(t, filepath.Join("testdata", "metrics", tc.name), tc.c)
		})
	}
}

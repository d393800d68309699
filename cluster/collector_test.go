package cluster

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
		{"cluster_follower.prom", metrics.Collector{Families: clusterFamilies, Emit: func(ch chan<- prometheus.Metric) {
			emitCluster(ch, RaftFigures{KnownLeader: true, Term: 7, LastIndex: 120, CommitIndex: 119, Applied: 118,
				LastContact: now.Add(-1500 * time.Millisecond), Voters: 3, Servers: 4}, now)
		}}},
		{"cluster_leader.prom", metrics.Collector{Families: clusterFamilies, Emit: func(ch chan<- prometheus.Metric) {
			emitCluster(ch, RaftFigures{Leader: true, KnownLeader: true, Term: 9, LastIndex: 5, CommitIndex: 5, Applied: 5,
				LastContact: now.Add(-time.Hour), Voters: 3, Servers: 3}, now)
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			metricstest.Golden(t, filepath.Join("testdata", "metrics", tc.name), tc.c)
		})
	}
}

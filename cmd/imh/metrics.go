package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
)

// GET /metrics (docs/monitoring.md lists every metric): each daemon
// registers the collectors of its components — cluster.NewCollector and
// balancer.NewCollector on an agent, router.NewCollector,
// simnet.NewCollector, frontend.NewCollector on the others — which own
// the mapping from their status to metrics.

// metricsHandler is GET /metrics for a daemon: the Go and process
// collectors, cs, and more gatherers (raft's, on an agent).
func metricsHandler(reg *prometheus.Registry, more ...prometheus.Gatherer) http.Handler {
	return metrics.Handler(append([]prometheus.Gatherer{reg}, more...)...)
}

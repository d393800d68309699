// Package metrics holds what every imh daemon's GET /metrics shares: a
// Prometheus registry with the Go and process collectors, the HTTP handler,
// and the bridge that brings hashicorp/raft's own metrics (emitted through
// hashicorp/go-metrics, the package raft v1.8 imports) into the same
// exposition under Prometheus names, and the small vocabulary (Family,
// Gauge, Counter, Emit, Collector) in which each component's package
// declares its own collector over its status (cluster, balancer, router,
// router/simnet, frontend): the mapping from a status field to a metric
// lives beside the field. The collectors read status at scrape time;
// nothing here is global except go-metrics' own global sink, which raft
// writes to. This package imports no imh package, so any of them may use it.
package metrics

import (
	"net/http"
	"sync"

	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric imh defines.
const Namespace = "imh"

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the gatherers in the Prometheus text (or negotiated)
// format. A collector that fails leaves the rest of the scrape intact.
func Handler(g ...prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(prometheus.Gatherers(g), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	raftOnce     sync.Once
	raftGatherer prometheus.Gatherer
	raftErr      error
)

// Raft installs go-metrics' global sink (once per process: raft writes to
// the global) as a Prometheus sink and returns a Gatherer of raft's metrics
// renamed to Prometheus conventions (see conventional). Only keys under
// "raft." are kept; the per-peer copies raft also emits with the peer's
// name inside the key are dropped (the labelled ones stay). Metrics never
// expire: their names are bounded (the peers are the cluster's agents).
func Raft() (prometheus.Gatherer, error) {
	raftOnce.Do(func() {
		reg := prometheus.NewRegistry()
		sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Registerer: reg, Name: "imh_raft"})
		if err != nil {
			raftErr = err
			return
		}
		cfg := gometrics.DefaultConfig("")
		cfg.EnableHostname = false
		cfg.EnableRuntimeMetrics = false
		cfg.FilterDefault = false
		cfg.AllowedPrefixes = []string{"raft"}
		cfg.BlockedPrefixes = []string{
			"raft.replication.heartbeat.", "raft.replication.installSnapshot.",
			"raft.replication.appendEntries.rpc.", "raft.replication.appendEntries.logs.",
		}
		if _, err := gometrics.NewGlobal(cfg, sink); err != nil {
			raftErr = err
			return
		}
		raftGatherer = renamer{reg}
	})
	return raftGatherer, raftErr
}

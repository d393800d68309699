package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
)

// Extension plugs a part (the balancer) into an agent; cmd/imh wires it,
// since cluster never imports balancer. It is called once the cluster is
// built and may install a live view (SetLiveView) and return leader work:
// that function then runs on the leader only, started after a Barrier and
// cancelled when leadership is lost (Config.LeaderWork). Several
// extensions' works run side by side. reg takes the extension's metrics
// collectors (GET /metrics).
type Extension func(c *Cluster, reg prometheus.Registerer, logger *slog.Logger) (leaderWork func(context.Context) error, err error)

// RunAgent is `imh agent`: it builds the cluster of cfg, serves GET
// /metrics (the Go and process collectors, raft's figures, the cluster's
// collector and whatever the extensions register), plugs exts in, and
// runs the cluster until ctx ends, then stops cleanly. cfg.LeaderWork and
// cfg.Metrics are its own. A damaged data dir is an error that is
// ErrCorrupt: the operator's to repair, not a failure to retry.
func RunAgent(ctx context.Context, cfg Config, exts ...Extension) error {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The leader work may start as soon as the cluster runs; it waits
	// until every extension has returned its work.
	ready := make(chan struct{})
	var works []func(context.Context) error
	cfg.LeaderWork = func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return nil
		case <-ready:
		}
		return runLeaderWorks(ctx, works)
	}
	reg := metrics.NewRegistry()
	raftMetrics, err := metrics.Raft()
	if err != nil {
		logger.Warn("raft metrics unavailable", "err", err)
		raftMetrics = prometheus.Gatherers{}
	}
	cfg.Metrics = metrics.Handler(reg, raftMetrics)
	c, err := New(cfg)
	if err != nil {
		return fmt.Errorf("agent %s: %w", cfg.NodeName, err)
	}
	reg.MustRegister(NewCollector(c))
	for _, ext := range exts {
		w, err := ext(c, reg, logger)
		if err != nil {
			close(ready)
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			_ = c.Run(cancelled)
			return fmt.Errorf("agent %s: %w", cfg.NodeName, err)
		}
		if w != nil {
			works = append(works, w)
		}
	}
	close(ready)
	logger.Info("agent running", "node", cfg.NodeName, "http", c.HTTPAddr(), "raft", c.RaftAddr(), "gossip", c.GossipAddr(), "tls", cfg.TLS != nil)
	if err := c.Run(ctx); err != nil {
		return fmt.Errorf("agent %s: %w", cfg.NodeName, err)
	}
	return nil
}

// runLeaderWorks runs every extension's leader work until ctx ends or one
// fails (the cluster restarts them all after a pause).
func runLeaderWorks(ctx context.Context, works []func(context.Context) error) error {
	if len(works) == 0 {
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(works))
	for _, w := range works {
		go func() { errc <- w(ctx) }()
	}
	var first error
	for range works {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	if first == nil && ctx.Err() == nil {
		return errors.New("leader work returned")
	}
	return first
}

// Package simnetd is the simulated network daemon, `imh simnet serve`: one
// simnet.Network served to router processes and senders, with a read-only
// HTTP status endpoint.
//
// cmd/imh keeps the flags and the logger; Run owns what runs and how it
// stops (internal/daemon), as router/routerd does for `imh router serve`.
package simnetd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/imh-project/imh/internal/daemon"
	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/router/simnet"
)

// Config is one simulated network daemon. Its fields are the settings of
// `imh simnet serve`, and Validate's messages name that command's flags.
// Each setting's mapstructure tag is its flag's name (the key of the
// command's --config file), so that the command decodes its settings
// straight into a Config; the Logger it builds itself is tagged "-".
type Config struct {
	Listen    string  `mapstructure:"listen"`     // H:P routers and senders connect to
	HTTP      string  `mapstructure:"http"`       // H:P of GET /status and GET /metrics; none if empty
	Seed      int64   `mapstructure:"seed"`       // seed of every random choice of the network
	Peers     int     `mapstructure:"peers"`      // simulated peers
	TimeScale float64 `mapstructure:"time-scale"` // simulated seconds per real second

	Logger *slog.Logger `mapstructure:"-"`
}

// network is the simulated network the settings describe: the defaults
// with Seed, Peers and TimeScale, and no more floodfills than a twentieth
// of the peers (but enough to store a LeaseSet redundantly).
func (c Config) network() simnet.Config {
	cfg := simnet.DefaultConfig()
	cfg.Seed, cfg.Peers = c.Seed, c.Peers
	cfg.Floodfills = min(cfg.Floodfills, max(cfg.StoreRedundancy, c.Peers/20))
	cfg.Clock = simnet.ScaledClock(c.TimeScale)
	return cfg
}

// Validate checks the settings before anything is started, as raft's
// ValidateConfig does. Every error is the caller's to fix.
func (c Config) Validate() error {
	if c.Listen == "" {
		return errors.New("simnet serve: --listen is required")
	}
	if !(c.TimeScale > 0) {
		return fmt.Errorf("simnet serve: --time-scale %v must be positive", c.TimeScale)
	}
	if err := c.network().Validate(); err != nil {
		return fmt.Errorf("simnet serve: %w", err)
	}
	return nil
}

// Run serves the network until ctx ends or its status server fails; it
// returns once every part has stopped.
func Run(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n, err := simnet.NewWithLogger(c.network(), logger)
	if err != nil {
		return fmt.Errorf("simnet serve: %w", err)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("simnet serve: listen %s: %w", c.Listen, err)
	}
	parts := []daemon.Part{func(ctx context.Context) error { return simnet.Serve(ctx, ln, n, logger) }}
	if c.HTTP != "" {
		hln, err := net.Listen("tcp", c.HTTP)
		if err != nil {
			ln.Close()
			return fmt.Errorf("simnet serve: http listen %s: %w", c.HTTP, err)
		}
		reg := metrics.NewRegistry()
		reg.MustRegister(simnet.NewCollector(n))
		status := func(context.Context) any { return n.Status() }
		serveHTTP := daemon.HTTP(&http.Server{Handler: daemon.StatusHandler(status, metrics.Handler(reg)), ReadHeaderTimeout: 5 * time.Second}, hln)
		parts = append(parts, func(ctx context.Context) error {
			if err := serveHTTP(ctx); err != nil {
				return fmt.Errorf("simnet serve: http: %w", err)
			}
			return nil
		})
		logger.Info("simnet status http", "addr", hln.Addr().String())
	}
	logger.Info("simnet serving", "addr", ln.Addr().String(), "seed", c.Seed, "peers", c.Peers, "time_scale", c.TimeScale)
	runErr := daemon.Run(ctx, parts...)
	logger.Info("simnet stopped")
	return runErr
}

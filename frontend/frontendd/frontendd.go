// Package frontendd is the frontend daemon, `imh frontend serve`: one
// frontend.Frontend beside one router, serving the balancer leader on a
// capped, optionally TLS listener, with a read-only HTTP status endpoint.
//
// cmd/imh keeps the flags, the TLS files and the logger; Run owns what
// runs and how it stops (internal/daemon), as router/routerd does for
// `imh router serve`.
package frontendd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/imh-project/imh/frontend"
	"github.com/imh-project/imh/internal/daemon"
	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/internal/netlimit"
	"github.com/imh-project/imh/internal/pki"
)

// Connection caps of the listener the leader connects to. Only the leader
// has business there; the caps bound what a flood can hold open (the
// router daemon's defaults).
const (
	MaxConns          = 256
	MaxConnsPerSource = 64
)

// Peers may connect to a frontend: agents only (the leader).
var Peers = pki.Peer{Roles: []pki.Role{pki.RoleAgent}}

// Config is one frontend daemon. Its fields are the settings of `imh
// frontend serve`, and Validate's messages name that command's flags.
// Each setting's mapstructure tag is its flag's name (the key of the
// command's --config file), so that the command decodes its settings
// straight into a Config; what the command builds itself is tagged "-".
type Config struct {
	Name   string `mapstructure:"name"`   // as added with `imh frontend add`
	Listen string `mapstructure:"listen"` // H:P the leader connects to
	Router string `mapstructure:"router"` // H:P of the router protocol of the router beside it
	HTTP   string `mapstructure:"http"`   // H:P of GET /status and GET /metrics; none if empty

	// TLS, when not nil, serves the leader over TLS and reaches the router
	// over TLS, accepting only the certificate naming that router. nil:
	// plaintext (the caller applied the plaintext rule).
	TLS    *pki.Store   `mapstructure:"-"`
	Logger *slog.Logger `mapstructure:"-"`
}

// Validate checks the settings before anything is started, as raft's
// ValidateConfig does. Every error is the caller's to fix.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("frontend serve: --name is required")
	case c.Listen == "":
		return errors.New("frontend serve: --listen is required")
	case c.Router == "":
		return errors.New("frontend serve: --router is required")
	}
	if _, _, err := net.SplitHostPort(c.Router); err != nil {
		return fmt.Errorf("frontend serve: --router %q: want HOST:PORT", c.Router)
	}
	if err := pki.ValidName(c.Name); err != nil {
		return fmt.Errorf("frontend serve: --name: %w", err)
	}
	return nil
}

// Run serves the frontend until ctx ends or its status server fails; it
// returns once every part has stopped and the frontend is closed.
func Run(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := frontend.Config{Name: c.Name, Router: c.Router, Logger: logger, RouterTLS: c.TLS.NamedClientConfigs(pki.RoleRouter)}
	fe, err := frontend.New(cfg)
	if err != nil {
		return fmt.Errorf("frontend serve: %w", err)
	}
	defer fe.Close()
	raw, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("frontend serve: listen on %s: %w", c.Listen, err)
	}
	limited := netlimit.New(raw, MaxConns, MaxConnsPerSource)
	var ln net.Listener = limited
	if c.TLS != nil {
		ln = tls.NewListener(ln, c.TLS.ServerConfig(Peers))
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(frontend.NewCollector(fe, limited.Refused))
	parts := []daemon.Part{func(ctx context.Context) error {
		if err := fe.Serve(ctx, ln); err != nil {
			return fmt.Errorf("frontend serve: %w", err)
		}
		return nil
	}}
	if c.HTTP != "" {
		hln, err := net.Listen("tcp", c.HTTP)
		if err != nil {
			ln.Close()
			return fmt.Errorf("frontend serve: http listen on %s: %w", c.HTTP, err)
		}
		status := func(context.Context) any { return fe.Status() }
		serveHTTP := daemon.HTTP(&http.Server{Handler: daemon.StatusHandler(status, metrics.Handler(reg)), ReadHeaderTimeout: 5 * time.Second}, hln)
		parts = append(parts, func(ctx context.Context) error {
			if err := serveHTTP(ctx); err != nil {
				logger.Error("status server failed; stopping the frontend", "http", c.HTTP, "err", err)
				return fmt.Errorf("frontend %s: %w on %s: %w", c.Name, daemon.ErrStatusServer, c.HTTP, err)
			}
			return nil
		})
	}
	logger.Info("frontend serving", "name", c.Name, "listen", ln.Addr().String(), "router", c.Router, "http", c.HTTP, "tls", c.TLS != nil)
	if err := daemon.Run(ctx, parts...); err != nil {
		return err
	}
	logger.Info("frontend stopped", "name", c.Name)
	return nil
}

package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/frontend"
	"github.com/imh-project/imh/internal/daemon"
	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/internal/netlimit"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/router/routerd"
)

// frontendServeConfig is what `imh frontend serve` reads through
// loadConfig: one field per flag, tagged with the flag's name.
type frontendServeConfig struct {
	Name              string      `mapstructure:"name"`
	Listen            string      `mapstructure:"listen"`
	Router            string      `mapstructure:"router"`
	HTTP              string      `mapstructure:"http"`
	LogLevel          string      `mapstructure:"log-level"`
	TLS               tlsSettings `mapstructure:",squash"`
	InsecurePlaintext bool        `mapstructure:"insecure-plaintext"`
}

// frontendPeers may connect to a frontend: agents only (the leader).
var frontendPeers = pki.Peer{Roles: []pki.Role{pki.RoleAgent}}

func newFrontendServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run the frontend beside one router (multi-client mode): streams end here, not on the leader",
		Long: `Serve as the frontend beside one router (multi-client mode). The balancer
leader connects to --listen and assigns the destinations this frontend serves;
the frontend attaches to the router at --router as a data attachment with a
transient key the leader certifies (the long-term key never comes here),
terminates the destinations' I2P streams and connects each to the
destination's TCP service. GET /status on --http reports what it serves.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c frontendServeConfig
			if err := loadConfig(cmd, "frontend serve", &c); err != nil {
				return err
			}
			return runFrontendServe(cmd.Context(), c, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.String("name", "", "frontend name (as added with imh frontend add)")
	f.String("listen", "", "address the leader connects to (H:P)")
	f.String("router", "", "router protocol address of the router beside it (H:P)")
	f.String("http", "", "address of the read-only HTTP status endpoint (H:P); none if empty")
	f.String("log-level", "info", "log level: debug, info, warn, error")
	addTLSFlags(f, new(tlsFlags)) // read through loadConfig, not the struct
	f.Bool("insecure-plaintext", false, "INSECURE: accept the leader in plaintext on a non-loopback address (no TLS files)")
	addConfigFileFlag(f)
	return cmd
}

// Validate checks the settings before anything is started, as raft's
// ValidateConfig does; every error is a usage error (exit 2).
func (o frontendServeConfig) Validate() error {
	switch {
	case o.Name == "":
		return usageErrorf("frontend serve: --name is required")
	case o.Listen == "":
		return usageErrorf("frontend serve: --listen is required")
	case o.Router == "":
		return usageErrorf("frontend serve: --router is required")
	}
	if _, _, err := net.SplitHostPort(o.Router); err != nil {
		return usageErrorf("frontend serve: --router %q: want HOST:PORT", o.Router)
	}
	if err := pki.ValidName(o.Name); err != nil {
		return usageErrorf("frontend serve: --name: %v", err)
	}
	_, err := parseRouterLogLevel(o.LogLevel)
	return err
}

// frontendServeTLS loads the frontend's TLS files: a frontend certificate
// naming --name. Without files, the plaintext rule applies.
func frontendServeTLS(o frontendServeConfig, logger *slog.Logger) (*pki.Store, error) {
	store, err := loadTLS(o.TLS.files(), pki.RoleFrontend, logger)
	if err != nil || store == nil {
		if err == nil {
			err = plaintextCheck(o.InsecurePlaintext, logger, o.Listen)
		}
		return nil, err
	}
	if id := store.Identity(); id.Name != o.Name {
		return nil, usageErrorf("frontend serve: --cert-file %s names %s, but --name is %s", o.TLS.CertFile, id, o.Name)
	}
	return store, nil
}

func runFrontendServe(ctx context.Context, o frontendServeConfig, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	level, _ := parseRouterLogLevel(o.LogLevel)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	store, err := frontendServeTLS(o, logger)
	if err != nil {
		return err
	}
	watchTLS(ctx, store, logger)
	cfg := frontend.Config{Name: o.Name, Router: o.Router, Logger: logger}
	if store != nil {
		cfg.RouterTLS = func(name string) *tls.Config {
			return store.ClientConfig(pki.Peer{Roles: []pki.Role{pki.RoleRouter}, Name: name})
		}
	}
	fe, err := frontend.New(cfg)
	if err != nil {
		return usageErrorf("frontend serve: %v", err)
	}
	defer fe.Close()
	raw, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("frontend serve: listen on %s: %w", o.Listen, err)
	}
	limited := netlimit.New(raw, routerd.DefaultMaxConns, routerd.DefaultMaxConnsPerSource)
	var ln net.Listener = limited
	if store != nil {
		ln = tls.NewListener(ln, store.ServerConfig(frontendPeers))
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(frontend.NewCollector(fe, limited.Refused))
	parts := []daemon.Part{func(ctx context.Context) error {
		if err := fe.Serve(ctx, ln); err != nil {
			return fmt.Errorf("frontend serve: %w", err)
		}
		return nil
	}}
	if o.HTTP != "" {
		hln, err := net.Listen("tcp", o.HTTP)
		if err != nil {
			ln.Close()
			return fmt.Errorf("frontend serve: http listen on %s: %w", o.HTTP, err)
		}
		serveHTTP := daemon.HTTP(&http.Server{Handler: statusMux(func() any { return fe.Status() }, metricsHandler(reg)), ReadHeaderTimeout: 5 * time.Second}, hln)
		parts = append(parts, func(ctx context.Context) error {
			if err := serveHTTP(ctx); err != nil {
				logger.Error("status server failed; stopping the frontend", "http", o.HTTP, "err", err)
				return fmt.Errorf("frontend %s: %w on %s: %w", o.Name, daemon.ErrStatusServer, o.HTTP, err)
			}
			return nil
		})
	}
	logger.Info("frontend serving", "name", o.Name, "listen", ln.Addr().String(), "router", o.Router, "http", o.HTTP, "tls", store != nil)
	if err := daemon.Run(ctx, parts...); err != nil {
		return err
	}
	logger.Info("frontend stopped", "name", o.Name)
	return nil
}

// statusMux serves GET /status with what status returns, and GET /metrics.
func statusMux(status func() any, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status())
	})
	return mux
}

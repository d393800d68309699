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
	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/internal/netlimit"
	"github.com/imh-project/imh/internal/pki"
)

type frontendServeOptions struct {
	name     string
	listen   string
	router   string
	httpAddr string
	logLevel string
	tls      tlsFlags
	insecure bool
}

// frontendPeers may connect to a frontend: agents only (the leader).
var frontendPeers = pki.Peer{Roles: []pki.Role{pki.RoleAgent}}

func init() { frontendSubcommands = append(frontendSubcommands, newFrontendServeCmd) }

func newFrontendServeCmd() *cobra.Command {
	var o frontendServeOptions
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
			if err := routerServeEnv(cmd.Flags()); err != nil {
				return err
			}
			return runFrontendServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "frontend name (as added with imh frontend add)")
	f.StringVar(&o.listen, "listen", "", "address the leader connects to (H:P)")
	f.StringVar(&o.router, "router", "", "router protocol address of the router beside it (H:P)")
	f.StringVar(&o.httpAddr, "http", "", "address of the read-only HTTP status endpoint (H:P); none if empty")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addTLSFlags(f, &o.tls)
	f.BoolVar(&o.insecure, "insecure-plaintext", false, "INSECURE: accept the leader in plaintext on a non-loopback address (no TLS files)")
	return cmd
}

func (o frontendServeOptions) validate() error {
	switch {
	case o.name == "":
		return usageErrorf("frontend serve: --name is required")
	case o.listen == "":
		return usageErrorf("frontend serve: --listen is required")
	case o.router == "":
		return usageErrorf("frontend serve: --router is required")
	}
	if _, _, err := net.SplitHostPort(o.router); err != nil {
		return usageErrorf("frontend serve: --router %q: want HOST:PORT", o.router)
	}
	if err := pki.ValidName(o.name); err != nil {
		return usageErrorf("frontend serve: --name: %v", err)
	}
	_, err := parseRouterLogLevel(o.logLevel)
	return err
}

// frontendServeTLS loads the frontend's TLS files: a frontend certificate
// naming --name. Without files, the plaintext rule applies.
func frontendServeTLS(o frontendServeOptions, logger *slog.Logger) (*pki.Store, error) {
	store, err := loadTLS(o.tls.files, pki.RoleFrontend, logger)
	if err != nil || store == nil {
		if err == nil {
			err = plaintextCheck(o.insecure, logger, o.listen)
		}
		return nil, err
	}
	if id := store.Identity(); id.Name != o.name {
		return nil, usageErrorf("frontend serve: --cert-file %s names %s, but --name is %s", o.tls.files.Cert, id, o.name)
	}
	return store, nil
}

func runFrontendServe(ctx context.Context, o frontendServeOptions, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	level, _ := parseRouterLogLevel(o.logLevel)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	store, err := frontendServeTLS(o, logger)
	if err != nil {
		return err
	}
	watchTLS(ctx, store, logger)
	cfg := frontend.Config{Name: o.name, Router: o.router, Logger: logger}
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
	raw, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("frontend serve: listen on %s: %w", o.listen, err)
	}
	limited := netlimit.New(raw, defaultRouterMaxConns, defaultRouterMaxPerSource)
	var ln net.Listener = limited
	if store != nil {
		ln = tls.NewListener(ln, store.ServerConfig(frontendPeers))
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(frontendCollector(fe, limited))
	stopHTTP, err := serveStatusHTTP(o.httpAddr, func() any { return fe.Status() }, metricsHandler(reg))
	if err != nil {
		ln.Close()
		return fmt.Errorf("frontend serve: %w", err)
	}
	defer stopHTTP()
	logger.Info("frontend serving", "name", o.name, "listen", ln.Addr().String(), "router", o.router, "http", o.httpAddr, "tls", store != nil)
	if err := fe.Serve(ctx, ln); err != nil {
		return fmt.Errorf("frontend serve: %w", err)
	}
	logger.Info("frontend stopped", "name", o.name)
	return nil
}

// serveStatusHTTP serves GET /status with what status returns, and GET
// /metrics, on addr (nothing when addr is empty); the returned func stops it.
func serveStatusHTTP(addr string, status func() any, metrics http.Handler) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	hln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status())
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(hln)
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		<-done
	}, nil
}

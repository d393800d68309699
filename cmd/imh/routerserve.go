package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/internal/daemon"
	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/internal/netlimit"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/simnet"
	"github.com/imh-project/imh/routerproto"
)

// RouterUpstreamOptions are the --upstream flags of `imh router serve`.
type RouterUpstreamOptions struct {
	Name         string
	Addr         string // H:P, without the i2cp:// scheme
	User         string
	PasswordFile string
}

// routerServeConfig is what `imh router serve` reads through loadConfig:
// one field per flag, tagged with the flag's name.
type routerServeConfig struct {
	Listen             string        `mapstructure:"listen"`
	Name               string        `mapstructure:"name"`
	HTTP               string        `mapstructure:"http"`
	GracePeriod        time.Duration `mapstructure:"grace-period"`
	Network            string        `mapstructure:"network"`
	Upstream           string        `mapstructure:"upstream"`
	I2CPUser           string        `mapstructure:"i2cp-user"`
	I2CPPasswordFile   string        `mapstructure:"i2cp-password-file"`
	LogLevel           string        `mapstructure:"log-level"`
	TLS                tlsSettings   `mapstructure:",squash"`
	InsecurePlaintext  bool          `mapstructure:"insecure-plaintext"`
	MaxConns           int           `mapstructure:"max-conns"`
	MaxConnsPerSource  int           `mapstructure:"max-conns-per-source"`
	MaxSessions        int           `mapstructure:"max-sessions"`
	MaxSessionsPerConn int           `mapstructure:"max-sessions-per-conn"`

	httpListener net.Listener // tests: used instead of listening on HTTP
}

// Connection caps of `imh router serve` (--max-conns,
// --max-conns-per-source). A router serves a handful of agents and
// frontends; the caps bound what a flood can hold open.
const (
	defaultRouterMaxConns     = 256
	defaultRouterMaxPerSource = 64
)

// routerPeers may connect to a router: agents (the balancer's control
// connection), frontends (data attachments) and operators (client
// certificates: imh i2cp probe, imh ping; an operator can already do
// everything through the API). Routers cannot connect to each other.
var routerPeers = pki.Peer{Roles: []pki.Role{pki.RoleAgent, pki.RoleFrontend, pki.RoleClient}}

func newRouterServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "serve the router protocol for one router on the simulated network or a stock I2P router",
		Long: `Serve imh's router protocol (I2CP-compatible, with the multihoming extensions)
for one router. --network simnet://H:P attaches it to the simulated network
served by 'imh simnet serve'; --upstream i2cp://H:P puts it in front of a
stock I2P router. Managed sessions outlive their control connection for
--grace-period. GET /status on --http reports sessions and tunnels.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c routerServeConfig
			if err := loadConfig(cmd, "router serve", &c); err != nil {
				return err
			}
			return runRouterServe(cmd.Context(), c, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.String("listen", "", "address to serve the router protocol on (H:P)")
	f.String("name", "", "router name (its identity on the simulated network)")
	f.String("http", "", "address of the read-only HTTP status endpoint (H:P); none if empty")
	f.Duration("grace-period", router.DefaultConfig().GracePeriod, "how long a managed session outlives its control connection")
	f.String("network", "", "simulated network to attach to (simnet://H:P)")
	f.String("upstream", "", "stock I2P router to front (i2cp://H:P)")
	f.String("i2cp-user", "", "I2CP username for --upstream")
	f.String("i2cp-password-file", "", "file holding the I2CP password for --upstream")
	f.String("log-level", "info", "log level: debug, info, warn, error")
	addTLSFlags(f, new(tlsFlags)) // read through loadConfig, not the struct
	f.Bool("insecure-plaintext", false, "INSECURE: serve the router protocol in plaintext on a non-loopback address (no TLS files)")
	f.Int("max-conns", defaultRouterMaxConns, "most connections held open at once (0 = no cap)")
	f.Int("max-conns-per-source", defaultRouterMaxPerSource, "most connections held open from one IP address (0 = no cap)")
	f.Int("max-sessions", router.DefaultMaxSessions, "most sessions held at once; a CreateSession beyond it is refused (1..65535)")
	f.Int("max-sessions-per-conn", router.DefaultMaxSessionsPerConn, "most sessions and data attachments one connection holds (at least 1)")
	addConfigFileFlag(f)
	return cmd
}

// Validate checks the settings before anything is started, as raft's
// ValidateConfig does; every error is a usage error (exit 2).
func (o routerServeConfig) Validate() error {
	switch {
	case o.Listen == "":
		return usageErrorf("router serve: --listen is required")
	case o.Name == "":
		return usageErrorf("router serve: --name is required")
	case o.Network == "" && o.Upstream == "":
		return usageErrorf("router serve: one of --network simnet://H:P or --upstream i2cp://H:P is required")
	case o.Network != "" && o.Upstream != "":
		return usageErrorf("router serve: --network and --upstream are exclusive")
	case o.GracePeriod <= 0:
		return usageErrorf("router serve: --grace-period %v must be positive", o.GracePeriod)
	case o.MaxConns < 0 || o.MaxConnsPerSource < 0:
		return usageErrorf("router serve: --max-conns and --max-conns-per-source must be 0 (no cap) or positive")
	case o.MaxSessionsPerConn < 1:
		return usageErrorf("router serve: --max-sessions-per-conn %d (want at least 1)", o.MaxSessionsPerConn)
	case o.MaxSessions < 1 || o.MaxSessions > int(routerproto.NoSession):
		return usageErrorf("router serve: --max-sessions %d (want 1..%d)", o.MaxSessions, routerproto.NoSession)
	}
	if o.Network != "" {
		if _, err := simnet.ParseAddr(o.Network); err != nil {
			return usageErrorf("router serve: --network %q: want simnet://H:P", o.Network)
		}
	}
	if o.Upstream != "" && !strings.HasPrefix(o.Upstream, "i2cp://") {
		return usageErrorf("router serve: --upstream %q: want i2cp://H:P", o.Upstream)
	}
	if _, err := parseRouterLogLevel(o.LogLevel); err != nil {
		return err
	}
	return nil
}

func parseRouterLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usageErrorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// errSimnetLost ends the daemon when its network connection is gone: a
// router without a network cannot serve anyone.
var errSimnetLost = errors.New("connection to the simulated network lost")

// errStatusServer ends the daemon when its --http status server fails: an
// operator or supervisor relying on /status must learn it, not find the
// port silently dead.
var errStatusServer = errors.New("status server failed")

func runRouterServe(ctx context.Context, o routerServeConfig, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	level, _ := parseRouterLogLevel(o.LogLevel)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(ctx) // the TLS watcher and the backend end with the router
	defer cancel()

	store, err := routerServeTLS(o, logger)
	if err != nil {
		return err
	}
	watchTLS(ctx, store, logger)
	be, lost, err := routerServeBackend(ctx, o, logger)
	if err != nil {
		return err
	}
	defer be.Close()

	cfg := router.DefaultConfig()
	cfg.Name = o.Name
	cfg.GracePeriod = o.GracePeriod
	cfg.MaxSessions = o.MaxSessions
	cfg.MaxSessionsPerConn = o.MaxSessionsPerConn
	cfg.Logger = logger
	r, err := router.New(cfg, be)
	if err != nil {
		return fmt.Errorf("router serve: %w", err)
	}
	raw, err := net.Listen("tcp", o.Listen)
	if err != nil {
		_ = r.Close()
		return fmt.Errorf("router serve: listen on %s: %w", o.Listen, err)
	}
	limited := netlimit.New(raw, o.MaxConns, o.MaxConnsPerSource)
	var ln net.Listener = limited
	if store != nil {
		ln = tls.NewListener(ln, store.ServerConfig(routerPeers))
	}
	parts := []daemon.Part{func(ctx context.Context) error {
		if err := r.Serve(ctx, ln); err != nil {
			return fmt.Errorf("router serve: %w", err)
		}
		return nil
	}}
	if o.HTTP != "" {
		hln := o.httpListener
		if hln == nil {
			if hln, err = net.Listen("tcp", o.HTTP); err != nil {
				_ = ln.Close()
				_ = r.Close()
				return fmt.Errorf("router serve: http listen on %s: %w", o.HTTP, err)
			}
		}
		reg := metrics.NewRegistry()
		reg.MustRegister(router.NewCollector(r, limited.Refused))
		serveHTTP := daemon.HTTP(&http.Server{Handler: routerStatusHandler(r, metricsHandler(reg)), ReadHeaderTimeout: 5 * time.Second}, hln)
		parts = append(parts, func(ctx context.Context) error {
			if err := serveHTTP(ctx); err != nil {
				logger.Error("status server failed; stopping the router", "http", o.HTTP, "err", err)
				return fmt.Errorf("router %s: %w on %s: %w", o.Name, errStatusServer, o.HTTP, err)
			}
			return nil
		})
	}
	if lost != nil {
		parts = append(parts, func(ctx context.Context) error {
			select {
			case <-lost:
				return fmt.Errorf("router %s: %w (%s)", o.Name, errSimnetLost, o.Network)
			case <-ctx.Done():
				return nil
			}
		})
	}
	logger.Info("router serving", "name", o.Name, "listen", ln.Addr().String(), "http", o.HTTP,
		"backend", be.Kind(), "hash", be.Hash().String(), "grace", o.GracePeriod, "tls", store != nil,
		"max_conns", o.MaxConns, "max_conns_per_source", o.MaxConnsPerSource)
	if err := daemon.Run(ctx, parts...); err != nil {
		return err
	}
	logger.Info("router stopped", "name", o.Name)
	return nil
}

// routerServeTLS loads the router's TLS files: the certificate must be a
// router's and name --name (the name the router is added under), since
// that is what agents check. Without files, the plaintext rule applies.
func routerServeTLS(o routerServeConfig, logger *slog.Logger) (*pki.Store, error) {
	store, err := loadTLS(o.TLS.files(), pki.RoleRouter, logger)
	if err != nil || store == nil {
		if err == nil {
			err = plaintextCheck(o.InsecurePlaintext, logger, o.Listen)
		}
		return nil, err
	}
	if id := store.Identity(); id.Name != o.Name {
		return nil, usageErrorf("router serve: --cert-file %s names %s, but --name is %s", o.TLS.CertFile, id, o.Name)
	}
	return store, nil
}

// routerServeBackend connects the backend the flags name. lost, when not
// nil, is closed when the backend's connection is gone.
func routerServeBackend(ctx context.Context, o routerServeConfig, logger *slog.Logger) (router.Backend, <-chan struct{}, error) {
	if o.Upstream != "" {
		be, err := newRouterUpstreamBackend(ctx, RouterUpstreamOptions{
			Name: o.Name, Addr: strings.TrimPrefix(o.Upstream, "i2cp://"), User: o.I2CPUser, PasswordFile: o.I2CPPasswordFile,
		}, logger)
		if err != nil {
			return nil, nil, err
		}
		return be, nil, nil
	}
	addr, _ := simnet.ParseAddr(o.Network) // checked by Validate
	dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
	defer dcancel()
	link, err := simnet.DialRemote(dctx, addr, o.Name, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("router serve: attach %s to simnet://%s: %w", o.Name, addr, err)
	}
	return router.NewSimnetBackend(link), link.Done(), nil
}

// routerStatusHandler serves GET /status (CLI.md) and GET /metrics.
func routerStatusHandler(r *router.Router, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Status(req.Context()))
	})
	return mux
}

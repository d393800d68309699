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
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/internal/netlimit"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/simnet"
	"github.com/imh-project/imh/routerproto"
)

func init() {
	routerSubcommands = append(routerSubcommands, newRouterServeCmd)
}

// routerUpstreamBackend builds the backend of `imh router serve --upstream
// i2cp://H:P`: a stock I2P router reached over I2CP. The file that
// implements it sets this from its init; while it is nil the flag is
// refused with a clear error.
var routerUpstreamBackend func(ctx context.Context, o RouterUpstreamOptions, logger *slog.Logger) (router.Backend, error)

// RouterUpstreamOptions are the --upstream flags of `imh router serve`.
type RouterUpstreamOptions struct {
	Name         string
	Addr         string // H:P, without the i2cp:// scheme
	User         string
	PasswordFile string
}

type routerServeOptions struct {
	listen       string
	name         string
	httpAddr     string
	gracePeriod  time.Duration
	network      string
	upstream     string
	i2cpUser     string
	i2cpPassFile string
	logLevel     string
	tls          tlsFlags
	insecure     bool
	maxConns     int
	maxPerSource int
	maxSessions  int
	maxPerConn   int

	httpListener net.Listener // tests: used instead of listening on httpAddr
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
	var o routerServeOptions
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
			if err := routerServeEnv(cmd.Flags()); err != nil {
				return err
			}
			return runRouterServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "", "address to serve the router protocol on (H:P)")
	f.StringVar(&o.name, "name", "", "router name (its identity on the simulated network)")
	f.StringVar(&o.httpAddr, "http", "", "address of the read-only HTTP status endpoint (H:P); none if empty")
	f.DurationVar(&o.gracePeriod, "grace-period", router.DefaultConfig().GracePeriod, "how long a managed session outlives its control connection")
	f.StringVar(&o.network, "network", "", "simulated network to attach to (simnet://H:P)")
	f.StringVar(&o.upstream, "upstream", "", "stock I2P router to front (i2cp://H:P)")
	f.StringVar(&o.i2cpUser, "i2cp-user", "", "I2CP username for --upstream")
	f.StringVar(&o.i2cpPassFile, "i2cp-password-file", "", "file holding the I2CP password for --upstream")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addTLSFlags(f, &o.tls)
	f.BoolVar(&o.insecure, "insecure-plaintext", false, "INSECURE: serve the router protocol in plaintext on a non-loopback address (no TLS files)")
	f.IntVar(&o.maxConns, "max-conns", defaultRouterMaxConns, "most connections held open at once (0 = no cap)")
	f.IntVar(&o.maxPerSource, "max-conns-per-source", defaultRouterMaxPerSource, "most connections held open from one IP address (0 = no cap)")
	f.IntVar(&o.maxSessions, "max-sessions", router.DefaultMaxSessions, "most sessions held at once; a CreateSession beyond it is refused (1..65535)")
	f.IntVar(&o.maxPerConn, "max-sessions-per-conn", router.DefaultMaxSessionsPerConn, "most sessions and data attachments one connection holds (at least 1)")
	return cmd
}

// routerServeEnv fills flags not given on the command line from IMH_<FLAG>
// (CLI.md: flag > environment > default).
func routerServeEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		v, ok := os.LookupEnv("IMH_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")))
		if !ok {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = usageErrorf("environment IMH_%s: %v", strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")), serr)
		}
	})
	return err
}

func (o routerServeOptions) validate() error {
	switch {
	case o.listen == "":
		return usageErrorf("router serve: --listen is required")
	case o.name == "":
		return usageErrorf("router serve: --name is required")
	case o.network == "" && o.upstream == "":
		return usageErrorf("router serve: one of --network simnet://H:P or --upstream i2cp://H:P is required")
	case o.network != "" && o.upstream != "":
		return usageErrorf("router serve: --network and --upstream are exclusive")
	case o.gracePeriod <= 0:
		return usageErrorf("router serve: --grace-period %v must be positive", o.gracePeriod)
	case o.maxConns < 0 || o.maxPerSource < 0:
		return usageErrorf("router serve: --max-conns and --max-conns-per-source must be 0 (no cap) or positive")
	case o.maxPerConn < 1:
		return usageErrorf("router serve: --max-sessions-per-conn %d (want at least 1)", o.maxPerConn)
	case o.maxSessions < 1 || o.maxSessions > int(routerproto.NoSession):
		return usageErrorf("router serve: --max-sessions %d (want 1..%d)", o.maxSessions, routerproto.NoSession)
	}
	if o.network != "" {
		if _, err := simnet.ParseAddr(o.network); err != nil {
			return usageErrorf("router serve: --network %q: want simnet://H:P", o.network)
		}
	}
	if o.upstream != "" && !strings.HasPrefix(o.upstream, "i2cp://") {
		return usageErrorf("router serve: --upstream %q: want i2cp://H:P", o.upstream)
	}
	if _, err := parseRouterLogLevel(o.logLevel); err != nil {
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

func runRouterServe(ctx context.Context, o routerServeOptions, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	level, _ := parseRouterLogLevel(o.logLevel)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

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
	cfg.Name = o.name
	cfg.GracePeriod = o.gracePeriod
	cfg.MaxSessions = o.maxSessions
	cfg.MaxSessionsPerConn = o.maxPerConn
	cfg.Logger = logger
	r, err := router.New(cfg, be)
	if err != nil {
		return fmt.Errorf("router serve: %w", err)
	}
	raw, err := net.Listen("tcp", o.listen)
	if err != nil {
		_ = r.Close()
		return fmt.Errorf("router serve: listen on %s: %w", o.listen, err)
	}
	limited := netlimit.New(raw, o.maxConns, o.maxPerSource)
	var ln net.Listener = limited
	if store != nil {
		ln = tls.NewListener(ln, store.ServerConfig(routerPeers))
	}
	var httpDone chan error
	var hs *http.Server
	if o.httpAddr != "" {
		hln := o.httpListener
		if hln == nil {
			if hln, err = net.Listen("tcp", o.httpAddr); err != nil {
				_ = ln.Close()
				_ = r.Close()
				return fmt.Errorf("router serve: http listen on %s: %w", o.httpAddr, err)
			}
		}
		reg := metrics.NewRegistry()
		reg.MustRegister(routerCollector(r, limited))
		hs = &http.Server{Handler: routerStatusHandler(r, metricsHandler(reg)), ReadHeaderTimeout: 5 * time.Second}
		httpDone = make(chan error, 1)
		go func() {
			err := hs.Serve(hln)
			if !errors.Is(err, http.ErrServerClosed) {
				logger.Error("status server failed; stopping the router", "http", o.httpAddr, "err", err)
				cancel(fmt.Errorf("%w on %s: %w", errStatusServer, o.httpAddr, err))
			}
			httpDone <- err
		}()
	}
	if lost != nil {
		go func() {
			select {
			case <-lost:
				cancel(errSimnetLost)
			case <-ctx.Done():
			}
		}()
	}
	logger.Info("router serving", "name", o.name, "listen", ln.Addr().String(), "http", o.httpAddr,
		"backend", be.Kind(), "hash", be.Hash().String(), "grace", o.gracePeriod, "tls", store != nil,
		"max_conns", o.maxConns, "max_conns_per_source", o.maxPerSource)
	serveErr := r.Serve(ctx, ln)
	if hs != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = hs.Shutdown(sctx)
		scancel()
		<-httpDone
	}
	if cause := context.Cause(ctx); errors.Is(cause, errSimnetLost) {
		return fmt.Errorf("router %s: %w (%s)", o.name, errSimnetLost, o.network)
	} else if errors.Is(cause, errStatusServer) {
		return fmt.Errorf("router %s: %w", o.name, cause)
	}
	if serveErr != nil {
		return fmt.Errorf("router serve: %w", serveErr)
	}
	logger.Info("router stopped", "name", o.name)
	return nil
}

// routerServeTLS loads the router's TLS files: the certificate must be a
// router's and name --name (the name the router is added under), since
// that is what agents check. Without files, the plaintext rule applies.
func routerServeTLS(o routerServeOptions, logger *slog.Logger) (*pki.Store, error) {
	store, err := loadTLS(o.tls.files, pki.RoleRouter, logger)
	if err != nil || store == nil {
		if err == nil {
			err = plaintextCheck(o.insecure, logger, o.listen)
		}
		return nil, err
	}
	if id := store.Identity(); id.Name != o.name {
		return nil, usageErrorf("router serve: --cert-file %s names %s, but --name is %s", o.tls.files.Cert, id, o.name)
	}
	return store, nil
}

// routerServeBackend connects the backend the flags name. lost, when not
// nil, is closed when the backend's connection is gone.
func routerServeBackend(ctx context.Context, o routerServeOptions, logger *slog.Logger) (router.Backend, <-chan struct{}, error) {
	if o.upstream != "" {
		if routerUpstreamBackend == nil {
			return nil, nil, fmt.Errorf("router serve --upstream %s: the i2cp upstream backend is not implemented in this build; use --network simnet://H:P", o.upstream)
		}
		be, err := routerUpstreamBackend(ctx, RouterUpstreamOptions{
			Name: o.name, Addr: strings.TrimPrefix(o.upstream, "i2cp://"), User: o.i2cpUser, PasswordFile: o.i2cpPassFile,
		}, logger)
		if err != nil {
			return nil, nil, err
		}
		return be, nil, nil
	}
	addr, _ := simnet.ParseAddr(o.network) // checked by validate
	dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
	defer dcancel()
	link, err := simnet.DialRemote(dctx, addr, o.name, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("router serve: attach %s to simnet://%s: %w", o.name, addr, err)
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

// Package routerd is the router daemon, `imh router serve`: one
// router.Router on its backend (the simulated network, or a stock I2P
// router the caller connected), serving the router protocol on a capped,
// optionally TLS listener, with a read-only HTTP status endpoint.
//
// It is a package of its own, not part of router, because it picks a
// backend: router/simnet and router/i2cpup import router, so router cannot
// import them. cmd/imh keeps the flags, the TLS files and the logger; Run
// owns what runs and how it stops (internal/daemon).
package routerd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/imh-project/imh/internal/daemon"
	"github.com/imh-project/imh/internal/i2cpclient"
	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/internal/netlimit"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/i2cpup"
	"github.com/imh-project/imh/router/simnet"
	"github.com/imh-project/imh/routerproto"
)

// Connection caps of the router protocol listener (--max-conns,
// --max-conns-per-source). A router serves a handful of agents and
// frontends; the caps bound what a flood can hold open.
const (
	DefaultMaxConns          = 256
	DefaultMaxConnsPerSource = 64
)

// Peers may connect to a router: agents (the balancer's control
// connection), frontends (data attachments) and operators (client
// certificates: imh i2cp probe, imh ping; an operator can already do
// everything through the API). Routers cannot connect to each other.
var Peers = pki.Peer{Roles: []pki.Role{pki.RoleAgent, pki.RoleFrontend, pki.RoleClient}}

// ErrNetworkLost ends the daemon when its network connection is gone: a
// router without a network cannot serve anyone.
var ErrNetworkLost = errors.New("connection to the simulated network lost")

// Config is one router daemon. Its fields are the settings of `imh router
// serve`, and Validate's messages name that command's flags, since that
// is where every setting comes from. Each setting's mapstructure tag is
// its flag's name (the key of the command's --config file), so that the
// command decodes its settings straight into a Config; what the command
// builds itself (Backend, TLS, Logger) is tagged "-".
type Config struct {
	Name        string        `mapstructure:"name"`         // the router's name: its identity on the simulated network
	Listen      string        `mapstructure:"listen"`       // H:P of the router protocol
	HTTP        string        `mapstructure:"http"`         // H:P of GET /status and GET /metrics; none if empty
	GracePeriod time.Duration `mapstructure:"grace-period"` // how long a managed session outlives its control connection

	// Exactly one backend: Network (simnet://H:P), which Run attaches to,
	// or Upstream (i2cp://H:P), a stock router whose backend the caller
	// connects (UpstreamConfig, i2cpup.NewBackend) and hands over in
	// Backend. I2CPUser and I2CPPasswordFile are Upstream's credentials,
	// both or neither.
	Network          string         `mapstructure:"network"`
	Upstream         string         `mapstructure:"upstream"`
	I2CPUser         string         `mapstructure:"i2cp-user"`
	I2CPPasswordFile string         `mapstructure:"i2cp-password-file"`
	Backend          router.Backend `mapstructure:"-"` // Run closes it

	MaxConns           int `mapstructure:"max-conns"`            // 0: no cap
	MaxConnsPerSource  int `mapstructure:"max-conns-per-source"` // 0: no cap
	MaxSessions        int `mapstructure:"max-sessions"`
	MaxSessionsPerConn int `mapstructure:"max-sessions-per-conn"`

	TLS    *pki.Store   `mapstructure:"-"` // nil: plaintext (the caller applied the plaintext rule)
	Logger *slog.Logger `mapstructure:"-"`

	httpListener net.Listener // tests: used instead of listening on HTTP
}

// Validate checks the settings before anything is started, as raft's
// ValidateConfig does. Every error is the caller's to fix.
func (c Config) Validate() error {
	switch {
	case c.Listen == "":
		return errors.New("router serve: --listen is required")
	case c.Name == "":
		return errors.New("router serve: --name is required")
	case c.Network == "" && c.Upstream == "":
		return errors.New("router serve: one of --network simnet://H:P or --upstream i2cp://H:P is required")
	case c.Network != "" && c.Upstream != "":
		return errors.New("router serve: --network and --upstream are exclusive")
	case c.GracePeriod <= 0:
		return fmt.Errorf("router serve: --grace-period %v must be positive", c.GracePeriod)
	case c.MaxConns < 0 || c.MaxConnsPerSource < 0:
		return errors.New("router serve: --max-conns and --max-conns-per-source must be 0 (no cap) or positive")
	case c.MaxSessionsPerConn < 1:
		return fmt.Errorf("router serve: --max-sessions-per-conn %d (want at least 1)", c.MaxSessionsPerConn)
	case c.MaxSessions < 1 || c.MaxSessions > int(routerproto.NoSession):
		return fmt.Errorf("router serve: --max-sessions %d (want 1..%d)", c.MaxSessions, routerproto.NoSession)
	}
	if c.Network != "" {
		if _, err := simnet.ParseAddr(c.Network); err != nil {
			return fmt.Errorf("router serve: --network %q: want simnet://H:P", c.Network)
		}
	}
	if c.Upstream != "" && !strings.HasPrefix(c.Upstream, "i2cp://") {
		return fmt.Errorf("router serve: --upstream %q: want i2cp://H:P", c.Upstream)
	}
	return nil
}

// UpstreamConfig is the configuration of the backend to Upstream, a stock
// I2P router reached over standard I2CP: its address, and its credentials
// with the password read from I2CPPasswordFile. Every error is the
// caller's to fix; connecting it (i2cpup.NewBackend) is the caller's.
func (c Config) UpstreamConfig(logger *slog.Logger) (i2cpup.Config, error) {
	addr, err := i2cpclient.ParseAddr(strings.TrimPrefix(c.Upstream, "i2cp://"))
	if err != nil {
		return i2cpup.Config{}, err
	}
	cfg := i2cpup.Config{Addr: addr, Username: c.I2CPUser, Logger: logger}
	if c.I2CPPasswordFile != "" {
		b, err := os.ReadFile(c.I2CPPasswordFile)
		if err != nil {
			return i2cpup.Config{}, fmt.Errorf("router serve: --i2cp-password-file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	if c.I2CPUser != "" && cfg.Password == "" || c.I2CPUser == "" && cfg.Password != "" {
		return i2cpup.Config{}, errors.New("router serve: --i2cp-user and --i2cp-password-file go together")
	}
	return cfg, nil
}

// Run serves the router until ctx ends, its network connection is lost or
// its status server fails; it returns once every part has stopped.
func Run(ctx context.Context, c Config) error {
	be := c.Backend
	if be != nil {
		defer be.Close()
	}
	if err := c.Validate(); err != nil {
		return err
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var lost <-chan struct{}
	switch {
	case be == nil && c.Upstream != "":
		return errors.New("router serve: --upstream without its backend")
	case be == nil:
		link, err := attach(ctx, c, logger)
		if err != nil {
			return err
		}
		be, lost = router.NewSimnetBackend(link), link.Done()
		defer be.Close()
	}

	cfg := router.DefaultConfig()
	cfg.Name = c.Name
	cfg.GracePeriod = c.GracePeriod
	cfg.MaxSessions = c.MaxSessions
	cfg.MaxSessionsPerConn = c.MaxSessionsPerConn
	cfg.Logger = logger
	r, err := router.New(cfg, be)
	if err != nil {
		return fmt.Errorf("router serve: %w", err)
	}
	raw, err := net.Listen("tcp", c.Listen)
	if err != nil {
		_ = r.Close()
		return fmt.Errorf("router serve: listen on %s: %w", c.Listen, err)
	}
	limited := netlimit.New(raw, c.MaxConns, c.MaxConnsPerSource)
	var ln net.Listener = limited
	if c.TLS != nil {
		ln = tls.NewListener(ln, c.TLS.ServerConfig(Peers))
	}
	parts := []daemon.Part{func(ctx context.Context) error {
		if err := r.Serve(ctx, ln); err != nil {
			return fmt.Errorf("router serve: %w", err)
		}
		return nil
	}}
	if c.HTTP != "" {
		hln := c.httpListener
		if hln == nil {
			if hln, err = net.Listen("tcp", c.HTTP); err != nil {
				_ = ln.Close()
				_ = r.Close()
				return fmt.Errorf("router serve: http listen on %s: %w", c.HTTP, err)
			}
		}
		reg := metrics.NewRegistry()
		reg.MustRegister(router.NewCollector(r, limited.Refused))
		status := func(ctx context.Context) any { return r.Status(ctx) }
		serveHTTP := daemon.HTTP(&http.Server{Handler: daemon.StatusHandler(status, metrics.Handler(reg)), ReadHeaderTimeout: 5 * time.Second}, hln)
		parts = append(parts, func(ctx context.Context) error {
			if err := serveHTTP(ctx); err != nil {
				logger.Error("status server failed; stopping the router", "http", c.HTTP, "err", err)
				return fmt.Errorf("router %s: %w on %s: %w", c.Name, daemon.ErrStatusServer, c.HTTP, err)
			}
			return nil
		})
	}
	if lost != nil {
		parts = append(parts, func(ctx context.Context) error {
			select {
			case <-lost:
				return fmt.Errorf("router %s: %w (%s)", c.Name, ErrNetworkLost, c.Network)
			case <-ctx.Done():
				return nil
			}
		})
	}
	logger.Info("router serving", "name", c.Name, "listen", ln.Addr().String(), "http", c.HTTP,
		"backend", be.Kind(), "hash", be.Hash().String(), "grace", c.GracePeriod, "tls", c.TLS != nil,
		"max_conns", c.MaxConns, "max_conns_per_source", c.MaxConnsPerSource)
	if err := daemon.Run(ctx, parts...); err != nil {
		return err
	}
	logger.Info("router stopped", "name", c.Name)
	return nil
}

// attach connects the router to the simulated network at c.Network,
// giving up after 30 seconds.
func attach(ctx context.Context, c Config, logger *slog.Logger) (*simnet.RemoteLink, error) {
	addr, _ := simnet.ParseAddr(c.Network) // checked by Validate
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	link, err := simnet.DialRemote(dctx, addr, c.Name, logger)
	if err != nil {
		return nil, fmt.Errorf("router serve: attach %s to simnet://%s: %w", c.Name, addr, err)
	}
	return link, nil
}

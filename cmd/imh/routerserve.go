package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/i2cpup"
	"github.com/imh-project/imh/router/routerd"
)

// routerServeConfig is what `imh router serve` reads through loadConfig:
// routerd's Config, whose fields carry their flags' names, and the
// settings every serving daemon shares.
type routerServeConfig struct {
	Daemon routerd.Config `mapstructure:",squash"`
	Serve  serveSettings  `mapstructure:",squash"`
}

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
	addTLSFlags(f, new(pki.Files)) // read through loadConfig, not the struct
	f.Bool("insecure-plaintext", false, "INSECURE: serve the router protocol in plaintext on a non-loopback address (no TLS files)")
	f.Int("max-conns", routerd.DefaultMaxConns, "most connections held open at once (0 = no cap)")
	f.Int("max-conns-per-source", routerd.DefaultMaxConnsPerSource, "most connections held open from one IP address (0 = no cap)")
	f.Int("max-sessions", router.DefaultMaxSessions, "most sessions held at once; a CreateSession beyond it is refused (1..65535)")
	f.Int("max-sessions-per-conn", router.DefaultMaxSessionsPerConn, "most sessions and data attachments one connection holds (at least 1)")
	addConfigFileFlag(f)
	return cmd
}

// Validate checks the settings before anything is started (routerd's
// checks, then --log-level); every error is a usage error (exit 2).
func (o routerServeConfig) Validate() error { return o.Serve.validate(o.Daemon) }

// runRouterServe checks the settings, sets up the logger and the TLS
// files, connects an --upstream router, and runs the daemon (routerd)
// until ctx ends.
func runRouterServe(ctx context.Context, o routerServeConfig, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx) // the TLS watcher ends with the router
	defer cancel()
	c := o.Daemon
	var err error
	if c.Logger, c.TLS, err = o.Serve.start(ctx, "router serve", pki.RoleRouter, c.Name, c.Listen, stderr); err != nil {
		return err
	}
	if c.Upstream != "" { // a stock I2P router reached over standard I2CP (router/i2cpup)
		up, err := usageOf(c.UpstreamConfig(c.Logger))
		if err != nil {
			return err
		}
		if c.Backend, err = i2cpup.NewBackend(up); err != nil {
			return fmt.Errorf("router serve --upstream i2cp://%s: %w", up.Addr, err)
		}
	}
	return routerd.Run(ctx, c)
}

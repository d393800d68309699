package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/frontend/frontendd"
	"github.com/imh-project/imh/internal/pki"
)

// frontendServeConfig is what `imh frontend serve` reads through
// loadConfig: frontendd's Config, whose fields carry their flags' names,
// and the settings every serving daemon shares.
type frontendServeConfig struct {
	Daemon frontendd.Config `mapstructure:",squash"`
	Serve  serveSettings    `mapstructure:",squash"`
}

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
	addTLSFlags(f, new(pki.Files)) // read through loadConfig, not the struct
	f.Bool("insecure-plaintext", false, "INSECURE: accept the leader in plaintext on a non-loopback address (no TLS files)")
	addConfigFileFlag(f)
	return cmd
}

// Validate checks the settings before anything is started (frontendd's
// checks, then --log-level); every error is a usage error (exit 2).
func (o frontendServeConfig) Validate() error { return o.Serve.validate(o.Daemon) }

// runFrontendServe checks the settings, sets up the logger and the TLS
// files, and runs the daemon (frontendd) until ctx ends.
func runFrontendServe(ctx context.Context, o frontendServeConfig, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	c := o.Daemon
	var err error
	if c.Logger, c.TLS, err = o.Serve.start(ctx, "frontend serve", pki.RoleFrontend, c.Name, c.Listen, stderr); err != nil {
		return err
	}
	return frontendd.Run(ctx, c)
}

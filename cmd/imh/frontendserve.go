package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/frontend/frontendd"
	"github.com/imh-project/imh/internal/pki"
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

// daemonConfig is the frontend daemon the settings describe, before its
// logger and TLS files are set up.
func (o frontendServeConfig) daemonConfig() frontendd.Config {
	return frontendd.Config{Name: o.Name, Listen: o.Listen, Router: o.Router, HTTP: o.HTTP}
}

// Validate checks the settings before anything is started (frontendd's
// checks, then --log-level); every error is a usage error (exit 2).
func (o frontendServeConfig) Validate() error {
	if err := o.daemonConfig().Validate(); err != nil {
		return &usageError{err: err}
	}
	_, err := parseRouterLogLevel(o.LogLevel)
	return err
}

// runFrontendServe checks the settings, sets up the logger and the TLS
// files, and runs the daemon (frontendd) until ctx ends.
func runFrontendServe(ctx context.Context, o frontendServeConfig, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	c := o.daemonConfig()
	level, _ := parseRouterLogLevel(o.LogLevel) // checked by Validate
	c.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	store, err := o.TLS.serve("frontend serve", pki.RoleFrontend, o.Name, o.InsecurePlaintext, o.Listen, c.Logger)
	if err != nil {
		return err
	}
	c.TLS = store
	watchTLS(ctx, c.TLS, c.Logger)
	return frontendd.Run(ctx, c)
}

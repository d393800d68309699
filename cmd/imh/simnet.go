package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/router/simnet/simnetd"
)

func newSimnetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simnet",
		Short: "the simulated I2P network: serve it, send remote-client traffic through it",
	}
	cmd.AddCommand(newSimnetServeCmd(), newSimnetSendCmd(), newSimnetBaselineCmd(), newSimnetObserveCmd())
	return cmd
}

// simnetServeConfig is what `imh simnet serve` reads through loadConfig:
// simnetd's Config, whose fields carry their flags' names.
type simnetServeConfig struct {
	Daemon simnetd.Config `mapstructure:",squash"`
}

func newSimnetServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve --listen H:P [--http H:P] [--seed N] [--peers N] [--time-scale X] [--config F]",
		Short: "serve a simulated I2P network to router processes (stops on SIGTERM)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c simnetServeConfig
			if err := loadConfig(cmd, "simnet serve", &c); err != nil {
				return err
			}
			return runSimnetServe(cmd.Context(), c)
		},
	}
	f := cmd.Flags()
	f.String("listen", "", "address routers and senders connect to (required)")
	f.String("http", "", "address of the read-only HTTP status (GET /status)")
	f.Int64("seed", 1, "seed of every random choice of the network")
	f.Int("peers", 2000, "number of simulated peers")
	f.Float64("time-scale", 1, "simulated seconds per real second (1 when routers run in other processes)")
	addConfigFileFlag(f)
	return cmd
}

// Validate checks the settings before anything is started (simnetd's
// checks); every error is a usage error (exit 2).
func (o simnetServeConfig) Validate() error { return asUsage(o.Daemon.Validate()) }

func runSimnetServe(ctx context.Context, o simnetServeConfig) error {
	if err := o.Validate(); err != nil {
		return err
	}
	c := o.Daemon
	c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return simnetd.Run(ctx, c)
}

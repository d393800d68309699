package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/demo"
	"github.com/imh-project/imh/internal/pki"
)

type demoOptions struct {
	basePort   int
	killLeader bool
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a simulated network, 4 routers and 3 agents on loopback and show one LeaseSet from all routers",
		Long: "Start, as child processes on 127.0.0.1, `imh simnet serve`, 4 `imh router serve` and\n" +
			"3 agents (temporary directories; ports from --base-port, printed), create a destination\n" +
			"with 4 routers x 3 inbound tunnels, wait for its 12-lease LeaseSet, print the cluster,\n" +
			"the routers and the LeaseSet, then show a live status line until Ctrl-C, and clean up.\n" +
			"With --kill-leader the leading agent is SIGKILLed once the LeaseSet is up, and the\n" +
			"takeover is shown (who leads, after how long, the LeaseSet unchanged), then the agent\n" +
			"is restarted on its data directory.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.basePort < 1024 || o.basePort > 65535-demo.PortSpan {
				return usageErrorf("demo: --base-port %d: want 1024..%d", o.basePort, 65535-demo.PortSpan)
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().IntVar(&o.basePort, "base-port", demo.DefaultBasePort, "first of the 40 loopback ports the demo uses")
	cmd.Flags().BoolVar(&o.killLeader, "kill-leader", false, "SIGKILL the leading agent once the LeaseSet is up and show the takeover")
	return cmd
}

// runDemo runs the demo engine with this binary as the children's, and
// the CLI's agent client and error wording.
func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: find the imh binary: %w", err)
	}
	return demo.Run(ctx, demo.Config{
		Out: out, Exe: exe, BasePort: o.basePort, KillLeader: o.killLeader,
		Dial: func(addr string, files pki.Files) (*client.Client, error) {
			a := &apiOptions{httpAddr: addr, tls: files}
			return a.client()
		},
		CallErr: apiErr,
	})
}

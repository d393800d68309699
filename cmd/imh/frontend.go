package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
)

// The cluster's registry of frontends: in multi-client mode each router has
// a frontend process beside it that terminates the streams of destinations
// with --frontends on, and the leader dials it as it dials routers.

func newFrontendCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "frontend",
		Short: "Frontends: the processes beside the routers in multi-client mode (add, remove, list)",
	}
	cmd.AddCommand(newFrontendAddCmd(),
		newRemoveCmd("frontend", "frontend", (*client.Client).RemoveFrontend, "Remove a frontend from the cluster (its router stays)"),
		newFrontendListCmd(), newFrontendServeCmd()) // the daemon: frontendserve.go
	return cmd
}

func newFrontendAddCmd() *cobra.Command {
	var addr, router string
	cmd := newAgentCallCmd(&cobra.Command{
		Use:   "add NAME --addr H:P --router ROUTER",
		Short: "Add a frontend (an `imh frontend serve` control address) beside a router",
		Long: "Add a frontend (the control address of an `imh frontend serve`) beside the router\n" +
			"named by --router. The router may be added later; a router has at most one frontend.",
		Args: func(cmd *cobra.Command, args []string) error {
			switch err := cobra.ExactArgs(1)(cmd, args); {
			case err != nil:
				return err
			case addr == "":
				return usageErrorf("frontend add: --addr H:P is required")
			case router == "":
				return usageErrorf("frontend add: --router ROUTER is required")
			}
			return nil
		},
	}, "frontend add", func(cmd *cobra.Command, c *client.Client, args []string) (cluster.FrontendInfo, error) {
		return c.AddFrontend(cmd.Context(), cluster.FrontendInfo{Name: args[0], Addr: addr, Router: router})
	}, func(out cluster.FrontendInfo, w io.Writer) error {
		fmt.Fprintf(w, "frontend %s added (%s, beside router %s)\n", out.Name, out.Addr, out.Router)
		return nil
	})
	cmd.Flags().StringVar(&addr, "addr", "", "the frontend's control address H:P")
	cmd.Flags().StringVar(&router, "router", "", "the name of the router it sits beside")
	return cmd
}

func newFrontendListCmd() *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "list",
		Short: "List the cluster's frontends and the routers they sit beside",
		Args:  cobra.NoArgs,
	}, "frontend list", func(cmd *cobra.Command, c *client.Client, _ []string) (cluster.FrontendList, error) {
		fs, err := c.Frontends(cmd.Context())
		return cluster.FrontendList{Frontends: fs}, err
	}, cluster.FrontendList.WriteTable)
}

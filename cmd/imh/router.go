package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/status"
)

func newRouterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Routers: the cluster's routers (add, remove, list) and the router daemon",
	}
	cmd.AddCommand(newRouterAddCmd(),
		newRemoveCmd("router", "router", (*client.Client).RemoveRouter, "Remove a router from the cluster (the leader destroys the cluster's sessions on it first; its tunnels are forgotten)"),
		newRouterListCmd(), newRouterServeCmd())
	return cmd
}

func newRouterAddCmd() *cobra.Command {
	var addr string
	cmd := newAgentCallCmd(&cobra.Command{
		Use:   "add NAME --addr H:P",
		Short: "Add a router (an `imh router serve` control address) to the cluster",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.ExactArgs(1)(cmd, args); err != nil || addr != "" {
				return err
			}
			return usageErrorf("router add: --addr H:P is required")
		},
	}, "router add", func(cmd *cobra.Command, c *client.Client, args []string) (cluster.RouterInfo, error) {
		out, err := c.AddRouter(cmd.Context(), cluster.RouterInfo{Name: args[0], Addr: addr})
		if err == nil && out.Reachable != nil && !*out.Reachable {
			fmt.Fprintf(cmd.ErrOrStderr(), "imh: router add %s: warning: %s is not reachable yet from the leader (%s); added all the same, it is used once it answers\n",
				out.Name, out.Addr, out.Unreachable)
		}
		return out, err
	}, func(out cluster.RouterInfo, w io.Writer) error {
		fmt.Fprintf(w, "router %s added (%s)\n", out.Name, out.Addr)
		return nil
	})
	cmd.Flags().StringVar(&addr, "addr", "", "the router's control address H:P")
	return cmd
}

// newRemoveCmd is `imh GROUP remove NAME`: the client's remove call,
// printing "NOUN NAME removed" (router, frontend and dest remove).
func newRemoveCmd(group, noun string, remove func(*client.Client, context.Context, string) error, short string) *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "remove NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
	}, group+" remove", func(cmd *cobra.Command, c *client.Client, args []string) (removed, error) {
		return removed{Name: args[0], Removed: true}, remove(c, cmd.Context(), args[0])
	}, func(r removed, w io.Writer) error {
		fmt.Fprintf(w, "%s %s removed\n", noun, r.Name)
		return nil
	})
}

// removed is the --json object of the remove commands.
type removed struct {
	Name    string `json:"name"`
	Removed bool   `json:"removed"`
}

// routerListJSON is the body of `imh router list --json`: the routers as in
// `imh status --json`.
type routerListJSON struct {
	Routers []status.Router `json:"routers"`
}

func newRouterListCmd() *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "list",
		Short: "List the cluster's routers with the leader's view of their health",
		Args:  cobra.NoArgs,
	}, "router list", func(cmd *cobra.Command, c *client.Client, _ []string) (routerListJSON, error) {
		st, err := c.Status(cmd.Context())
		if err != nil {
			return routerListJSON{}, err
		}
		return routerListJSON{Routers: st.Routers}, nil
	}, func(l routerListJSON, w io.Writer) error { return status.WriteRouters(w, l.Routers) })
}

package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
)

func newDestListCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the cluster's destinations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ds, err := callAgent(&o, func(c *client.Client) ([]cluster.DestinationInfo, error) { return c.Destinations(cmd.Context()) })
			if err != nil {
				return fmt.Errorf("dest list: %w", err)
			}
			list := cluster.DestinationList{Destinations: ds}
			if o.json {
				return printJSON(cmd, list)
			}
			return list.WriteTable(cmd.OutOrStdout())
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

func newDestShowCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one destination (public facts only; never private keys)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := callAgent(&o, func(c *client.Client) (cluster.DestinationInfo, error) { return c.Destination(cmd.Context(), args[0]) })
			if err != nil {
				return fmt.Errorf("dest show %s: %w", argName(args[0]), err)
			}
			if o.json {
				return printJSON(cmd, d)
			}
			return d.WriteTable(cmd.OutOrStdout())
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

// warnStreamPolicy warns (on stderr; the command still succeeds) when a TCP
// service runs under spread: stock routers, and simnet as it models them,
// bind a client's end-to-end session to the router that answered it, so
// a stream whose client later picks another router's lease breaks
// (docs/policies.md).
func warnStreamPolicy(cmd *cobra.Command, info cluster.DestinationInfo) {
	if strings.HasPrefix(info.Service, "tcp://") && info.Policy == "spread" {
		fmt.Fprintf(cmd.ErrOrStderr(), "imh: warning: %s: a TCP service under --policy spread breaks streams on routers that bind a client's session to one router (stock i2pd and Java I2P); use --policy failover (docs/policies.md)\n", info.Name)
	}
}

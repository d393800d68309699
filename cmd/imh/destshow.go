package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
)

func newDestListCmd() *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "list",
		Short: "List the cluster's destinations",
		Args:  cobra.NoArgs,
	}, "dest list", func(cmd *cobra.Command, c *client.Client, _ []string) (cluster.DestinationList, error) {
		ds, err := c.Destinations(cmd.Context())
		return cluster.DestinationList{Destinations: ds}, err
	}, cluster.DestinationList.WriteTable)
}

func newDestShowCmd() *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "show NAME",
		Short: "Show one destination (public facts only; never private keys)",
		Args:  cobra.ExactArgs(1),
	}, "dest show", func(cmd *cobra.Command, c *client.Client, args []string) (*cluster.DestinationInfo, error) {
		d, err := c.Destination(cmd.Context(), args[0])
		return &d, err
	}, (*cluster.DestinationInfo).WriteTable)
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

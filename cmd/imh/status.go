package main

import (
	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/status"
)

func newStatusCmd() *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "status",
		Short: "Show the cluster: leader, peers, routers, frontends and destinations (stale reads allowed)",
		Args:  cobra.NoArgs,
	}, "status", func(cmd *cobra.Command, c *client.Client, _ []string) (*status.Status, error) {
		return c.Status(cmd.Context())
	}, (*status.Status).WriteTable)
}

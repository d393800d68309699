package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/status"
)

func newStatusCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster: leader, peers, routers, frontends and destinations (stale reads allowed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := callAgent(&o, func(c *client.Client) (*status.Status, error) { return c.Status(cmd.Context()) })
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if o.json {
				return printJSON(cmd, st)
			}
			return st.WriteTable(cmd.OutOrStdout())
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

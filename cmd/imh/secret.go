package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
)

func newClusterSecretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Rotate the cluster secret (docs/security.md: the procedure)",
	}
	var o apiOptions
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Re-seal every destination under the leader's --secret-file and switch the cluster to it",
		Long: "Step 2 of the rotation (docs/security.md). Every agent must already run with the new\n" +
			"secret as --secret-file and the old one as --previous-secret-file; the leader checks\n" +
			"that each agent holds the new secret (exit 1 otherwise, nothing changed), re-seals every\n" +
			"destination under it through the raft log, and every agent then seals and gossips under\n" +
			"it. Afterwards restart each agent without --previous-secret-file. Run again it changes\n" +
			"nothing; on a cluster without a previous secret it re-seals keys written by older imh.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := callAgent(&o, func(c *client.Client) (cluster.SecretRotateResult, error) { return c.SecretRotate(cmd.Context()) })
			if err != nil {
				return fmt.Errorf("cluster secret rotate: %w", err)
			}
			if o.json {
				return printJSON(cmd, res)
			}
			return res.WriteText(cmd.OutOrStdout())
		},
	}
	addAPIFlags(rotate, &o)
	cmd.AddCommand(rotate, newClusterSecretStatusCmd())
	return cmd
}

func newClusterSecretStatusCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Per agent: the cluster secrets it holds, the one it seals and gossips under, its gossip members",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := callAgent(&o, func(c *client.Client) (cluster.SecretStatus, error) { return c.SecretStatus(cmd.Context()) })
			if err != nil {
				return fmt.Errorf("cluster secret status: %w", err)
			}
			if st.Agents == nil {
				st.Agents = []cluster.SecretAgent{}
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

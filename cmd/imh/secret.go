package main

import (
	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
)

func newClusterSecretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Rotate the cluster secret (docs/security.md: the procedure)",
	}
	rotate := newAgentCallCmd(&cobra.Command{
		Use:   "rotate",
		Short: "Re-seal every destination under the leader's --secret-file and switch the cluster to it",
		Long: "Step 2 of the rotation (docs/security.md). Every agent must already run with the new\n" +
			"secret as --secret-file and the old one as --previous-secret-file; the leader checks\n" +
			"that each agent holds the new secret (exit 1 otherwise, nothing changed), re-seals every\n" +
			"destination under it through the raft log, and every agent then seals and gossips under\n" +
			"it. Afterwards restart each agent without --previous-secret-file. Run again it changes\n" +
			"nothing; on a cluster without a previous secret it re-seals keys written by older imh.",
		Args: cobra.NoArgs,
	}, "cluster secret rotate", func(cmd *cobra.Command, c *client.Client, _ []string) (cluster.SecretRotateResult, error) {
		return c.SecretRotate(cmd.Context())
	}, cluster.SecretRotateResult.WriteText)
	cmd.AddCommand(rotate, newClusterSecretStatusCmd())
	return cmd
}

func newClusterSecretStatusCmd() *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "status",
		Short: "Per agent: the cluster secrets it holds, the one it seals and gossips under, its gossip members",
		Args:  cobra.NoArgs,
	}, "cluster secret status", func(cmd *cobra.Command, c *client.Client, _ []string) (cluster.SecretStatus, error) {
		st, err := c.SecretStatus(cmd.Context())
		if err == nil && st.Agents == nil {
			st.Agents = []cluster.SecretAgent{}
		}
		return st, err
	}, cluster.SecretStatus.WriteTable)
}

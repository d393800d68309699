package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/fsm"
)

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Cluster operations: peers, join, promote, remove, transfer-leader, snapshots, recover, secret rotation",
	}
	cmd.AddCommand(newClusterPeersCmd(), newClusterJoinCmd(), newClusterPromoteCmd(), newClusterRemoveCmd(),
		newClusterTransferCmd(), newClusterSnapshotCmd(), newClusterRecoverCmd(), newClusterStateHashCmd(),
		newClusterSecretCmd())
	return cmd
}

func newClusterStateHashCmd() *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "state-hash",
		Short: "The agent's last applied raft index and the SHA-256 of its replicated state (equal on every agent at the same index)",
		Args:  cobra.NoArgs,
	}, "cluster state-hash", func(cmd *cobra.Command, c *client.Client, _ []string) (cluster.StateHashBody, error) {
		return c.StateHash(cmd.Context())
	}, func(body cluster.StateHashBody, w io.Writer) error {
		fmt.Fprintf(w, "%s %d %s\n", body.Node, body.Index, body.Hash)
		return nil
	})
}

func newClusterPeersCmd() *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "peers",
		Short: "List the raft servers: address, state, voter, last contact, commit index",
		Args:  cobra.NoArgs,
	}, "cluster peers", func(cmd *cobra.Command, c *client.Client, _ []string) (cluster.PeersBody, error) {
		peers, err := c.Peers(cmd.Context())
		if err != nil {
			return cluster.PeersBody{}, err
		}
		body := cluster.PeersBody{Peers: peers}
		if body.Peers == nil {
			body.Peers = []cluster.PeerInfo{}
		}
		warnEvenVoters(cmd, body.Peers)
		return body, nil
	}, cluster.PeersBody.WriteTable)
}

// warnEvenVoters prints one warning line on stderr when the configuration
// has an even number of voters.
func warnEvenVoters(cmd *cobra.Command, peers []cluster.PeerInfo) {
	if n := (cluster.PeersBody{Peers: peers}).Voters(); n > 0 && n%2 == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "imh: warning: %s\n", cluster.EvenVotersWarning(n))
	}
}

func newClusterJoinCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "join GOSSIPADDR",
		Short: "Make the agent at --http-addr join the cluster gossiping at GOSSIPADDR (a removed agent rejoins fresh)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := callAgent(&o, func(c *client.Client) (cluster.JoinResult, error) { return c.Join(cmd.Context(), args[0]) })
			if err != nil {
				return fmt.Errorf("cluster join %s: %w", argName(args[0]), err)
			}
			if o.json {
				return printJSON(cmd, res)
			}
			if res.Fresh {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: stale raft state of the removed agent moved aside (see its log)\n", res.Node)
			}
			peers, err := o.agent.Peers(cmd.Context())
			if err != nil {
				peers = nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s joined (%d agents contacted), %s; leader %s\n", res.Node, res.Contacted, suffrage(peers, res.Node), res.Leader)
			warnEvenVoters(cmd, peers)
			return nil
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

// suffrage says whether node is a voter among peers, and how a non-voter
// becomes one.
func suffrage(peers []cluster.PeerInfo, node string) string {
	for _, p := range peers {
		if p.Name == node && p.Voter {
			return "a voter"
		}
	}
	return "a non-voter until `imh cluster promote " + node + "`"
}

// newClusterPromoteCmd is imh cluster promote: the one deliberate step
// that makes an agent a voter (agents join a running cluster as
// non-voters, so a trial agent never raises the quorum by accident).
func newClusterPromoteCmd() *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "promote NAME",
		Short: "Make the non-voter NAME a voter (agents join a running cluster as non-voters)",
		Args:  nameArg("cluster promote"),
	}, "cluster promote", func(cmd *cobra.Command, c *client.Client, args []string) (cluster.PromoteResult, error) {
		res, err := c.Promote(cmd.Context(), args[0])
		if err == nil && res.Voters%2 == 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "imh: warning: %s\n", cluster.EvenVotersWarning(res.Voters))
		}
		return res, err
	}, func(res cluster.PromoteResult, w io.Writer) error {
		what := "promoted %s to voter (%d voters)\n"
		if res.Already {
			what = "%s was a voter already (%d voters)\n"
		}
		fmt.Fprintf(w, what, res.Promoted, res.Voters)
		return nil
	})
}

// nameArg is the Args of a command whose one argument names a member of
// the cluster's state (fsm.ValidName): a bad name is a usage error (exit
// 2) before anything is asked of the agent.
func nameArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(1)(cmd, args); err != nil {
			return err
		}
		if err := fsm.ValidName(args[0]); err != nil {
			return usageErrorf("%s: %v", what, err)
		}
		return nil
	}
}

func newClusterRemoveCmd() *cobra.Command {
	return newAgentCallCmd(&cobra.Command{
		Use:   "remove NAME",
		Short: "Take a server out of the raft configuration (the only way one leaves it)",
		Args:  nameArg("cluster remove"),
	}, "cluster remove", func(cmd *cobra.Command, c *client.Client, args []string) (cluster.RemoveResult, error) {
		return c.RemovePeer(cmd.Context(), args[0])
	}, func(res cluster.RemoveResult, w io.Writer) error {
		note := "it was not reachable; if it comes back it stays out for a while, then a restart with --join rejoins it"
		if res.Notified {
			note = "it was told and waits for `imh cluster join`"
		}
		fmt.Fprintf(w, "removed %s (%s)\n", res.Removed, note)
		return nil
	})
}

func newClusterTransferCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "transfer-leader [NAME]",
		Short: "Hand leadership to NAME (or to the most up-to-date voter)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				if err := fsm.ValidName(args[0]); err != nil {
					return usageErrorf("cluster transfer-leader: %v", err)
				}
				name = args[0]
			}
			res, err := callAgent(&o, func(c *client.Client) (cluster.TransferResult, error) { return c.TransferLeader(cmd.Context(), name) })
			if err != nil {
				return fmt.Errorf("cluster transfer-leader: %w", err)
			}
			if o.json {
				return printJSON(cmd, res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "leader is now %s\n", res.Leader)
			return nil
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

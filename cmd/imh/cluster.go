package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/internal/logging"
)

func init() { register(newClusterCmd) }

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Cluster operations: peers, join, remove, transfer-leader, snapshots, recover, secret rotation",
	}
	cmd.AddCommand(newClusterPeersCmd(), newClusterJoinCmd(), newClusterRemoveCmd(),
		newClusterTransferCmd(), newClusterSnapshotCmd(), newClusterRecoverCmd(), newClusterStateHashCmd(),
		newClusterSecretCmd())
	return cmd
}

func newClusterStateHashCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "state-hash",
		Short: "The agent's last applied raft index and the SHA-256 of its replicated state (equal on every agent at the same index)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var body cluster.StateHashBody
			if err := apiCall(cmd.Context(), &o, http.MethodGet, "/v1/state-hash", nil, &body); err != nil {
				return fmt.Errorf("cluster state-hash: %w", err)
			}
			if o.json {
				return printJSON(cmd, body)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %d %s\n", body.Node, body.Index, body.Hash)
			return nil
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

func newClusterPeersCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the raft servers: address, state, voter, last contact, commit index",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var body cluster.PeersBody
			if err := apiCall(cmd.Context(), &o, http.MethodGet, "/v1/peers", nil, &body); err != nil {
				return fmt.Errorf("cluster peers: %w", err)
			}
			if body.Peers == nil {
				body.Peers = []cluster.PeerInfo{}
			}
			if o.json {
				return printJSON(cmd, body)
			}
			tw := newTable(cmd)
			fmt.Fprintln(tw, "NAME\tRAFT ADDR\tSTATE\tVOTER\tLAST CONTACT\tCOMMIT INDEX")
			for _, p := range body.Peers {
				lc := "-"
				if p.LastContactMs >= 0 {
					lc = fmt.Sprintf("%dms", p.LastContactMs)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%d\n", p.Name, p.RaftAddr, p.State, p.Voter, lc, p.CommitIndex)
			}
			return tw.Flush()
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

func newClusterJoinCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "join GOSSIPADDR",
		Short: "Make the agent at --http-addr join the cluster gossiping at GOSSIPADDR (a removed agent rejoins fresh)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res cluster.JoinResult
			if err := apiCall(cmd.Context(), &o, http.MethodPost, "/v1/join", cluster.JoinRequest{Addr: args[0]}, &res); err != nil {
				return fmt.Errorf("cluster join %s: %w", args[0], err)
			}
			if o.json {
				return printJSON(cmd, res)
			}
			if res.Fresh {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: stale raft state of the removed agent moved aside (see its log)\n", res.Node)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s joined (%d agents contacted), a voter; leader %s\n", res.Node, res.Contacted, res.Leader)
			return nil
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

func newClusterRemoveCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Take a server out of the raft configuration (the only way one leaves it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := fsm.ValidName(args[0]); err != nil {
				return usageErrorf("cluster remove: %v", err)
			}
			var res cluster.RemoveResult
			if err := apiCall(cmd.Context(), &o, http.MethodDelete, "/v1/peers/"+args[0], nil, &res); err != nil {
				return fmt.Errorf("cluster remove %s: %w", args[0], err)
			}
			if o.json {
				return printJSON(cmd, res)
			}
			note := "it was not reachable; if it comes back it stays out for a while, then a restart with --join rejoins it"
			if res.Notified {
				note = "it was told and waits for `imh cluster join`"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s (%s)\n", res.Removed, note)
			return nil
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

func newClusterTransferCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "transfer-leader [NAME]",
		Short: "Hand leadership to NAME (or to the most up-to-date voter)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req cluster.TransferRequest
			if len(args) == 1 {
				if err := fsm.ValidName(args[0]); err != nil {
					return usageErrorf("cluster transfer-leader: %v", err)
				}
				req.Name = args[0]
			}
			var res cluster.TransferResult
			if err := apiCall(cmd.Context(), &o, http.MethodPost, "/v1/transfer-leader", req, &res); err != nil {
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

func newClusterSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Save or restore the replicated state (private keys only sealed)"}
	var save, restore apiOptions
	saveCmd := &cobra.Command{
		Use:   "save FILE",
		Short: "Write the leader's state to FILE (mode 0600, never overwrites)",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return snapshotSave(cmd, &save, args[0]) },
	}
	restoreCmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the whole replicated state with FILE (disaster recovery into a fresh cluster)",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return snapshotRestore(cmd, &restore, args[0]) },
	}
	addAPIFlags(saveCmd, &save)
	addAPIFlags(restoreCmd, &restore)
	cmd.AddCommand(saveCmd, restoreCmd)
	return cmd
}

func snapshotSave(cmd *cobra.Command, o *apiOptions, file string) error {
	if _, err := os.Lstat(file); err == nil {
		return usageErrorf("snapshot save: %s exists (refusing to overwrite)", file)
	}
	b, err := apiRaw(cmd.Context(), o, http.MethodGet, "/v1/snapshot", nil)
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	body, err := cluster.SnapshotBody(b)
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	st := fsm.New()
	if err := st.Restore(body); err != nil {
		return fmt.Errorf("snapshot save: the agent sent an undecodable snapshot: %w", err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return usageErrorf("snapshot save: %s exists (refusing to overwrite)", file)
		}
		return usageErrorf("snapshot save: %v", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(file)
		return fmt.Errorf("snapshot save: write %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(file)
		return fmt.Errorf("snapshot save: close %s: %w", file, err)
	}
	res := cluster.RestoreResult{Routers: len(st.Routers()), Frontends: len(st.Frontends()), Destinations: len(st.Destinations())}
	if o.json {
		return printJSON(cmd, struct {
			File string `json:"file"`
			cluster.RestoreResult
			Bytes int `json:"bytes"`
		}{file, res, len(b)})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "saved %s: %d routers, %d destinations, %d bytes (private keys sealed under the cluster secret)\n",
		file, res.Routers, res.Destinations, len(b))
	return nil
}

func snapshotRestore(cmd *cobra.Command, o *apiOptions, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return usageErrorf("snapshot restore: %v", err)
	}
	body, err := cluster.SnapshotBody(b)
	if err != nil {
		return usageErrorf("snapshot restore: %s: %v", file, err)
	}
	if err := fsm.New().Restore(body); err != nil {
		return usageErrorf("snapshot restore: %s: %v", file, err)
	}
	raw, err := apiRaw(cmd.Context(), o, http.MethodPut, "/v1/snapshot", b)
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	if o.json {
		_, err := cmd.OutOrStdout().Write(raw)
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "restored %s\n", file)
	return nil
}

func newClusterRecoverCmd() *cobra.Command {
	var dataDir, peers string
	cmd := &cobra.Command{
		Use:   "recover --data-dir DIR --peers NAME=RAFTADDR,...",
		Short: "On a STOPPED agent: rewrite its raft configuration to the surviving peers (majority lost for good)",
		Long: "Rewrites the raft configuration in DIR to exactly the given peers (raft.RecoverCluster).\n" +
			"Run it on every surviving agent, stopped, with the same --peers, then start them:\n" +
			"they elect a leader among themselves and new agents join as usual. Writes the lost\n" +
			"majority committed but the survivors never received are gone. See docs/operations.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" || peers == "" {
				return usageErrorf("cluster recover: --data-dir and --peers are required")
			}
			list, err := cluster.ParsePeers(peers)
			if err != nil {
				return usageErrorf("cluster recover: --peers: %v", err)
			}
			if err := cluster.Recover(dataDir, list, logging.Discard()); err != nil {
				if errors.Is(err, cluster.ErrNoState) {
					return usageErrorf("cluster recover: %v", err)
				}
				return fmt.Errorf("cluster recover: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recovered %s: the configuration is now %s; start the agent(s)\n", dataDir, peers)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "data dir of the stopped agent")
	cmd.Flags().StringVar(&peers, "peers", "", "the surviving servers: NAME=RAFTADDR,...")
	return cmd
}

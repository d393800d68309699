package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/logging"
	"github.com/imh-project/imh/internal/progress"
)

func newClusterSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Save or restore the replicated state (private keys only sealed)"}
	var save, restore apiOptions
	var ro restoreOptions
	saveCmd := &cobra.Command{
		Use:   "save FILE",
		Short: "Write the leader's state to FILE (mode 0600, never overwrites)",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return snapshotSave(cmd, &save, args[0]) },
	}
	restoreCmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the whole replicated state with FILE (disaster recovery into a fresh cluster)",
		Long: "Replace the whole replicated state with FILE. It first shows what changes (destinations,\n" +
			"routers and frontends added, removed or changed against the cluster's state now), then asks\n" +
			"on a terminal; give --yes to restore without asking, --dry-run to only show the changes.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return snapshotRestore(cmd, &restore, ro, args[0]) },
	}
	restoreCmd.Flags().BoolVarP(&ro.yes, "yes", "y", false, "restore without asking")
	restoreCmd.Flags().BoolVar(&ro.dryRun, "dry-run", false, "show what would change and change nothing")
	addAPIFlags(saveCmd, &save)
	addAPIFlags(restoreCmd, &restore)
	cmd.AddCommand(saveCmd, restoreCmd)
	return cmd
}

func snapshotSave(cmd *cobra.Command, o *apiOptions, file string) error {
	saved, err := callAgent(o, func(c *client.Client) (client.SavedSnapshot, error) { return c.SaveSnapshot(cmd.Context(), file) })
	if err != nil {
		return snapshotErr("snapshot save", err)
	}
	if o.json {
		return printJSON(cmd, saved)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "saved %s: %d routers, %d destinations, %d bytes (private keys sealed under the cluster secret)\n",
		file, saved.Routers, saved.Destinations, saved.Bytes)
	return nil
}

// snapshotErr words an error of snapshot save or restore: a problem with
// the local file is a usage error (exit 2).
func snapshotErr(what string, err error) error {
	err = fmt.Errorf("%s: %w", what, err)
	if errors.Is(err, client.ErrSnapshotFile) {
		return &usageError{err: err}
	}
	return err
}

type restoreOptions struct{ yes, dryRun bool }

func snapshotRestore(cmd *cobra.Command, o *apiOptions, ro restoreOptions, file string) error {
	b, then, err := client.ReadSnapshotFile(file)
	if err != nil {
		return snapshotErr("snapshot restore", err)
	}
	cur, err := callAgent(o, func(c *client.Client) ([]byte, error) { return c.Snapshot(cmd.Context()) })
	if err != nil {
		return fmt.Errorf("snapshot restore: read the cluster's state: %w", err)
	}
	plan, err := client.PlanRestore(file, cur, then)
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	plan.DryRun = ro.dryRun
	if ro.dryRun {
		if o.json {
			return printJSON(cmd, plan)
		}
		return plan.WriteText(cmd.OutOrStdout())
	}
	if !ro.yes {
		if !stdinIsTerminal() || o.json {
			return usageErrorf("snapshot restore: replaces the whole state (%s): give --yes to restore, --dry-run to see the changes", plan.Summary())
		}
		plan.WriteText(cmd.ErrOrStderr())
		fmt.Fprint(cmd.ErrOrStderr(), "restore? [y/N] ")
		answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("snapshot restore: not confirmed; nothing changed")
		}
	}
	// The leader installs the snapshot and every follower takes it from
	// the leader: seconds for a large state, so say what is happening.
	p := progress.New(cmd.ErrOrStderr(), "the leader to restore the snapshot", o.json)
	p.Update(fmt.Sprintf("%d KiB sent", (len(b)+1023)/1024))
	res, err := callAgent(o, func(c *client.Client) (cluster.RestoreResult, error) { return c.Restore(cmd.Context(), b) })
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	if o.json {
		return printJSON(cmd, res)
	}
	if ro.yes {
		plan.WriteText(cmd.OutOrStdout())
	}
	fmt.Fprintf(cmd.OutOrStdout(), "restored %s in %.1fs\n", file, p.Elapsed().Seconds())
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

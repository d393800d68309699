package main

import (
	"fmt"
	"maps"
	"slices"

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
			printStatus(cmd, st)
			return nil
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

func printStatus(cmd *cobra.Command, st *status.Status) {
	w := cmd.OutOrStdout()
	leader := st.Leader
	if leader == "" {
		leader = "(none)"
	}
	fmt.Fprintf(w, "node %s, leader %s, term %d\n\n", st.Node, leader, st.Term)
	tw := newTable(cmd)
	fmt.Fprintln(tw, "PEER\tRAFT ADDR\tSTATE\tVOTER")
	for _, p := range st.Peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\n", p.Name, p.RaftAddr, p.State, p.Voter)
	}
	tw.Flush()
	fmt.Fprintln(w)
	printRouters(cmd, st.Routers)
	fmt.Fprintln(w)
	if len(st.Frontends) > 0 {
		printFrontends(cmd, st.Frontends)
		fmt.Fprintln(w)
	}
	tw = newTable(cmd)
	fmt.Fprintln(tw, "DESTINATION\tB32\tPOLICY\tSERVICE\tLEASES\tBY ROUTER\tPUBLISHED")
	for _, d := range st.Destinations {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\n", d.Name, d.B32, d.Policy, d.Service, d.Leases, status.ByRouter(d.LeasesByRouter), d.Published)
	}
	tw.Flush()
	for _, d := range st.Destinations {
		for _, r := range slices.Sorted(maps.Keys(d.UpstreamInbound)) {
			if c := d.UpstreamInbound[r]; c.Have < c.Want {
				fmt.Fprintf(w, "shortfall: %s on %s: the upstream holds %d of %d inbound tunnels\n", d.Name, r, c.Have, c.Want)
			}
		}
	}
	printInvisibility(cmd, st.Destinations)
}

// printFrontends prints one line per destination a frontend reported (one
// line with dashes when it reported none): whether its data attachment is
// up, its open streams, its bytes from clients (in) and to them (out), and
// whether its backend answered.
func printFrontends(cmd *cobra.Command, fs []status.Frontend) {
	tw := newTable(cmd)
	fmt.Fprintln(tw, "FRONTEND\tROUTER\tSTATE\tDESTINATION\tATTACHED\tOPEN\tBYTES IN\tBYTES OUT\tBACKEND UP")
	for _, f := range fs {
		if len(f.Destinations) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\n", f.Name, f.Router, f.State)
		}
		for _, d := range f.Destinations {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", f.Name, f.Router, f.State, d.Name, yesNo(d.Attached), d.Open, d.BytesIn, d.BytesOut, yesNo(d.BackendUp))
		}
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

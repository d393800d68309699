package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/internal/status"
)

func init() { register(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster: leader, peers, routers and destinations (stale reads allowed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st status.Status
			if err := apiCall(cmd.Context(), &o, "GET", "/v1/status", nil, &st); err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if o.json {
				return printJSON(cmd, st)
			}
			printStatus(cmd, &st)
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
	tw = newTable(cmd)
	fmt.Fprintln(tw, "DESTINATION\tB32\tPOLICY\tSERVICE\tLEASES\tBY ROUTER\tPUBLISHED")
	for _, d := range st.Destinations {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\n", d.Name, d.B32, d.Policy, d.Service, d.Leases, byRouter(d.LeasesByRouter), d.Published)
	}
	tw.Flush()
}

// byRouter formats {"r1":3,"r2":2} as "r1=3 r2=2" in name order.
func byRouter(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

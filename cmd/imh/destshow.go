package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/status"
)

func newDestListCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the cluster's destinations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ds, err := callAgent(&o, func(c *client.Client) ([]cluster.DestinationInfo, error) { return c.Destinations(cmd.Context()) })
			if err != nil {
				return fmt.Errorf("dest list: %w", err)
			}
			list := cluster.DestinationList{Destinations: ds}
			if o.json {
				return printJSON(cmd, list)
			}
			tw := newTable(cmd)
			fmt.Fprintln(tw, "NAME\tB32\tIN/OUT/HOPS\tPOLICY\tSERVICE\tLEASES\tPUBLISHED")
			for _, d := range list.Destinations {
				fmt.Fprintf(tw, "%s\t%s\t%d/%d/%d\t%s\t%s\t%d\t%d\n", d.Name, d.B32, d.Inbound, d.Outbound, d.Hops, d.Policy, d.Service, d.Leases, d.Published)
			}
			return tw.Flush()
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

func newDestShowCmd() *cobra.Command {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one destination (public facts only; never private keys)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := callAgent(&o, func(c *client.Client) (cluster.DestinationInfo, error) { return c.Destination(cmd.Context(), args[0]) })
			if err != nil {
				return fmt.Errorf("dest show %s: %w", argName(args[0]), err)
			}
			if o.json {
				return printJSON(cmd, d)
			}
			printDestination(cmd, &d)
			return nil
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}

func printDestination(cmd *cobra.Command, d *cluster.DestinationInfo) {
	tw := newTable(cmd)
	for _, kv := range [][2]string{
		{"name", d.Name}, {"b32", d.B32},
		{"settings", fmt.Sprintf("inbound %d, outbound %d, hops %d", d.Inbound, d.Outbound, d.Hops)},
		{"policy", d.Policy}, {"service", d.Service}, {"frontends", onOff(d.Frontends)},
		{"leaseset key", "X25519 " + d.LeaseSetPublicKey},
		{"leases", fmt.Sprintf("%d (%s)", d.Leases, status.ByRouter(d.LeasesByRouter))},
		{"published", fmt.Sprint(d.Published)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
	status.WriteInvisibility(cmd.OutOrStdout(), d.Invisibility)
	if len(d.Tunnels) == 0 {
		return
	}
	fmt.Fprintln(cmd.OutOrStdout())
	tw = newTable(cmd)
	fmt.Fprintln(tw, "ROUTER\tDIRECTION\tTUNNEL\tGATEWAY\tHOPS\tEXPIRES")
	for _, t := range d.Tunnels {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\n", t.Router, t.Direction, t.ID, status.ShortHex(t.Gateway), len(t.Hops), t.Expires)
	}
	tw.Flush()
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

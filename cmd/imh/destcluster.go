package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/status"
)

// newDestClusterCmds are the cluster's destination commands, added to the
// `imh dest` parent of dest.go. Private keys never come back from the
// agent: show prints only public facts.
func newDestClusterCmds() []*cobra.Command {
	return []*cobra.Command{
		newDestCreateCmd(), newDestImportCmd(), newDestSetCmd(), newDestListCmd(), newDestShowCmd(),
		newRemoveCmd("dest", "destination", (*client.Client).RemoveDestination, "Remove a destination and its sealed keys from the cluster"),
	}
}

// destSettingsFlags are the settings flags of create, import and set.
type destSettingsFlags struct {
	inbound, outbound, hops    int
	policy, service, frontends string
}

func (f *destSettingsFlags) add(cmd *cobra.Command) {
	d := fsm.DefaultSettings()
	cmd.Flags().IntVar(&f.inbound, "inbound", int(d.Inbound), "inbound tunnels per router")
	cmd.Flags().IntVar(&f.outbound, "outbound", int(d.Outbound), "outbound tunnels per router")
	cmd.Flags().IntVar(&f.hops, "hops", int(d.Hops), "hops per tunnel")
	cmd.Flags().StringVar(&f.policy, "policy", d.Policy.String(), "lease policy: spread (leases of every router: load sharing, one-way traffic) or failover (one router's leases at a time, others hot: request/response services)")
	cmd.Flags().StringVar(&f.service, "service", d.Service.String(), "what payloads get: none|echo|tcp://HOST:PORT")
	cmd.Flags().StringVar(&f.frontends, "frontends", onOff(d.Frontends), "on: multi-client mode, streams end in the frontend beside each router (imh frontend); off: in the leader")
}

// onOff spells a switch as the CLI takes it.
func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// request builds the API request from the flags the operator set (all of
// them for create/import, only the changed ones for set), checking them
// locally so a bad value is a usage error (exit 2).
func (f *destSettingsFlags) request(cmd *cobra.Command, onlyChanged bool) (cluster.DestinationRequest, error) {
	var req cluster.DestinationRequest
	use := func(name string) bool { return !onlyChanged || cmd.Flags().Changed(name) }
	for _, n := range []struct {
		name string
		v    int
		dst  **int
		min  int
		max  int
	}{{"inbound", f.inbound, &req.Inbound, 1, i2p.MaxLeases}, {"outbound", f.outbound, &req.Outbound, 1, i2p.MaxLeases}, {"hops", f.hops, &req.Hops, 0, 8}} {
		if !use(n.name) {
			continue
		}
		if n.v < n.min || n.v > n.max {
			return req, usageErrorf("--%s %d: want %d..%d", n.name, n.v, n.min, n.max)
		}
		v := n.v
		*n.dst = &v
	}
	if use("policy") {
		if _, err := fsm.ParsePolicy(f.policy); err != nil {
			return req, usageErrorf("--policy %q: want spread or failover", f.policy)
		}
		req.Policy = &f.policy
	}
	if use("service") {
		if _, _, err := fsm.ParseService(f.service); err != nil {
			return req, usageErrorf("--service %q: want none, echo or tcp://HOST:PORT", f.service)
		}
		req.Service = &f.service
	}
	if use("frontends") {
		if f.frontends != "on" && f.frontends != "off" {
			return req, usageErrorf("--frontends %q: want on or off", f.frontends)
		}
		on := f.frontends == "on"
		req.Frontends = &on
	}
	return req, nil
}

func newDestCreateCmd() *cobra.Command {
	var o apiOptions
	var sf destSettingsFlags
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a destination with new keys, generated and sealed by the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := sf.request(cmd, false)
			if err != nil {
				return err
			}
			req.Name = args[0]
			return destPost(cmd, &o, wf, req, "dest create "+argName(args[0]))
		},
	}
	addAPIFlags(cmd, &o)
	sf.add(cmd)
	wf.add(cmd)
	return cmd
}

// maxImportKeyFile bounds the key file read by import (real ones are < 4 KiB).
const maxImportKeyFile = 64 << 10

func newDestImportCmd() *cobra.Command {
	var o apiOptions
	var sf destSettingsFlags
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "import NAME KEYFILE",
		Short: "Import a destination from a private key file (read here, sent to the cluster, stored sealed)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := sf.request(cmd, false)
			if err != nil {
				return err
			}
			raw, err := readImportKeyFile(args[1])
			if err != nil {
				return err
			}
			defer clear(raw)
			req.Name = args[0]
			req.KeyFile = base64.StdEncoding.EncodeToString(raw)
			return destPost(cmd, &o, wf, req, "dest import "+argName(args[0]))
		},
	}
	addAPIFlags(cmd, &o)
	sf.add(cmd)
	wf.add(cmd)
	return cmd
}

// readImportKeyFile reads and checks a key file; any problem is a usage
// error (exit 2), as CLI.md asks for unreadable or malformed files.
func readImportKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("key file %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxImportKeyFile+1))
	if err != nil {
		return nil, usageErrorf("key file %s: %v", path, err)
	}
	if len(raw) > maxImportKeyFile {
		return nil, usageErrorf("key file %s: larger than %d bytes, not a key file", path, maxImportKeyFile)
	}
	k, err := i2p.ParsePrivateKeys(raw)
	if err != nil {
		return nil, usageErrorf("key file %s: %v", path, err)
	}
	if !k.CanSign() {
		return nil, usageErrorf("key file %s (%s): only Ed25519 keys without offline signatures can be hosted", path, k.Destination().B32())
	}
	return raw, nil
}

func destPost(cmd *cobra.Command, o *apiOptions, wf waitFlags, req cluster.DestinationRequest, what string) error {
	info, err := callAgent(o, func(c *client.Client) (cluster.DestinationInfo, error) {
		return c.CreateDestination(cmd.Context(), req)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	warnStreamPolicy(cmd, info)
	if !o.json {
		fmt.Fprintf(cmd.OutOrStdout(), "destination %s: %s\n", info.Name, info.B32)
	}
	if wf.wait {
		if err := waitLeaseSet(cmd, o, wf, info.Name, info.Inbound); err != nil {
			return fmt.Errorf("%s: created, but %w", what, err)
		}
	}
	if o.json {
		return printJSON(cmd, info)
	}
	return nil
}

func newDestSetCmd() *cobra.Command {
	var o apiOptions
	var sf destSettingsFlags
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Change a destination's settings (only the flags given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := sf.request(cmd, true)
			if err != nil {
				return err
			}
			if req == (cluster.DestinationRequest{}) {
				return usageErrorf("dest set %s: nothing to change: give --inbound, --outbound, --hops, --policy, --service or --frontends", argName(args[0]))
			}
			info, err := callAgent(&o, func(c *client.Client) (cluster.DestinationInfo, error) {
				return c.SetDestination(cmd.Context(), args[0], req)
			})
			if err != nil {
				return fmt.Errorf("dest set %s: %w", argName(args[0]), err)
			}
			warnStreamPolicy(cmd, info)
			if !o.json {
				fmt.Fprintf(cmd.OutOrStdout(), "destination %s: inbound %d, outbound %d, hops %d, policy %s, service %s, frontends %s\n",
					info.Name, info.Inbound, info.Outbound, info.Hops, info.Policy, info.Service, onOff(info.Frontends))
			}
			if wf.wait {
				if err := waitLeaseSet(cmd, &o, wf, info.Name, info.Inbound); err != nil {
					return fmt.Errorf("dest set %s: changed, but %w", argName(args[0]), err)
				}
			}
			if o.json {
				return printJSON(cmd, info)
			}
			return nil
		},
	}
	addAPIFlags(cmd, &o)
	sf.add(cmd)
	wf.add(cmd)
	return cmd
}

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
	printInvisibilityDetail(cmd, d.Invisibility)
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

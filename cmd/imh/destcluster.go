package main

import (
	"encoding/base64"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/keyfile"
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
	}{{"inbound", f.inbound, &req.Inbound, 1, i2p.MaxLeases}, {"outbound", f.outbound, &req.Outbound, 1, i2p.MaxLeases}, {"hops", f.hops, &req.Hops, 0, fsm.MaxHops}} {
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
			raw, err := keyfile.ReadImport(args[1])
			if err != nil {
				return &usageError{err: err} // unreadable or malformed: CLI.md's exit 2
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
				info.WriteSettings(cmd.OutOrStdout())
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

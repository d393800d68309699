package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/progress"
	"github.com/imh-project/imh/internal/status"
)

// waitFlags are --wait and --wait-timeout of dest create|import|set.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (f *waitFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.wait, "wait", false, "return once the LeaseSet is published with the asked leases (progress on stderr; exit 1 on timeout)")
	cmd.Flags().DurationVar(&f.timeout, "wait-timeout", 2*time.Minute, "how long --wait waits")
}

// wantLeases is how many leases dest's LeaseSet should carry with the
// routers st shows up: inbound per router under spread, one router's
// under failover.
func wantLeases(st *status.Status, policy string, inbound int) (want, up int) {
	for _, r := range st.Routers {
		if r.State == status.RouterUp {
			up++
		}
	}
	if policy == "failover" {
		return min(up, 1) * inbound, up
	}
	return up * inbound, up
}

// leaseSetState says how far dest's publication is, and whether it is
// done: a LeaseSet with the asked leases. (Any LeaseSet will do: a new
// destination has none before, and after dest set one with the old
// --inbound has another lease count.)
func leaseSetState(st *status.Status, name string, inbound int) (bool, string) {
	var d *status.Destination
	for i := range st.Destinations {
		if st.Destinations[i].Name == name {
			d = &st.Destinations[i]
		}
	}
	if st.Leader == "" {
		return false, "no leader"
	}
	if d == nil {
		return false, "the destination is not in the leader's view yet"
	}
	want, up := wantLeases(st, d.Policy, inbound)
	if up == 0 {
		return false, "no router is up"
	}
	if d.Published == 0 {
		return false, fmt.Sprintf("no LeaseSet yet, %d leases asked (%d routers up)", want, up)
	}
	return d.Leases == want, fmt.Sprintf("%d of %d leases published (%d routers up)", d.Leases, want, up)
}

// waitLeaseSet is --wait: polls the agent's status until the LeaseSet of
// name is published with inbound leases per router up.
func waitLeaseSet(cmd *cobra.Command, o *apiOptions, f waitFlags, name string, inbound int) error {
	p := progress.New(cmd.ErrOrStderr(), "the LeaseSet of "+name, o.json)
	err := p.Poll(cmd.Context(), f.timeout, 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		st, err := callAgent(o, func(c *client.Client) (*status.Status, error) { return c.Status(ctx) })
		if err != nil {
			return false, "", err
		}
		done, state := leaseSetState(st, name, inbound)
		return done, state, nil
	})
	if err != nil {
		return err
	}
	if !o.json {
		fmt.Fprintf(cmd.OutOrStdout(), "LeaseSet of %s published: %s, %.1fs\n", name, p.Last(), p.Elapsed().Seconds())
	}
	return nil
}

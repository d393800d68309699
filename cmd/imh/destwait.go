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

// waitLeaseSet is --wait: polls the agent's status until the LeaseSet of
// name is published with inbound leases per router up
// (status.Status.Publication).
func waitLeaseSet(cmd *cobra.Command, o *apiOptions, f waitFlags, name string, inbound int) error {
	p := progress.New(cmd.ErrOrStderr(), "the LeaseSet of "+name, o.json)
	err := p.Poll(cmd.Context(), f.timeout, 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		st, err := callAgent(o, func(c *client.Client) (*status.Status, error) { return c.Status(ctx) })
		if err != nil {
			return false, "", err
		}
		done, state := st.Publication(name, inbound)
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

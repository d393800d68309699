package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/observe/sim"
)

// simnetObserveOptions are the flags of simnet observe: --routers,
// --hours, --seed, --policy and --replace-jitter set the runs' sim.Config,
// whose defaults are theirs.
type simnetObserveOptions struct {
	out     string
	sim     sim.Config
	singles int
	force   bool
	json    bool
}

// simnetObserveJSON is the `simnet observe --json` object (docs/cli.md).
type simnetObserveJSON struct {
	Out     string        `json:"out"`
	Routers int           `json:"routers"`
	Hours   float64       `json:"hours"`
	Seed    uint64        `json:"seed"`
	Policy  string        `json:"policy"`
	Runs    []sim.Written `json:"runs"`
}

func newSimnetObserveCmd() *cobra.Command {
	o := simnetObserveOptions{sim: sim.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "observe --out DIR [--routers 4] [--hours 24] [--seed 1] [--policy spread|failover] [--singles 2] [--replace-jitter 8s] [--force]",
		Short: "simulate a day of one destination's LeaseSets (one router, imh, naive merging) as an observer records them",
		Long: "observe runs, on simulated time, one destination served by a single stock router (two seeds),\n" +
			"by imh over --routers routers under spread and under failover, by those routers merged naively,\n" +
			"and by imh while one router dies and returns every 6 hours (under --policy), and writes each\n" +
			"run's stored LeaseSet2s to DIR as single-a.json, single-b.json, imh-spread.json,\n" +
			"imh-failover.json, naive.json and imh-churn.json for `imh leaseset analyze`. --singles N (2..26)\n" +
			"adds single routers single-c.json, single-d.json, ... of seeds of their own, a population for\n" +
			"`imh leaseset analyze --floor`. The same seed gives the same files. Existing files are not\n" +
			"replaced without --force.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSimnetObserve(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "directory the history files are written to (required; created if missing)")
	f.IntVar(&o.sim.Routers, "routers", o.sim.Routers, "routers of the imh and naive runs")
	f.Float64Var(&o.sim.Hours, "hours", o.sim.Hours, "simulated hours per run")
	f.Uint64Var(&o.sim.Seed, "seed", o.sim.Seed, "seed of everything random")
	f.StringVar(&o.sim.ChurnPolicy, "policy", o.sim.ChurnPolicy, "lease policy of the imh-churn run: spread or failover")
	f.DurationVar(&o.sim.Balancer.ReplaceJitter, "replace-jitter", o.sim.Balancer.ReplaceJitter, "the imh runs' replacement jitter (the balancer's; for tuning experiments)")
	f.IntVar(&o.singles, "singles", 2, "single-router runs (single-a, single-b, single-c, ...), 2 to 26")
	f.BoolVar(&o.force, "force", false, "replace history files that exist")
	f.BoolVar(&o.json, "json", false, "print what was written as one JSON object")
	return cmd
}

func runSimnetObserve(cmd *cobra.Command, o simnetObserveOptions) error {
	if o.out == "" {
		return usageErrorf("simnet observe: --out is required")
	}
	if err := o.sim.Validate(); err != nil {
		return usageErrorf("simnet observe: %v", err)
	}
	runs, err := sim.RunsWithSingles(o.singles)
	if err != nil {
		return usageErrorf("simnet observe: %v", err)
	}
	written, err := sim.WriteRuns(o.sim, runs, o.out, o.force)
	switch {
	case errors.Is(err, sim.ErrOutput):
		return usageErrorf("simnet observe: %v", err)
	case err != nil:
		return fmt.Errorf("simnet observe: %w", err)
	}
	res := simnetObserveJSON{Out: o.out, Routers: o.sim.Routers, Hours: o.sim.Hours, Seed: o.sim.Seed, Policy: o.sim.ChurnPolicy, Runs: written}
	if o.json {
		return printJSON(cmd, res)
	}
	return sim.WriteTable(cmd.OutOrStdout(), res.Runs)
}

package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/keyfile"
	"github.com/imh-project/imh/observe"
)

// maxLeaseSetInput bounds what `leaseset inspect` reads: the largest
// LeaseSet2 (RSA-4096 offline keys, 8 large keys, 64 KiB of options) is
// well under 128 KiB even as base64.
const maxLeaseSetInput = 256 << 10

func newLeasesetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leaseset",
		Short: "LeaseSet2 tools",
	}
	cmd.AddCommand(newLeasesetInspectCmd(), newLeasesetAnalyzeCmd())
	return cmd
}

func newLeasesetInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect [FILE|-]",
		Short: "Decode a LeaseSet2 (I2P base64 without the store-type byte, or raw bytes) and check its signature",
		Long: "Decode a LeaseSet2 given as I2P base64 (the form imh prints) or as raw bytes, from FILE\n" +
			"or stdin, and verify its signature. Exit 1 only when the signature does not verify,\n" +
			"2 for malformed input; time_status (ok, expired, not_yet_valid) never changes the exit code.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "-"
			if len(args) == 1 {
				path = args[0]
			}
			name := path
			if path == "-" {
				name = "stdin"
			}
			in, err := keyfile.ReadLimited(path, cmd.InOrStdin(), maxLeaseSetInput)
			if err != nil {
				return &usageError{err: err}
			}
			ls, err := i2p.ParseLeaseSet2Input(in)
			if err != nil {
				return usageErrorf("%s: not a LeaseSet2: %w", name, err)
			}
			v := observe.Inspect(ls, time.Now())
			w := cmd.OutOrStdout()
			if asJSON {
				err = destWriteJSON(w, v)
			} else {
				err = destPrintFields(w, v.Fields())
			}
			if err != nil {
				return err
			}
			if !v.SignatureValid {
				return fmt.Errorf("%s: leaseset of %s: %w", name, v.B32, v.VerifyErr)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newLeasesetAnalyzeCmd() *cobra.Command {
	var (
		asJSON bool
		floor  []string
	)
	windows := observe.DefaultWindowConfig()
	cmd := &cobra.Command{
		Use:   "analyze A.json B.json [--floor X.json,Y.json[,Z.json...]] [--window 1h] [--step 10m]",
		Short: "Measure how well an observer of the netDB tells two LeaseSet histories apart",
		Long: "Compare two LeaseSet histories (the files `imh simnet observe` writes) feature by feature:\n" +
			"for each, the advantage of the best threshold distinguisher over sliding windows\n" +
			"(max |TPR-FPR|, 0 = indistinguishable, 1 = separable) against the noise floor, the same\n" +
			"measure between two single-router histories (--floor X.json,Y.json, or --floor X.json\n" +
			"--floor Y.json). With three or more --floor histories (a population, e.g. from\n" +
			"`imh simnet observe --singles N`) every pair of them is compared, and the floor is the 95th\n" +
			"percentile of those advantages, shown with their median and largest. Without --floor the\n" +
			"floor is estimated from the two halves of B, and the output says so. Exit 2 for a bad\n" +
			"command line or a file that is not a valid history.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErrorf("leaseset analyze: want two history files A.json B.json, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(floor) == 1 {
				return usageErrorf("leaseset analyze: --floor wants two or more history files, got 1")
			}
			if err := windows.Validate(); err != nil {
				return usageErrorf("leaseset analyze: %w", err)
			}
			in, err := observe.ReadAnalyzeInput(args[0], args[1], floor, windows)
			if err != nil {
				return &usageError{err: err}
			}
			r, err := observe.Analyze(in)
			if err != nil {
				// the histories are valid but give no sample (too short for
				// one window): the input's fault
				return usageErrorf("leaseset analyze: %w", err)
			}
			if asJSON {
				return destWriteJSON(cmd.OutOrStdout(), r)
			}
			return r.WriteTable(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().StringSliceVar(&floor, "floor", nil, "two single-router histories giving the noise floor (X.json,Y.json), or three or more for a population floor")
	cmd.Flags().DurationVar(&windows.Window, "window", windows.Window, "length of each sliding window")
	cmd.Flags().DurationVar(&windows.Step, "step", windows.Step, "how far each window slides")
	return cmd
}

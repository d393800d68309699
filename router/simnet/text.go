package simnet

import (
	"fmt"
	"io"
	"maps"
	"slices"
)

// The human forms of what `imh simnet send` and `imh simnet baseline`
// print without --json (docs/cli.md), beside the results they print.

// WriteText writes the delivered and failed counts, then the failures by
// reason (in Reasons order, zero counts left out) and the deliveries by
// router (in name order).
func (r SendResult) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "delivered %d, failed %d\n", r.Delivered, r.Failed)
	for _, reason := range Reasons {
		if v := r.Reasons[string(reason)]; v > 0 {
			fmt.Fprintf(w, "  %s: %d\n", reason, v)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.ByRouter)) {
		if _, err := fmt.Fprintf(w, "  router %s: %d\n", name, r.ByRouter[name]); err != nil {
			return err
		}
	}
	return nil
}

// WriteText writes the final counts of a baseline run on one line, each a
// map of router name to count.
func (s BaselineStats) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "published %v, rejected %v, received %v\n", s.Publishes, s.Rejected, s.Received)
	return err
}

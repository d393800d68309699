package observe

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the report's human form, what `imh leaseset analyze`
// prints without --json (docs/cli.md): what was compared, where the floor
// came from, the window lengths, then one aligned row per feature with
// "-" for a value the histories could not give. It lives beside the
// Report so that a new field and its column change together.
func (r *Report) WriteTable(w io.Writer) error {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	desc := func(h HistoryInfo) string {
		return fmt.Sprintf("%s (run %q, %d stores over %s, %d windows)", h.Name, h.Run, h.Stores, ms(h.SpanMs).Round(time.Second), h.Windows)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "a: %s\nb: %s\n", desc(r.A), desc(r.B))
	switch r.Floor.Source {
	case FloorFiles:
		fmt.Fprintf(&b, "floor: %s vs %s\n", desc(*r.Floor.A), desc(*r.Floor.B))
	case FloorPopulation:
		fmt.Fprintf(&b, "floor: population of %d single-router histories, %d pairs; floor = %dth percentile of the pairwise advantages, within floor when advantage <= it\n",
			len(r.Floor.Histories), r.Floor.Pairs, FloorPercentile)
		for _, h := range r.Floor.Histories {
			fmt.Fprintf(&b, "  %s\n", desc(h))
		}
	case FloorHalvesOfB:
		fmt.Fprintf(&b, "floor: estimated from the two halves of b (no --floor given): %s vs %s\n", desc(*r.Floor.A), desc(*r.Floor.B))
	default:
		fmt.Fprintf(&b, "floor: unknown (%s)\n", r.Floor.Note)
	}
	fmt.Fprintf(&b, "windows: %s sliding by %s; critical: the advantage noise alone exceeds 5%% of the time at these lengths\n\n", ms(r.WindowMs), ms(r.StepMs))
	num := func(v *float64, format string) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf(format, *v)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	if r.Floor.Source == FloorPopulation {
		// the floor is the 95th percentile; its median and largest beside it
		fmt.Fprintf(tw, "feature\tadvantage\tfloor p%d\tfloor median\tfloor max\tverdict\tcritical\tmean a\tmean b\tunit\n", FloorPercentile)
		for _, f := range r.Features {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, num(f.Advantage, "%.3f"), num(f.FloorP95, "%.3f"),
				num(f.FloorMedian, "%.3f"), num(f.FloorMax, "%.3f"), f.Verdict, num(f.Critical, "%.3f"), num(f.MeanA, "%.2f"), num(f.MeanB, "%.2f"), f.Unit)
		}
		return flushTable(tw, w, &b)
	}
	fmt.Fprintln(tw, "feature\tadvantage\tfloor\tverdict\tcritical\tmean a\tmean b\tunit")
	for _, f := range r.Features {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, num(f.Advantage, "%.3f"), num(f.Floor, "%.3f"),
			f.Verdict, num(f.Critical, "%.3f"), num(f.MeanA, "%.2f"), num(f.MeanB, "%.2f"), f.Unit)
	}
	return flushTable(tw, w, &b)
}

// flushTable aligns the rows and writes the whole of b to w.
func flushTable(tw *tabwriter.Writer, w io.Writer, b *strings.Builder) error {
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

package status

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The human forms of these shapes, what `imh status`, `imh router list` and
// `imh dest show` print without --json (docs/cli.md). They live beside the
// shapes so that a new field and its column change together.

// NewTable returns the aligned table writer of every imh table (two spaces
// between columns), so that all of them line up alike; call Flush.
func NewTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// WriteTable writes what `imh status` prints: the node and leader, then a
// table each of peers, routers, frontends (only when there are any) and
// destinations, a line per inbound shortfall, and the INVISIBILITY section
// when a destination has figures.
func (st *Status) WriteTable(w io.Writer) error {
	leader := st.Leader
	if leader == "" {
		leader = "(none)"
	}
	fmt.Fprintf(w, "node %s, leader %s, term %d\n\n", st.Node, leader, st.Term)
	tw := NewTable(w)
	fmt.Fprintln(tw, "PEER\tRAFT ADDR\tSTATE\tVOTER")
	for _, p := range st.Peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\n", p.Name, p.RaftAddr, p.State, p.Voter)
	}
	tw.Flush()
	fmt.Fprintln(w)
	WriteRouters(w, st.Routers)
	fmt.Fprintln(w)
	if len(st.Frontends) > 0 {
		writeFrontends(w, st.Frontends)
		fmt.Fprintln(w)
	}
	tw = NewTable(w)
	fmt.Fprintln(tw, "DESTINATION\tB32\tPOLICY\tSERVICE\tLEASES\tBY ROUTER\tPUBLISHED")
	for _, d := range st.Destinations {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\n", d.Name, d.B32, d.Policy, d.Service, d.Leases, ByRouter(d.LeasesByRouter), d.Published)
	}
	tw.Flush()
	for _, d := range st.Destinations {
		for _, r := range slices.Sorted(maps.Keys(d.UpstreamInbound)) {
			if c := d.UpstreamInbound[r]; c.Have < c.Want {
				fmt.Fprintf(w, "shortfall: %s on %s: the upstream holds %d of %d inbound tunnels\n", d.Name, r, c.Have, c.Want)
			}
		}
	}
	return writeInvisibility(w, st.Destinations)
}

// WriteRouters writes the routers table of `imh status` and `imh router
// list`: name, address, state and capabilities ("-" for none).
func WriteRouters(w io.Writer, rs []Router) error {
	tw := NewTable(w)
	fmt.Fprintln(tw, "NAME\tADDR\tSTATE\tCAPABILITIES")
	for _, r := range rs {
		caps := strings.Join(r.Capabilities, ",")
		if caps == "" {
			caps = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Addr, r.State, caps)
	}
	return tw.Flush()
}

// writeFrontends writes one line per destination a frontend reported (one
// line with dashes when it reported none): whether its data attachment is
// up, its open streams, its bytes from clients (in) and to them (out), and
// whether its backend answered.
func writeFrontends(w io.Writer, fs []Frontend) {
	tw := NewTable(w)
	fmt.Fprintln(tw, "FRONTEND\tROUTER\tSTATE\tDESTINATION\tATTACHED\tOPEN\tBYTES IN\tBYTES OUT\tBACKEND UP")
	for _, f := range fs {
		if len(f.Destinations) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\n", f.Name, f.Router, f.State)
		}
		for _, d := range f.Destinations {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", f.Name, f.Router, f.State, d.Name, yesNo(d.Attached), d.Open, d.BytesIn, d.BytesOut, yesNo(d.BackendUp))
		}
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// The live invisibility figures (issue 20, docs/privacy.md): imh status
// prints the headline four per destination, imh dest show every feature.

// statusFigures are the features imh status shows, in column order: the
// ones an operator can act on (gateway policy, publish cadence, lease
// count) and that a single router's observer notices first.
var statusFigures = []string{"gateway_set", "gateway_churn", "stores_per_10m", "lease_count"}

// writeInvisibility writes the INVISIBILITY section of imh status, or
// nothing when no destination has figures.
func writeInvisibility(w io.Writer, ds []Destination) error {
	have := false
	for _, d := range ds {
		have = have || d.Invisibility != nil
	}
	if !have {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "INVISIBILITY: the last hour of LeaseSets as a netDB observer sees them; in brackets one stock router's 5-95% range, ! outside it")
	tw := NewTable(w)
	fmt.Fprintln(tw, "DESTINATION\tSPAN\tSTORES\tGATEWAY SET\tCHURN/H\tSTORES/10M\tLEASES\tATYPICAL")
	for _, d := range ds {
		inv := d.Invisibility
		switch {
		case inv == nil:
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\n", d.Name)
		case inv.Error != "":
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\terror: %s\n", d.Name, inv.Error)
		default:
			cols := []string{d.Name, spanText(inv.SpanMs), strconv.Itoa(inv.Stores)}
			for _, name := range statusFigures {
				cols = append(cols, inv.figureText(name))
			}
			cols = append(cols, inv.atypicalText())
			fmt.Fprintln(tw, strings.Join(cols, "\t"))
		}
	}
	return tw.Flush()
}

// WriteInvisibility writes every feature of one destination's figures, as
// imh dest show prints them after a blank line; inv may be nil (nothing
// published yet, or no leader's view).
func WriteInvisibility(w io.Writer, inv *Invisibility) error {
	fmt.Fprintln(w)
	switch {
	case inv == nil:
		_, err := fmt.Fprintln(w, "invisibility: - (no LeaseSet published yet, or no leader's view)")
		return err
	case inv.Error != "":
		_, err := fmt.Fprintf(w, "invisibility: error: %s\n", inv.Error)
		return err
	}
	fmt.Fprintf(w, "invisibility: last %s, %d LeaseSets published; %s\n", spanText(inv.SpanMs), inv.Stores, inv.atypicalText())
	tw := NewTable(w)
	fmt.Fprintln(tw, "FEATURE\tVALUE\tONE ROUTER (5%/50%/95%)\tUNIT\tVERDICT")
	for _, f := range inv.Features {
		fmt.Fprintf(tw, "%s\t%s\t%s / %s / %s\t%s\t%s\n", f.Name, valueText(f.Value),
			num(f.SingleRouter.Low), num(f.SingleRouter.Median), num(f.SingleRouter.High), f.Unit, f.Verdict)
	}
	return tw.Flush()
}

// figureText is "value (low-high)", with a "!" after a value outside the
// range.
func (inv *Invisibility) figureText(name string) string {
	for _, f := range inv.Features {
		if f.Name != name {
			continue
		}
		mark := ""
		if f.Verdict == "atypical" {
			mark = "!"
		}
		rng := num(f.SingleRouter.Low) + "-" + num(f.SingleRouter.High)
		if f.SingleRouter.Low == f.SingleRouter.High {
			rng = num(f.SingleRouter.Low)
		}
		return fmt.Sprintf("%s%s (%s)", valueText(f.Value), mark, rng)
	}
	return "-"
}

// atypicalText is "none of 13" or "2 of 13: gateway_set, max_gap".
func (inv *Invisibility) atypicalText() string {
	var names []string
	for _, f := range inv.Features {
		if f.Verdict == "atypical" {
			names = append(names, f.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf("none of %d", len(inv.Features))
	}
	return fmt.Sprintf("%d of %d: %s", len(names), len(inv.Features), strings.Join(names, ", "))
}

func valueText(v *float64) string {
	if v == nil {
		return "?"
	}
	return num(*v)
}

// num prints a figure to two decimals, without trailing zeros.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

func spanText(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).Round(time.Second).String()
}

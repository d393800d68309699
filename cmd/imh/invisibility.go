package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/internal/status"
)

// The live invisibility figures (issue 20, docs/privacy.md): imh status
// prints the headline four per destination, imh dest show every feature.

// statusFigures are the features imh status shows, in column order: the
// ones an operator can act on (gateway policy, publish cadence, lease
// count) and that a single router's observer notices first.
var statusFigures = []string{"gateway_set", "gateway_churn", "stores_per_10m", "lease_count"}

// printInvisibility prints the INVISIBILITY section of imh status, or
// nothing when no destination has figures.
func printInvisibility(cmd *cobra.Command, ds []status.Destination) {
	have := false
	for _, d := range ds {
		have = have || d.Invisibility != nil
	}
	if !have {
		return
	}
	w := cmd.OutOrStdout()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "INVISIBILITY: the last hour of LeaseSets as a netDB observer sees them; in brackets one stock router's 5-95% range, ! outside it")
	tw := newTable(cmd)
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
				cols = append(cols, figureText(inv, name))
			}
			cols = append(cols, atypicalText(inv))
			fmt.Fprintln(tw, strings.Join(cols, "\t"))
		}
	}
	tw.Flush()
}

// printInvisibilityDetail prints every feature of one destination (imh
// dest show).
func printInvisibilityDetail(cmd *cobra.Command, inv *status.Invisibility) {
	w := cmd.OutOrStdout()
	fmt.Fprintln(w)
	switch {
	case inv == nil:
		fmt.Fprintln(w, "invisibility: - (no LeaseSet published yet, or no leader's view)")
		return
	case inv.Error != "":
		fmt.Fprintf(w, "invisibility: error: %s\n", inv.Error)
		return
	}
	fmt.Fprintf(w, "invisibility: last %s, %d LeaseSets published; %s\n", spanText(inv.SpanMs), inv.Stores, atypicalText(inv))
	tw := newTable(cmd)
	fmt.Fprintln(tw, "FEATURE\tVALUE\tONE ROUTER (5%/50%/95%)\tUNIT\tVERDICT")
	for _, f := range inv.Features {
		fmt.Fprintf(tw, "%s\t%s\t%s / %s / %s\t%s\t%s\n", f.Name, valueText(f.Value),
			num(f.SingleRouter.Low), num(f.SingleRouter.Median), num(f.SingleRouter.High), f.Unit, f.Verdict)
	}
	tw.Flush()
}

// figureText is "value (low-high)", with a "!" after a value outside the
// range.
func figureText(inv *status.Invisibility, name string) string {
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
func atypicalText(inv *status.Invisibility) string {
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

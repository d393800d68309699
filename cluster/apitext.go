package cluster

import (
	"fmt"
	"io"
	"strings"

	"github.com/imh-project/imh/internal/status"
)

// The human forms of the API bodies: what the operator CLI prints without
// --json (docs/cli.md). They live beside the bodies so that a new field
// and its column change together.

// onOff spells a switch as the CLI takes it (--frontends on|off).
func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// WriteTable writes `imh dest show`: the destination's public facts as
// aligned "key: value" lines, its invisibility figures
// (status.WriteInvisibility), then its tunnels when it has any.
func (d *DestinationInfo) WriteTable(w io.Writer) error {
	tw := status.NewTable(w)
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
	if err := status.WriteInvisibility(w, d.Invisibility); err != nil || len(d.Tunnels) == 0 {
		return err
	}
	fmt.Fprintln(w)
	tw = status.NewTable(w)
	fmt.Fprintln(tw, "ROUTER\tDIRECTION\tTUNNEL\tGATEWAY\tHOPS\tEXPIRES")
	for _, t := range d.Tunnels {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\n", t.Router, t.Direction, t.ID, status.ShortHex(t.Gateway), len(t.Hops), t.Expires)
	}
	return tw.Flush()
}

// WriteSettings writes the one line `imh dest set` prints: the
// destination's settings after the change.
func (d *DestinationInfo) WriteSettings(w io.Writer) error {
	_, err := fmt.Fprintf(w, "destination %s: inbound %d, outbound %d, hops %d, policy %s, service %s, frontends %s\n",
		d.Name, d.Inbound, d.Outbound, d.Hops, d.Policy, d.Service, onOff(d.Frontends))
	return err
}

// WriteTable writes `imh dest list`: one row per destination.
func (l DestinationList) WriteTable(w io.Writer) error {
	tw := status.NewTable(w)
	fmt.Fprintln(tw, "NAME\tB32\tIN/OUT/HOPS\tPOLICY\tSERVICE\tLEASES\tPUBLISHED")
	for _, d := range l.Destinations {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d/%d\t%s\t%s\t%d\t%d\n", d.Name, d.B32, d.Inbound, d.Outbound, d.Hops, d.Policy, d.Service, d.Leases, d.Published)
	}
	return tw.Flush()
}

// WriteTable writes `imh frontend list`: one row per frontend.
func (l FrontendList) WriteTable(w io.Writer) error {
	tw := status.NewTable(w)
	fmt.Fprintln(tw, "NAME\tADDR\tROUTER")
	for _, f := range l.Frontends {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, f.Addr, f.Router)
	}
	return tw.Flush()
}

// WriteTable writes `imh cluster peers`: one row per raft server, "-" for
// an unknown last contact.
func (b PeersBody) WriteTable(w io.Writer) error {
	tw := status.NewTable(w)
	fmt.Fprintln(tw, "NAME\tRAFT ADDR\tSTATE\tVOTER\tLAST CONTACT\tCOMMIT INDEX")
	for _, p := range b.Peers {
		lc := "-"
		if p.LastContactMs >= 0 {
			lc = fmt.Sprintf("%dms", p.LastContactMs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%d\n", p.Name, p.RaftAddr, p.State, p.Voter, lc, p.CommitIndex)
	}
	return tw.Flush()
}

// Voters counts the voters among the peers.
func (b PeersBody) Voters() int {
	n := 0
	for _, p := range b.Peers {
		if p.Voter {
			n++
		}
	}
	return n
}

// WriteTable writes `imh cluster secret status`: the key the state is
// sealed under, then per agent the keys it holds, the one it seals under
// and its gossip members.
func (s SecretStatus) WriteTable(w io.Writer) error {
	key := s.KeyID
	if key == "" {
		key = "- (never rotated)"
	}
	fmt.Fprintf(w, "destinations sealed under key %s\n", key)
	tw := status.NewTable(w)
	fmt.Fprintln(tw, "NAME\tKEYS HELD\tSEALING KEY\tGOSSIP MEMBERS")
	for _, a := range s.Agents {
		held := strings.Join(a.KeyIDs, ",")
		if held == "" {
			held = "- (no answer)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", a.Name, held, a.SealingKey, a.GossipMembers)
	}
	return tw.Flush()
}

// WriteText writes what `imh cluster secret rotate` prints: what was
// re-sealed, the keys each agent holds, and the next step of the
// rotation when something changed.
func (r SecretRotateResult) WriteText(w io.Writer) error {
	if !r.Changed {
		fmt.Fprintf(w, "already sealed under key %s: nothing to do\n", r.KeyID)
	} else {
		fmt.Fprintf(w, "sealed under key %s (was %s): %d destinations re-sealed\n", r.KeyID, r.Previous, r.Resealed)
	}
	for _, a := range r.Agents {
		fmt.Fprintf(w, "  %s holds %s\n", a.Name, strings.Join(a.KeyIDs, ", "))
	}
	if r.Changed {
		_, err := fmt.Fprintln(w, "next: restart each agent, one at a time, with only the new --secret-file")
		return err
	}
	return nil
}

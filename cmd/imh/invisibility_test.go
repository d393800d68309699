package main

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/balancer"
	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/observe/observetest"
)

// invisLive is a leader's live view whose destination "web" has the
// invisibility figures the balancer computes from a synthetic router's
// published LeaseSets; every other destination has none yet.
type invisLive struct{ inv *status.Invisibility }

func (invisLive) Router(string) (status.RouterLive, bool) {
	return status.RouterLive{State: status.RouterUp}, true
}

func (invisLive) Frontend(string) (status.FrontendLive, bool) { return status.FrontendLive{}, false }

func (v invisLive) Destination(name string) (status.DestinationLive, bool) {
	if name != "web" {
		return status.DestinationLive{}, true
	}
	return status.DestinationLive{Invisibility: v.inv}, true
}

// TestStatusInvisibility: imh status prints the headline figures per
// destination (dashes for one without), imh dest show every feature, and
// both --json carry the figures as the leader computed them.
func TestStatusInvisibility(t *testing.T) {
	// 150 minutes of a router with 40 gateway peers and 12 tunnels:
	// gateway_set well above a stock router's slice.
	hist, err := observetest.Synth{Seed: 3, Pool: 40, Tunnels: 12, Hours: 2.5}.History()
	if err != nil {
		t.Fatal(err)
	}
	last := time.UnixMilli(hist.Stores[len(hist.Stores)-1].AtMillis)
	inv := balancer.Invisibility(hist.Stores, last, 12)
	if inv.Error != "" || inv.SpanMs != time.Hour.Milliseconds() {
		t.Fatalf("figures %+v", inv)
	}

	h, run := oneAgentCLI(t)
	run(t, "dest", "create", "web")
	run(t, "dest", "create", "api")
	if out := run(t, "status"); strings.Contains(out, "INVISIBILITY") {
		t.Fatalf("an INVISIBILITY section without a live view:\n%s", out)
	}
	h.Nodes[0].Cluster().SetLiveView(invisLive{inv: inv})

	out := run(t, "status")
	var web, api string
	for _, l := range strings.Split(out[strings.Index(out, "INVISIBILITY"):], "\n") {
		switch f := strings.Fields(l); {
		case len(f) > 0 && f[0] == "web":
			web = strings.Join(f, " ")
		case len(f) > 0 && f[0] == "api":
			api = strings.Join(f, " ")
		}
	}
	gs := figure(t, inv, "gateway_set")
	wantWeb := "web 1h0m0s " + itoa(inv.Stores) + " " + twoDecimals(*gs.Value) + "! (15-20)"
	if !strings.HasPrefix(web, wantWeb) || !strings.Contains(web, "(12)") || !strings.Contains(web, "gateway_set") {
		t.Fatalf("web's line %q, want it to start %q, the lease goal (12) and gateway_set atypical\n%s", web, wantWeb, out)
	}
	if api != "api - - - - - - -" {
		t.Fatalf("api's line %q: a destination without figures gets dashes\n%s", api, out)
	}

	var st status.Status
	if err := json.Unmarshal([]byte(run(t, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Destinations {
		switch {
		case d.Name == "web" && !reflect.DeepEqual(d.Invisibility, inv):
			t.Fatalf("status --json web invisibility %+v, want %+v", d.Invisibility, inv)
		case d.Name == "api" && d.Invisibility != nil:
			t.Fatalf("status --json api invisibility %+v, want null", d.Invisibility)
		}
	}
	if raw := run(t, "status", "--json"); !strings.Contains(raw, `"single_router"`) || !strings.Contains(raw, `"invisibility": null`) {
		t.Fatalf("status --json lacks single_router or a null invisibility:\n%s", raw)
	}

	show := run(t, "dest", "show", "web")
	rows := 0
	for _, l := range strings.Split(show, "\n") {
		if f := strings.Fields(l); len(f) > 0 && (f[len(f)-1] == "typical" || f[len(f)-1] == "atypical" || f[len(f)-1] == "unknown") {
			rows++
		}
	}
	if !strings.Contains(show, "FEATURE") || rows != len(inv.Features) {
		t.Fatalf("dest show: %d feature rows, want %d:\n%s", rows, len(inv.Features), show)
	}
	var info cluster.DestinationInfo
	if err := json.Unmarshal([]byte(run(t, "dest", "show", "web", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(info.Invisibility, inv) {
		t.Fatalf("dest show --json invisibility %+v", info.Invisibility)
	}
	if show := run(t, "dest", "show", "api"); !strings.Contains(show, "invisibility: -") {
		t.Fatalf("dest show of a destination without figures:\n%s", show)
	}
}

func figure(t *testing.T, inv *status.Invisibility, name string) status.InvisibilityFigure {
	t.Helper()
	for _, f := range inv.Features {
		if f.Name == name && f.Value != nil {
			return f
		}
	}
	t.Fatalf("no value of %s in %+v", name, inv)
	return status.InvisibilityFigure{}
}

func itoa(n int) string { return strconv.Itoa(n) }

// twoDecimals is a figure as the tables print it: two decimals at most.
func twoDecimals(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

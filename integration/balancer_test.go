//go:build integration

package integration

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/status"
)

// balancerSendResult is `imh simnet send --json` (CLI.md).
type balancerSendResult struct {
	Delivered int            `json:"delivered"`
	Failed    int            `json:"failed"`
	Reasons   map[string]int `json:"reasons"`
	ByRouter  map[string]int `json:"by_router"`
}

// balancerIMH runs a client command, retrying for up to 30 s while the
// cluster has no leader (elections right after bootstrap), and fails the
// test on any other error.
func balancerIMH(t *testing.T, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, stderr, code := runIMH(t, args...)
		if code == 0 {
			return out
		}
		if !strings.Contains(stderr, "no leader") || time.Now().After(deadline) {
			t.Fatalf("imh %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// storedLeaseSet returns the newest LeaseSet the simulated floodfills
// stored for b32, or nil.
func balancerStoredLeaseSet(t *testing.T, n *routerNet, b32 string) *i2p.LeaseSet2 {
	t.Helper()
	var st routerSimnetStatus
	if err := httpGetJSON("http://"+n.simHTTP+"/status", &st); err != nil {
		return nil
	}
	h := st.Destinations[b32].History
	if len(h) == 0 {
		return nil
	}
	raw, err := i2p.Base64.DecodeString(h[len(h)-1].LeaseSet)
	if err != nil {
		t.Fatalf("stored leaseset base64: %v", err)
	}
	ls, err := i2p.ParseLeaseSet2(raw)
	if err != nil {
		t.Fatalf("stored leaseset: %v", err)
	}
	return ls
}

// TestBalancerProcesses is issue 8's process test: `imh simnet serve`, 4
// `imh router serve` and 3 agents. The LeaseSet stored in the simulated
// floodfills has 12 leases, 3 per router, verifies, and every gateway in it
// is the first hop of a live tunnel (router /status) and lies in the
// destination's gateway_set (imh status --json); one-way traffic from
// remote clients is all delivered, split across all 4 routers.
func TestBalancerProcesses(t *testing.T) {
	n := startRouterNet(t, 5*time.Minute, "r1", "r2", "r3", "r4")
	tc := startTestCluster(t, 3)
	leader := tc.waitLeader(30 * time.Second)
	api := "--http-addr=" + leader.httpAddr
	for _, r := range n.routers {
		balancerIMH(t, "router", "add", r.name, "--addr", r.addr, api)
	}
	var dest struct {
		B32 string `json:"b32"`
	}
	if err := json.Unmarshal([]byte(balancerIMH(t, "dest", "create", "web", "--json", api)), &dest); err != nil {
		t.Fatal(err)
	}
	start := time.Now()

	// The goal is seconds; the bound is generous for 2 noisy cores.
	var ls *i2p.LeaseSet2
	waitFor(t, 90*time.Second, "a 12-lease LeaseSet at the floodfills", func() bool {
		ls = balancerStoredLeaseSet(t, n, dest.B32)
		return ls != nil && len(ls.Leases) == 12
	})
	t.Logf("12-lease LeaseSet stored %.1fs after dest create", time.Since(start).Seconds())
	if err := ls.Verify(); err != nil {
		t.Fatalf("stored leaseset does not verify: %v", err)
	}
	if ls.Destination.B32() != dest.B32 {
		t.Fatalf("stored leaseset is for %s", ls.Destination.B32())
	}

	var st status.Status
	if err := json.Unmarshal([]byte(balancerIMH(t, "status", "--json", api)), &st); err != nil {
		t.Fatal(err)
	}
	var ds *status.Destination
	for i := range st.Destinations {
		if st.Destinations[i].Name == "web" {
			ds = &st.Destinations[i]
		}
	}
	if ds == nil || !ds.GatewayPolicyEnforced || len(ds.GatewaySet) == 0 {
		t.Fatalf("status of web: %+v", ds)
	}
	for _, r := range st.Routers {
		if r.State != status.RouterUp || !slices.Contains(r.Capabilities, "explicit-hops") {
			t.Fatalf("router %+v", r)
		}
	}

	// Every lease is the first hop of a live inbound tunnel of exactly one
	// router, and its gateway is in the gateway set.
	owner := map[string]string{}
	for _, r := range n.routers {
		rs := r.status(t)
		for _, tu := range rs.Tunnels {
			if tu.Direction == "inbound" && len(tu.Hops) > 0 && tu.Hops[0] == tu.Gateway && tu.Expires > time.Now().Unix() {
				owner[tu.Gateway+"/"+strconv.FormatUint(uint64(tu.ID), 10)] = r.name
			}
		}
	}
	by := map[string]int{}
	for _, l := range ls.Leases {
		r, ok := owner[l.Gateway.String()+"/"+strconv.FormatUint(uint64(l.TunnelID), 10)]
		if !ok {
			t.Fatalf("lease %s/%d is not the first hop of a live inbound tunnel of any router", l.Gateway, l.TunnelID)
		}
		by[r]++
		if !slices.Contains(ds.GatewaySet, l.Gateway.String()) {
			t.Fatalf("gateway %s is not in the gateway set", l.Gateway)
		}
	}
	if len(by) != 4 || by["r1"] != 3 || by["r2"] != 3 || by["r3"] != 3 || by["r4"] != 3 {
		t.Fatalf("leases by router %v", by)
	}

	// One-way traffic: 40 clients x 10 messages, all delivered, on all routers.
	out := imhOK(t, "simnet", "send", "--network", "simnet://"+n.simAddr, "--dest", dest.B32,
		"--clients", "40", "--count", "10", "--mode", "oneway", "--json")
	var res balancerSendResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("send output %q: %v", out, err)
	}
	if res.Delivered != 400 || res.Failed != 0 || len(res.ByRouter) != 4 {
		t.Fatalf("one-way send: %+v", res)
	}
	t.Logf("one-way: %v", res.ByRouter)
	waitFor(t, 20*time.Second, "payloads counted per router in imh status", func() bool {
		var st status.Status
		if err := httpGetJSON("http://"+leader.httpAddr+"/v1/status", &st); err != nil {
			return false
		}
		for _, d := range st.Destinations {
			if d.Name == "web" {
				total := 0
				for _, c := range d.PayloadsByRouter {
					total += c
				}
				return total == 400 && len(d.PayloadsByRouter) == 4
			}
		}
		return false
	})
}

//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
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
func balancerIMH(t testing.TB, args ...string) string {
	t.Helper()
	var out, stderr string
	var code int
	eventually.Within(30*time.Second, func() bool {
		out, stderr, code = runIMH(t, args...)
		return code == 0 || !strings.Contains(stderr, "no leader")
	})
	if code != 0 {
		t.Fatalf("imh %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// storedLeaseSet returns the newest LeaseSet the simulated floodfills
// stored for b32, or nil.
func balancerStoredLeaseSet(t testing.TB, n *routerNet, b32 string) *i2p.LeaseSet2 {
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

// balancerEnv is issue 8's setup: `imh simnet serve`, 4 `imh router
// serve`, 3 agents, the routers added and destination web created.
type balancerEnv struct {
	n   *routerNet
	tc  *testCluster
	b32 string
}

func startBalancerEnv(t *testing.T, destFlags ...string) *balancerEnv {
	t.Helper()
	return startBalancerEnvN(t, []string{"r1", "r2", "r3", "r4"}, destFlags...)
}

func startBalancerEnvN(t testing.TB, routers []string, destFlags ...string) *balancerEnv {
	t.Helper()
	var n *routerNet
	if len(routers) <= 4 {
		n = startRouterNet(t, 5*time.Minute, routers...)
	} else {
		n = startManyRouters(t, routers)
	}
	tc := startTestCluster(t, 3)
	leader := tc.waitLeader(30 * time.Second)
	api := "--http-addr=" + leader.httpAddr
	for _, r := range n.routers {
		balancerIMH(t, "router", "add", r.name, "--addr", r.addr, api)
	}
	var dest struct {
		B32 string `json:"b32"`
	}
	args := append([]string{"dest", "create", "web", "--json", api}, destFlags...)
	if err := json.Unmarshal([]byte(balancerIMH(t, args...)), &dest); err != nil {
		t.Fatal(err)
	}
	return &balancerEnv{n: n, tc: tc, b32: dest.B32}
}

// leaseOwners maps "gateway/tunnel" of every live inbound tunnel whose
// first hop is its gateway to the router holding it (router /status).
func (e *balancerEnv) leaseOwners(t testing.TB) map[string]string {
	t.Helper()
	owner := map[string]string{}
	for _, r := range e.n.routers {
		if r.p.Exited() {
			continue
		}
		var rs routerStatus
		if err := httpGetJSON("http://"+r.http+"/status", &rs); err != nil {
			continue
		}
		for _, tu := range rs.Tunnels {
			if tu.Direction == "inbound" && len(tu.Hops) > 0 && tu.Hops[0] == tu.Gateway && tu.Expires > time.Now().Unix() {
				owner[tu.Gateway+"/"+strconv.FormatUint(uint64(tu.ID), 10)] = r.name
			}
		}
	}
	return owner
}

// byRouter counts the leases of ls per router ("?" for none known).
func (e *balancerEnv) byRouter(t testing.TB, ls *i2p.LeaseSet2) map[string]int {
	owner := e.leaseOwners(t)
	by := map[string]int{}
	for _, l := range ls.Leases {
		r, ok := owner[l.Gateway.String()+"/"+strconv.FormatUint(uint64(l.TunnelID), 10)]
		if !ok {
			r = "?"
		}
		by[r]++
	}
	return by
}

// TestBalancerProcesses is issue 8's process test: `imh simnet serve`, 4
// `imh router serve` and 3 agents. The LeaseSet stored in the simulated
// floodfills has 12 leases, 3 per router, verifies, and every gateway in it
// is the first hop of a live tunnel (router /status) and lies in the
// destination's gateway_set (imh status --json); one-way traffic from
// remote clients is all delivered, split across all 4 routers.
func TestBalancerProcesses(t *testing.T) {
	clusterPool.join(t)
	e := startBalancerEnv(t)
	n, dest := e.n, struct{ B32 string }{e.b32}
	leader := e.tc.waitLeader(30 * time.Second)
	api := "--http-addr=" + leader.httpAddr
	start := time.Now()

	// The goal is seconds; the bound is generous for 2 noisy cores.
	var ls *i2p.LeaseSet2
	eventually.True(t, 90*time.Second, "a 12-lease LeaseSet at the floodfills", func() bool {
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
	eventually.True(t, 20*time.Second, "payloads counted per router in imh status", func() bool {
		st, err := leader.api().Status(t.Context())
		if err != nil {
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

// waitStoredLeases waits until the floodfills hold a LeaseSet whose leases
// satisfy ok (by router), and returns it.
func (e *balancerEnv) waitStoredLeases(t testing.TB, within time.Duration, what string, ok func(ls *i2p.LeaseSet2, by map[string]int) bool) *i2p.LeaseSet2 {
	t.Helper()
	var ls *i2p.LeaseSet2
	eventually.True(t, within, what, func() bool {
		ls = balancerStoredLeaseSet(t, e.n, e.b32)
		return ls != nil && ok(ls, e.byRouter(t, ls))
	})
	return ls
}

func (e *balancerEnv) router(name string) *routerProc {
	for _, r := range e.n.routers {
		if r.name == name {
			return r
		}
	}
	return nil
}

// TestBalancerRouterKill (issue 9): SIGKILL a router; its leases leave the
// stored LeaseSet (goal 5 s, bound 25 s), the other routers cover its share
// so the count recovers to 12, and it rejoins when restarted.
func TestBalancerRouterKill(t *testing.T) {
	clusterPool.join(t)
	e := startBalancerEnv(t)
	e.waitStoredLeases(t, 90*time.Second, "12 leases, 3 per router", func(ls *i2p.LeaseSet2, by map[string]int) bool {
		return len(ls.Leases) == 12 && by["r1"] == 3 && by["r2"] == 3 && by["r3"] == 3 && by["r4"] == 3
	})
	r3 := e.router("r3")
	owner := e.leaseOwners(t) // before the kill: r3's tunnels vanish with it
	r3.p.Kill()
	killed := time.Now()
	eventually.True(t, 25*time.Second, "r3's leases leave the stored LeaseSet", func() bool {
		ls := balancerStoredLeaseSet(t, e.n, e.b32)
		for _, l := range ls.Leases {
			if owner[l.Gateway.String()+"/"+strconv.FormatUint(uint64(l.TunnelID), 10)] == "r3" {
				return false
			}
		}
		return true
	})
	t.Logf("dead router's leases left the stored LeaseSet %.2fs after SIGKILL", time.Since(killed).Seconds())
	e.waitStoredLeases(t, 60*time.Second, "12 leases on the 3 live routers", func(ls *i2p.LeaseSet2, by map[string]int) bool {
		return len(ls.Leases) == 12 && by["r3"] == 0 && by["?"] == 0
	})
	t.Logf("lease count back to 12 %.2fs after SIGKILL", time.Since(killed).Seconds())

	r3.p = startIMH(t, "router-r3-again", r3.p.Cmd.Args[1:]...)
	restarted := time.Now()
	e.waitStoredLeases(t, 90*time.Second, "r3 back in the LeaseSet", func(ls *i2p.LeaseSet2, by map[string]int) bool {
		return by["r3"] == 3 && len(ls.Leases) >= 12
	})
	t.Logf("restarted router back in the LeaseSet %.2fs after restart", time.Since(restarted).Seconds())
}

// routerBuilds sums the build counters of the live routers.
func (e *balancerEnv) routerBuilds(t *testing.T) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, r := range e.n.routers {
		st := r.status(t)
		out[r.name] = st.Builds.OK + st.Builds.Failed
	}
	return out
}

// controlledBy reports whether every router's session of the destination
// is controlled (attached) with the given term.
func (e *balancerEnv) controlledBy(t *testing.T, term uint64) bool {
	for _, r := range e.n.routers {
		var st routerStatus
		if err := httpGetJSON("http://"+r.http+"/status", &st); err != nil || len(st.Sessions) != 1 {
			return false
		}
		if s := st.Sessions[0]; s.Term != term || !s.ControlAttached {
			return false
		}
	}
	return true
}

// neverBelowTerm watches every router's session for d and fails the test
// if one goes back to a term below term (after what: "the old leader
// resumed"). A watch, not a wait: nothing must happen for the whole time.
func (e *balancerEnv) neverBelowTerm(t *testing.T, term uint64, d time.Duration, what string) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, r := range e.n.routers {
			var rs routerStatus
			if httpGetJSON("http://"+r.http+"/status", &rs) != nil || len(rs.Sessions) != 1 {
				continue
			}
			if s := rs.Sessions[0]; s.Term < term {
				t.Fatalf("router %s: session back at term %d after %s (term %d)", r.name, s.Term, what, term)
			}
		}
	}
}

// TestBalancerLeaderKills (issue 9): ten leader SIGKILLs, each followed by
// restarting the killed agent on its data dir and waiting until it caught
// up. Each time the new leader controls every router's session within 5 s,
// no router builds a tunnel because of the failover, one-way traffic running
// across all kills is >= 95% delivered, and `published` never goes back.
func TestBalancerLeaderKills(t *testing.T) {
	clusterPool.join(t)
	e := startBalancerEnv(t)
	e.waitStoredLeases(t, 90*time.Second, "12 leases, 3 per router", func(ls *i2p.LeaseSet2, by map[string]int) bool {
		return len(ls.Leases) == 12 && by["r1"] == 3 && by["r2"] == 3 && by["r3"] == 3 && by["r4"] == 3
	})
	// Let the initial builds settle: 3 inbound and 2 outbound everywhere
	// (more where a slow build was doubled).
	eventually.True(t, 60*time.Second, "3 inbound and 2 outbound tunnels on every router", func() bool {
		for _, r := range e.n.routers {
			in, out := 0, 0
			for _, tu := range r.status(t).Tunnels {
				if tu.Direction == "inbound" {
					in++
				} else {
					out++
				}
			}
			if in < 3 || out < 2 {
				return false
			}
		}
		return true
	})
	// Builds in flight end (a dropped one fails at the 10 s build timeout):
	// the counters must stand still for 12 s before the first kill.
	var quiet time.Time
	var last map[string]uint64
	eventually.True(t, 90*time.Second, "no tunnel build for 12 s", func() bool {
		b := e.routerBuilds(t)
		if fmt.Sprint(b) != fmt.Sprint(last) {
			last, quiet = b, time.Now()
		}
		time.Sleep(500 * time.Millisecond) // pacing: a sample every 0.5 s measures the quiet period
		return time.Since(quiet) >= 12*time.Second
	})
	sender := startIMH(t, "send", "simnet", "send", "--network", "simnet://"+e.n.simAddr, "--dest", e.b32,
		"--clients", "4", "--count", "300", "--interval", "200ms", "--mode", "oneway", "--json")

	var resumes []time.Duration
	var lastPublished uint32
	for i := range 10 {
		leader := e.tc.waitLeader(30 * time.Second)
		st, err := leader.status()
		if err != nil {
			t.Fatal(err)
		}
		builds := e.routerBuilds(t)
		leader.proc.Kill()
		killed := time.Now()
		var next *clusterAgent
		var term uint64
		eventually.True(t, 25*time.Second, "a new leader controlling every router", func() bool {
			next = e.tc.leader()
			if next == nil || next == leader {
				return false
			}
			s, err := next.status()
			if err != nil || s.Term <= st.Term {
				return false
			}
			term = s.Term
			return e.controlledBy(t, term)
		})
		resume := time.Since(killed)
		resumes = append(resumes, resume)
		t.Logf("kill %d: %s -> %s (term %d -> %d), control resumed after %s", i+1, leader.name, next.name, st.Term, term, resume.Round(time.Millisecond))
		if resume > 5*time.Second {
			t.Errorf("kill %d: control resumed after %s (> 5 s)", i+1, resume)
		}
		if after := e.routerBuilds(t); fmt.Sprint(after) != fmt.Sprint(builds) {
			t.Errorf("kill %d: routers built tunnels across the failover: %v -> %v", i+1, builds, after)
		}
		e.tc.start(leader)
		eventually.True(t, 30*time.Second, leader.name+" caught up", func() bool {
			s, err := leader.status()
			if err != nil || s.Leader != next.name {
				return false
			}
			ns, err := next.status()
			if err != nil {
				return false
			}
			return len(s.Destinations) == 1 && len(ns.Destinations) == 1 && s.Destinations[0].Published == ns.Destinations[0].Published
		})
		ns, _ := next.status()
		if p := ns.Destinations[0].Published; p < lastPublished {
			t.Errorf("kill %d: published went back from %d to %d", i+1, lastPublished, p)
		} else {
			lastPublished = p
		}
	}
	slices.Sort(resumes)
	t.Logf("control resume after leader SIGKILL: median %s, max %s", resumes[len(resumes)/2].Round(time.Millisecond), resumes[len(resumes)-1].Round(time.Millisecond))

	// Every LeaseSet the floodfills stored is newer than the one before.
	checkStoredHistory(t, e.n, e.b32)

	if err := sender.Wait(3 * time.Minute); err != nil {
		t.Fatalf("send: %v\n%s", err, sender.LogTail(20))
	}
	var res balancerSendResult
	lines := strings.Split(strings.TrimSpace(sender.Log()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("send output: %v\n%s", err, sender.LogTail(5))
	}
	share := float64(res.Delivered) / float64(res.Delivered+res.Failed)
	t.Logf("one-way across the kills: %d delivered, %d failed (%.1f%%), %v", res.Delivered, res.Failed, 100*share, res.Reasons)
	if share < 0.95 {
		t.Errorf("only %.1f%% delivered across the failovers", 100*share)
	}
}

// TestBalancerPartitionedLeader (issue 9): a leader frozen with SIGSTOP
// loses control: the new leader attaches to every router with its higher
// term. While the old one is still frozen the test does, on every router,
// what the deposed leader would do if it kept going: it re-attaches with
// the destination's keys (it imported the key file itself) and the OLD
// term. Each router must refuse (SessionStatus refused, then Disconnect
// "imh: stale term"), count it in stale_refused and keep the session on
// the new term with the new leader attached. Then the old leader runs again
// (SIGCONT): no router's session ever goes back to the old term and the
// resumed agent no longer leads. Any attempt the real old leader makes
// after resuming would also be refused and counted; the test logs that
// count (stale_refused beyond the test's own attempts), which is usually
// 0 because raft makes the resumed agent step down before its balancer
// loop re-dials (a router closes a superseded connection at once, so no
// command of the old term can still arrive on it).
func TestBalancerPartitionedLeader(t *testing.T) {
	clusterPool.join(t)
	e, keys := startBalancerEnvKeys(t)
	e.waitStoredLeases(t, 90*time.Second, "12 leases, 3 per router", func(ls *i2p.LeaseSet2, by map[string]int) bool {
		return len(ls.Leases) == 12 && by["r1"] == 3 && by["r2"] == 3 && by["r3"] == 3 && by["r4"] == 3
	})
	old := e.tc.waitLeader(30 * time.Second)
	st, err := old.status()
	if err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 30*time.Second, "the old leader controlling every router", func() bool { return e.controlledBy(t, st.Term) })
	before := e.staleRefused(t)
	if err := old.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = old.proc.Signal(syscall.SIGCONT)
		}
	})
	var term uint64
	eventually.True(t, 30*time.Second, "a new leader controlling every router", func() bool {
		for _, a := range e.tc.agents {
			if a == old {
				continue
			}
			s, err := a.status()
			if err == nil && s.Leader != "" && s.Leader != old.name && s.Term > st.Term && e.controlledBy(t, s.Term) {
				term = s.Term
				return true
			}
		}
		return false
	})
	t.Logf("new leader in control (term %d -> %d) %.2fs after SIGSTOP", st.Term, term, time.Since(stopped).Seconds())

	for _, r := range e.n.routers {
		attachStale(t, r, keys, st.Term)
	}
	after := e.staleRefused(t)
	for _, r := range e.n.routers {
		if got := after[r.name] - before[r.name]; got != 1 {
			t.Errorf("router %s: stale_refused went %d -> %d after one stale-term attach, want +1", r.name, before[r.name], after[r.name])
		}
	}
	if !e.controlledBy(t, term) {
		t.Fatalf("after the stale-term attempts the routers are no longer all controlled with term %d", term)
	}
	t.Logf("every router refused a re-attach with the old term %d and kept term %d", st.Term, term)

	if err := old.proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	e.neverBelowTerm(t, term, 10*time.Second, "the old leader resumed")
	if !e.controlledBy(t, term) {
		t.Fatalf("after the old leader resumed the routers are no longer all controlled with term %d", term)
	}
	if s, err := old.status(); err != nil || s.Leader == old.name {
		t.Fatalf("the resumed agent still leads (or answers nothing): %+v %v", s.Leader, err)
	}
	var byOld uint64
	for name, n := range e.staleRefused(t) {
		byOld += n - after[name]
	}
	t.Logf("old leader resumed and stepped down; stale-term attempts it made that the routers refused: %d", byOld)
}

// startBalancerEnvKeys is startBalancerEnv with the destination's key file
// made by `imh dest new` and imported, so the test holds its keys.
func startBalancerEnvKeys(t *testing.T) (*balancerEnv, *i2p.PrivateKeys) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "web.dat")
	b32 := strings.TrimSpace(balancerIMH(t, "dest", "new", "--out", keyFile))
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := i2p.ParsePrivateKeys(raw)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	n := startRouterNet(t, 5*time.Minute, "r1", "r2", "r3", "r4")
	tc := startTestCluster(t, 3)
	api := "--http-addr=" + tc.waitLeader(30*time.Second).httpAddr
	for _, r := range n.routers {
		balancerIMH(t, "router", "add", r.name, "--addr", r.addr, api)
	}
	balancerIMH(t, "dest", "import", "web", keyFile, api)
	return &balancerEnv{n: n, tc: tc, b32: b32}, keys
}

// staleRefused returns each router's stale_refused for the destination's
// session.
func (e *balancerEnv) staleRefused(t *testing.T) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, r := range e.n.routers {
		rs := r.status(t)
		if len(rs.Sessions) != 1 {
			t.Fatalf("router %s: %d sessions, want 1", r.name, len(rs.Sessions))
		}
		out[r.name] = rs.Sessions[0].StaleRefused
	}
	return out
}

// attachStale re-attaches to r's managed session of keys' destination the
// way a deposed leader would (imh.managed=true, imh.term=term, signed by the
// destination key) and checks that the router refuses it: SessionStatus
// refused, then Disconnect "imh: stale term" and the connection closed.
func attachStale(t *testing.T, r *routerProc, keys *i2p.PrivateKeys, term uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := routerproto.Dial(ctx, r.addr, routerDialConfig(t, r.name))
	if err != nil {
		t.Fatalf("router %s: dial: %v", r.name, err)
	}
	defer c.Close()
	opts := bound(c, i2p.Mapping{routerproto.OptManaged: "true", routerproto.OptTerm: strconv.FormatUint(term, 10)})
	sc, err := routerproto.SignSessionConfig(keys, opts, uint64(c.RouterNow().UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateSession(ctx, sc)
	var se *routerproto.SessionStatusError
	if !errors.As(err, &se) || se.Status != routerproto.SessionRefused {
		t.Fatalf("router %s: re-attach with stale term %d: %v, want SessionStatus refused", r.name, term, err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatalf("router %s: connection still open after the stale-term refusal", r.name)
	}
	var de *routerproto.DisconnectError
	if err := c.Err(); !errors.As(err, &de) || de.Local || de.Reason != "imh: stale term" {
		t.Fatalf("router %s: connection ended with %v, want the router's Disconnect \"imh: stale term\"", r.name, err)
	}
}

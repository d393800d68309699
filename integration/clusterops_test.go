//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
)

// Cluster operations (issue 7), each on its own cluster of real agents
// started by startOpsCluster (startTestCluster's sibling). The tests run in
// parallel; timings they measure are logged with t.Logf.

// opsAddr hands out a loopback address whose port comes from reservePort
// (below the ephemeral range, free for TCP and UDP, never handed out twice in
// this process).
func opsAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", reservePort(t))
}

// startOpsCluster is startTestCluster with every agent configured by flags
// and ports from opsAddr (the tests here run in parallel and restart agents
// on the same ports).
func startOpsCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	return startClusterWith(t, n, func() string { return opsAddr(t) }, false)
}

// flagValue returns the value of an agent flag, from its arguments or, for
// the agent configured by a YAML file, from that file.
func (a *clusterAgent) flagValue(t *testing.T, name string) string {
	t.Helper()
	for i := 0; i+1 < len(a.args); i++ {
		if a.args[i] == "--"+name {
			return a.args[i+1]
		}
	}
	if i := slices.Index(a.args, "--config"); i >= 0 {
		b, err := os.ReadFile(a.args[i+1])
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, name+": "); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	t.Fatalf("%s: no --%s", a.name, name)
	return ""
}

// setFlag replaces the value of a flag given on the command line.
func (a *clusterAgent) setFlag(t *testing.T, name, value string) {
	t.Helper()
	i := slices.Index(a.args, "--"+name)
	if i < 0 {
		t.Fatalf("%s: --%s is not a command-line flag", a.name, name)
	}
	a.args[i+1] = value
}

// addAgent starts one more agent as operations.md's "Add a node" does: a
// fresh data dir, its own addresses, --join naming one gossip address and
// no --bootstrap-expect; extra are more flags.
func (tc *testCluster) addAgent(name, join string, extra ...string) *clusterAgent {
	tc.t.Helper()
	a := &clusterAgent{name: name, dataDir: filepath.Join(tc.t.TempDir(), "data-"+name), httpAddr: opsAddr(tc.t)}
	a.args = append([]string{"agent", "--node-name", name, "--data-dir", a.dataDir,
		"--raft-bind", opsAddr(tc.t), "--gossip-bind", opsAddr(tc.t), "--http-bind", a.httpAddr,
		"--secret-file", tc.secretFile, "--log-level", "debug", "--join", join}, extra...)
	tc.start(a)
	return a
}

// promote makes each named agent a voter with imh cluster promote through
// via's API, once via's configuration lists it (agents joining a running
// cluster are non-voters until then).
func (tc *testCluster) promote(via *clusterAgent, agents ...string) {
	tc.t.Helper()
	for _, name := range agents {
		eventually.True(tc.t, 20*time.Second, name+" in "+via.name+"'s configuration", func() bool {
			return slices.ContainsFunc(peersOf(tc.t, via).Peers, func(p cluster.PeerInfo) bool { return p.Name == name })
		})
		imhOK(tc.t, "cluster", "promote", name, "--http-addr", via.httpAddr)
	}
}

func (tc *testCluster) agent(name string) *clusterAgent {
	for _, a := range tc.agents {
		if a.name == name {
			return a
		}
	}
	tc.t.Fatalf("no agent %s", name)
	return nil
}

func peersOf(t testing.TB, a *clusterAgent) cluster.PeersBody {
	t.Helper()
	var body cluster.PeersBody
	out := imhOK(t, "cluster", "peers", "--json", "--http-addr", a.httpAddr)
	if err := json.Unmarshal([]byte(out), &body); err != nil {
		t.Fatalf("cluster peers --json: %v: %s", err, out)
	}
	return body
}

// voters returns the names of the voters a's configuration lists.
func voters(t testing.TB, a *clusterAgent) []string {
	var names []string
	for _, p := range peersOf(t, a).Peers {
		if p.Voter {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	return names
}

func (tc *testCluster) waitVoters(a *clusterAgent, want []string, timeout time.Duration) {
	tc.t.Helper()
	want = slices.Sorted(slices.Values(want))
	eventually.True(tc.t, timeout, fmt.Sprintf("voters %v seen by %s", want, a.name), func() bool {
		return slices.Equal(voters(tc.t, a), want)
	})
}

func names(agents []*clusterAgent) []string {
	var out []string
	for _, a := range agents {
		out = append(out, a.name)
	}
	return out
}

func (tc *testCluster) waitRouter(a *clusterAgent, router string, timeout time.Duration) {
	tc.t.Helper()
	eventually.True(tc.t, timeout, a.name+" has router "+router, func() bool {
		return slices.Contains(routerNames(tc.t, a), router)
	})
}

// TestClusterOpsPeers: imh cluster peers lists every server with its
// state, voter flag, last contact and commit index, in JSON and as a table.
func TestClusterOpsPeers(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	imhWrite(t, "router", "add", "r1", "--addr", "127.0.0.1:9001", "--http-addr", l.httpAddr)
	f := tc.follower()
	tc.waitRouter(f, "r1", 10*time.Second)

	out := imhOK(t, "cluster", "peers", "--json", "--http-addr", f.httpAddr)
	var raw struct {
		Peers []map[string]any `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw.Peers) != 3 {
		t.Fatalf("peers --json: %v: %s", err, out)
	}
	for _, p := range raw.Peers {
		for _, k := range []string{"name", "raft_addr", "state", "voter", "last_contact_ms", "commit_index"} {
			if _, ok := p[k]; !ok {
				t.Errorf("peer %v: no key %q", p, k)
			}
		}
		if len(p) != 6 {
			t.Errorf("peer %v: want exactly the 6 keys of CLI.md", p)
		}
	}
	tc.waitLeader(20 * time.Second) // leadership may have moved under load
	f = tc.follower()
	body := peersOf(t, f)
	leaders := 0
	for _, p := range body.Peers {
		a := tc.agent(p.Name)
		if p.RaftAddr != a.flagValue(t, "raft-bind") || !p.Voter || p.CommitIndex == 0 {
			t.Errorf("peer %+v: want raft addr %s, a voter, commit index > 0", p, a.flagValue(t, "raft-bind"))
		}
		switch p.State {
		case "leader":
			leaders++
			if p.LastContactMs != 0 {
				t.Errorf("leader entry %+v, want last contact 0", p)
			}
		case "follower":
			if p.LastContactMs < 0 || p.LastContactMs > 5000 {
				t.Errorf("follower %+v: last contact %d ms", p, p.LastContactMs)
			}
		default:
			t.Errorf("peer %+v: state %q", p, p.State)
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders in %+v", leaders, body)
	}
	table := imhOK(t, "cluster", "peers", "--http-addr", f.httpAddr)
	if !strings.HasPrefix(table, "NAME") || !strings.Contains(table, "COMMIT INDEX") || strings.Count(table, "\n") != 4 {
		t.Errorf("peers table:\n%s", table)
	}
	// One agent down: its entry stays, as "left".
	f.proc.Kill()
	var live *clusterAgent
	for _, a := range tc.agents {
		if a != f {
			live = a
		}
	}
	eventually.True(t, 20*time.Second, "the killed agent listed as left", func() bool {
		for _, p := range peersOf(t, live).Peers {
			if p.Name == f.name {
				return p.State == "left" && p.LastContactMs == -1 && p.Voter
			}
		}
		return false
	})
}

// TestClusterOpsRemoveRejoin: remove a running follower, check it stays
// out, bring it back with one `imh cluster join` (its stale raft state is
// moved aside, logged); remove it again, stop it, and restart it with
// --join: it rejoins fresh by itself.
func TestClusterOpsRemoveRejoin(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	imhWrite(t, "router", "add", "r1", "--addr", "127.0.0.1:9001", "--http-addr", l.httpAddr)
	n := tc.follower()
	others := slices.DeleteFunc(slices.Clone(tc.agents), func(a *clusterAgent) bool { return a == n })

	out := imhOK(t, "cluster", "remove", n.name, "--http-addr", tc.follower().httpAddr)
	if !strings.Contains(out, "removed "+n.name) || !strings.Contains(out, "was told") {
		t.Errorf("cluster remove: %q", out)
	}
	tc.waitVoters(l, names(others), 10*time.Second)
	agentClient := agentHTTPClient(t) // /v1/internal/* is for agents only
	eventually.True(t, 10*time.Second, n.name+" knows it was removed", func() bool {
		var p cluster.PeerInfo
		return httpGetJSONWith(agentClient, agentURL(n.httpAddr, "/v1/internal/self"), &p) == nil && p.State == "removed"
	})
	if !strings.Contains(n.proc.Log(), "this agent was removed from the cluster") {
		t.Errorf("%s: no log line about its removal", n.name)
	}
	// imh cluster peers shows it as removed (not a voter), on its own API
	// and on the others' (issue 18).
	for _, a := range []*clusterAgent{n, l} {
		eventually.True(t, 10*time.Second, a.name+"'s peers show "+n.name+" removed", func() bool {
			for _, p := range peersOf(t, a).Peers {
				if p.Name == n.name {
					return p.State == "removed" && !p.Voter
				}
			}
			return false
		})
	}
	// It stays out: the leader keeps reconciling gossip members. (Writes
	// go through l, forwarded if leadership moved; waitLeader would wait
	// for the removed agent to name a leader too.)
	imhWrite(t, "router", "add", "r2", "--addr", "127.0.0.1:9002", "--http-addr", l.httpAddr)
	for _, a := range others {
		tc.waitRouter(a, "r2", 10*time.Second)
	}
	if v := voters(t, l); slices.Contains(v, n.name) {
		t.Fatalf("removed %s is back without a join: %v", n.name, v)
	}
	if slices.Contains(routerNames(t, n), "r2") {
		t.Fatalf("removed %s received a write", n.name)
	}
	_, stderr, code := runIMH(t, "cluster", "remove", n.name, "--http-addr", l.httpAddr)
	if code != 1 || !strings.Contains(stderr, "not in the raft configuration") {
		t.Errorf("second remove: exit %d: %s", code, stderr)
	}

	// One command brings it back.
	start := time.Now()
	out = imhOK(t, "cluster", "join", l.flagValue(t, "gossip-bind"), "--http-addr", n.httpAddr)
	if !strings.Contains(out, "a non-voter until `imh cluster promote "+n.name+"`") {
		t.Errorf("join of a removed agent: %q; want it a non-voter", out)
	}
	tc.promote(l, n.name)
	tc.waitVoters(l, names(tc.agents), 20*time.Second)
	tc.waitRouter(n, "r2", 20*time.Second)
	t.Logf("rejoin by imh cluster join: voter and caught up %v after the command started", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "moved aside") || !strings.Contains(n.proc.Log(), "moved the stale raft state of a removed agent aside") {
		t.Errorf("join: %q; the stale state move must be reported", out)
	}
	if m, _ := filepath.Glob(filepath.Join(n.dataDir, "raft.removed-*")); len(m) != 1 {
		t.Errorf("stale raft dirs: %v", m)
	}

	// Removed again while running, then stopped and restarted with --join.
	l = tc.waitLeader(20 * time.Second)
	imhOK(t, "cluster", "remove", n.name, "--http-addr", l.httpAddr)
	tc.waitVoters(l, names(others), 10*time.Second)
	eventually.True(t, 10*time.Second, n.name+" marked removed", func() bool {
		_, err := os.Stat(filepath.Join(n.dataDir, "raft", "REMOVED"))
		return err == nil
	})
	if err := n.proc.Stop(); err != nil {
		t.Fatal(err)
	}
	imhWrite(t, "router", "add", "r3", "--addr", "127.0.0.1:9003", "--http-addr", l.httpAddr)
	start = time.Now()
	tc.start(n)
	tc.promote(l, n.name)
	tc.waitVoters(l, names(tc.agents), 20*time.Second)
	tc.waitRouter(n, "r3", 20*time.Second)
	t.Logf("rejoin by restart with --join: voter and caught up %v after the start", time.Since(start).Round(time.Millisecond))
	if m, _ := filepath.Glob(filepath.Join(n.dataDir, "raft.removed-*")); len(m) != 2 {
		t.Errorf("stale raft dirs after the second rejoin: %v", m)
	}
}

// TestClusterOpsAddressChange: an agent that crashed (SIGKILL) and comes
// back on its data dir with new raft, gossip and API addresses is updated
// in the configuration by the leader and catches up. (The crash is the
// hard case: gossip holds the old address until it declares it dead.)
func TestClusterOpsAddressChange(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	imhWrite(t, "router", "add", "r1", "--addr", "127.0.0.1:9001", "--http-addr", l.httpAddr)
	n := tc.follower()
	tc.waitRouter(n, "r1", 10*time.Second)
	n.proc.Kill() // a crash: gossip still has the old address as alive for a while
	// A new host: every address changes, the name and data dir stay.
	newAddr := opsAddr(t)
	n.setFlag(t, "raft-bind", newAddr)
	n.setFlag(t, "gossip-bind", opsAddr(t))
	n.httpAddr = opsAddr(t)
	n.setFlag(t, "http-bind", n.httpAddr)
	imhWrite(t, "router", "add", "r2", "--addr", "127.0.0.1:9002", "--http-addr", l.httpAddr)
	start := time.Now()
	tc.start(n)
	eventually.True(t, 20*time.Second, n.name+" at its new raft address, a voter", func() bool {
		for _, p := range peersOf(t, l).Peers {
			if p.Name == n.name {
				return p.RaftAddr == newAddr && p.Voter
			}
		}
		return false
	})
	tc.waitRouter(n, "r2", 20*time.Second)
	raftTook := time.Since(start)
	// Gossip takes longer: it refuses the new address until it declared
	// the old one dead. Then the peers list has the agent's own facts.
	eventually.True(t, 30*time.Second, n.name+" reachable through gossip at its new address", func() bool {
		for _, p := range peersOf(t, tc.waitLeader(20*time.Second)).Peers {
			if p.Name == n.name {
				return p.RaftAddr == newAddr && p.State == "follower"
			}
		}
		return false
	})
	t.Logf("address change after a crash: in the configuration and caught up %v after the restart; gossip converged after %v",
		raftTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	l = tc.waitLeader(20 * time.Second)
	if len(peersOf(t, l).Peers) != 3 {
		t.Errorf("peers after the address change: %+v", peersOf(t, l))
	}
	imhWrite(t, "router", "add", "r3", "--addr", "127.0.0.1:9003", "--http-addr", n.httpAddr)
	tc.waitRouter(n, "r3", 10*time.Second)
}

// TestClusterOpsWholeRestart: every agent stopped (SIGTERM), then started
// again in a random order: a leader and the full state, no manual step.
func TestClusterOpsWholeRestart(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	imhWrite(t, "router", "add", "r1", "--addr", "127.0.0.1:9001", "--http-addr", l.httpAddr)
	imhWrite(t, "dest", "create", "web", "--http-addr", l.httpAddr)
	for _, a := range tc.agents {
		tc.waitRouter(a, "r1", 10*time.Second)
	}
	for _, a := range tc.agents {
		if err := a.proc.Stop(); err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
	}
	order := rand.Perm(len(tc.agents))
	start := time.Now()
	// The first one alone for a while (up, no leader), then the others.
	first := tc.agents[order[0]]
	tc.start(first)
	eventually.True(t, 10*time.Second, first.name+" up alone", func() bool {
		st, err := first.status()
		return err == nil && st.Leader == "" && len(st.Peers) == len(tc.agents)
	})
	for _, i := range order[1:] {
		tc.start(tc.agents[i])
	}
	l = tc.waitLeader(30 * time.Second)
	took := time.Since(start)
	for _, a := range tc.agents {
		tc.waitRouter(a, "r1", 10*time.Second)
		if _, err := a.api().Destination(t.Context(), "web"); err != nil {
			t.Errorf("%s: web after the restart: %v", a.name, err)
		}
	}
	tc.waitVoters(l, names(tc.agents), 10*time.Second)
	imhWrite(t, "router", "add", "r2", "--addr", "127.0.0.1:9002", "--http-addr", tc.follower().httpAddr)
	t.Logf("whole-cluster restart in order %v: leader %s %v after the first start", order, l.name, took.Round(time.Millisecond))
}

// TestClusterOpsSnapshot: snapshot save (0600, never overwrites, sealed
// keys only), the cluster wiped (every data dir deleted, a fresh cluster
// bootstrapped with the same secret), snapshot restore: the state is back
// on every agent.
func TestClusterOpsSnapshot(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	f := tc.follower()
	imhWrite(t, "router", "add", "r1", "--addr", "127.0.0.1:9001", "--http-addr", f.httpAddr)
	keyFile := filepath.Join(t.TempDir(), "web.dat")
	b32 := strings.TrimSpace(imhOK(t, "dest", "new", "--out", keyFile))
	imhWrite(t, "dest", "import", "web", keyFile, "--http-addr", f.httpAddr)

	snap := filepath.Join(t.TempDir(), "cluster.snap")
	out := imhOK(t, "cluster", "snapshot", "save", snap, "--http-addr", f.httpAddr)
	if !strings.Contains(out, "1 routers, 1 destinations") {
		t.Errorf("snapshot save: %q", out)
	}
	fi, err := os.Stat(snap)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v %v, want mode 0600", fi, err)
	}
	before, _ := os.ReadFile(snap)
	if _, stderr, code := runIMH(t, "cluster", "snapshot", "save", snap, "--http-addr", l.httpAddr); code != 2 || !strings.Contains(stderr, "exists") {
		t.Errorf("save over an existing file: exit %d: %s", code, stderr)
	}
	if after, _ := os.ReadFile(snap); !bytes.Equal(before, after) {
		t.Error("the existing snapshot file changed")
	}
	raw, _ := os.ReadFile(keyFile)
	keys, err := i2p.ParsePrivateKeys(raw)
	if err != nil {
		t.Fatal(err)
	}
	seed := raw[keys.Destination().Len()+256:]
	if bytes.Contains(before, seed) || bytes.Contains(before, raw) || !bytes.Contains(before, keys.Destination().Bytes()) {
		t.Fatal("the snapshot holds private key bytes in the clear, or not the destination")
	}

	// Wipe: stop everything, delete every data dir, bootstrap afresh.
	for _, a := range tc.agents {
		if err := a.proc.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(a.dataDir); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range tc.agents {
		tc.start(a)
	}
	l = tc.waitLeader(30 * time.Second)
	if n := len(routerNames(t, l)); n != 0 {
		t.Fatalf("wiped cluster has %d routers", n)
	}
	bad := filepath.Join(t.TempDir(), "bad.snap")
	if err := os.WriteFile(bad, []byte("not a snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runIMH(t, "cluster", "snapshot", "restore", bad, "--http-addr", l.httpAddr); code != 2 {
		t.Errorf("restore of a malformed file: exit %d: %s", code, stderr)
	}
	// A restore is deliberate (issue 18): without --yes it refuses and
	// changes nothing; --dry-run shows what would change.
	if _, stderr, code := runIMH(t, "cluster", "snapshot", "restore", snap, "--http-addr", l.httpAddr); code != 2 || !strings.Contains(stderr, "--yes") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("restore without --yes: exit %d, stderr %q; want exit 2 asking for --yes", code, stderr)
	}
	var plan struct {
		DryRun       bool `json:"dry_run"`
		Destinations struct {
			Added, Removed []string
		}
		Routers struct {
			Added, Removed []string
		}
	}
	eventually.True(t, 20*time.Second, "snapshot restore --dry-run", func() bool {
		out, stderr, code := runIMH(t, "cluster", "snapshot", "restore", snap, "--dry-run", "--json", "--http-addr", l.httpAddr)
		if code != 0 && !strings.Contains(stderr, "no leader") {
			t.Fatalf("restore --dry-run: exit %d: %s", code, stderr)
		}
		return code == 0 && json.Unmarshal([]byte(out), &plan) == nil
	})
	if !plan.DryRun || !slices.Equal(plan.Destinations.Added, []string{"web"}) || !slices.Equal(plan.Routers.Added, []string{"r1"}) || len(plan.Routers.Removed) != 0 {
		t.Errorf("restore --dry-run --json: %+v; want web and r1 added", plan)
	}
	if out := imhOK(t, "cluster", "snapshot", "restore", snap, "--dry-run", "--http-addr", l.httpAddr); !strings.Contains(out, "routers: +r1") || !strings.Contains(out, "destinations: +web") {
		t.Errorf("restore --dry-run:\n%s", out)
	}
	if n := len(routerNames(t, l)); n != 0 {
		t.Fatalf("a refused or dry restore changed the state: %d routers", n)
	}
	start := time.Now()
	var restoreOut, restoreErr string
	eventually.True(t, 20*time.Second, "snapshot restore accepted", func() bool {
		var code int
		restoreOut, restoreErr, code = runIMH(t, "cluster", "snapshot", "restore", snap, "--yes", "--http-addr", tc.follower().httpAddr)
		if code != 0 && !strings.Contains(restoreErr, "no leader") {
			t.Fatalf("snapshot restore: exit %d: %s", code, restoreErr)
		}
		return code == 0
	})
	// Progress on stderr while the leader restores; the result on stdout.
	if !strings.Contains(restoreErr, "waiting for the leader to restore the snapshot: ") || !strings.Contains(restoreOut, "restored "+snap+" in ") {
		t.Errorf("restore output: stdout %q stderr %q", restoreOut, restoreErr)
	}
	for _, a := range tc.agents {
		tc.waitRouter(a, "r1", 20*time.Second)
		if d, err := a.api().Destination(t.Context(), "web"); err != nil || d.B32 != b32 {
			t.Errorf("%s: web after restore: %+v %v", a.name, d, err)
		}
	}
	t.Logf("snapshot restore: on every agent %v after the command (%s)", time.Since(start).Round(time.Millisecond), strings.TrimSpace(restoreOut))
	// The cluster works on: a write after the restore.
	imhWrite(t, "router", "add", "r2", "--addr", "127.0.0.1:9002", "--http-addr", l.httpAddr)
	for _, a := range tc.agents {
		tc.waitRouter(a, "r2", 10*time.Second)
	}
}

// TestClusterOpsRecover: two of three agents SIGKILLed and their data
// deleted (the majority lost for good); the survivor, stopped, gets its
// configuration rewritten by imh cluster recover; started, it leads with
// the state; two new agents join it.
func TestClusterOpsRecover(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	imhWrite(t, "router", "add", "r1", "--addr", "127.0.0.1:9001", "--http-addr", l.httpAddr)
	imhWrite(t, "dest", "create", "web", "--http-addr", l.httpAddr)
	s := tc.agents[0]
	tc.waitRouter(s, "r1", 10*time.Second)
	eventually.True(t, 10*time.Second, s.name+" has web", func() bool {
		_, err := s.api().Destination(t.Context(), "web")
		return err == nil
	})
	for _, a := range tc.agents[1:] {
		a.proc.Kill()
		if err := os.RemoveAll(a.dataDir); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, code := runIMH(t, "router", "add", "r2", "--addr", "127.0.0.1:9002", "--http-addr", s.httpAddr); code != 1 || !strings.Contains(stderr, "no leader") {
		t.Fatalf("write without quorum: exit %d: %s", code, stderr)
	}
	if err := s.proc.Stop(); err != nil {
		t.Fatal(err)
	}
	peers := s.name + "=" + s.flagValue(t, "raft-bind")
	if _, stderr, code := runIMH(t, "cluster", "recover", "--data-dir", s.dataDir, "--peers", "bad"); code != 2 {
		t.Errorf("recover with bad --peers: exit %d: %s", code, stderr)
	}
	start := time.Now()
	out := imhOK(t, "cluster", "recover", "--data-dir", s.dataDir, "--peers", peers)
	if !strings.Contains(out, "recovered") {
		t.Errorf("recover: %q", out)
	}
	tc.start(s)
	eventually.True(t, 20*time.Second, s.name+" leads alone", func() bool {
		st, err := s.status()
		return err == nil && st.Leader == s.name
	})
	leadTook := time.Since(start)
	imhWrite(t, "router", "add", "r2", "--addr", "127.0.0.1:9002", "--http-addr", s.httpAddr)
	for _, a := range tc.agents[1:] {
		tc.start(a) // fresh data dirs: they join the survivor
	}
	tc.promote(s, names(tc.agents[1:])...)
	tc.waitVoters(s, names(tc.agents), 30*time.Second)
	for _, a := range tc.agents {
		tc.waitRouter(a, "r2", 20*time.Second)
		if _, err := a.api().Destination(t.Context(), "web"); err != nil {
			t.Errorf("%s: web after recovery: %v", a.name, err)
		}
	}
	t.Logf("recover: %s leading %v after the recover command; 3 voters with the state %v after it",
		s.name, leadTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// TestClusterOpsTransferLeader: imh cluster transfer-leader NAME, then
// without a name; an unknown name fails with exit 1.
func TestClusterOpsTransferLeader(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	var target *clusterAgent
	for _, a := range tc.agents {
		if a != l {
			target = a
			break
		}
	}
	out := imhOK(t, "cluster", "transfer-leader", target.name, "--http-addr", l.httpAddr)
	if !strings.Contains(out, "leader is now "+target.name) {
		t.Errorf("transfer-leader %s: %q", target.name, out)
	}
	if nl := tc.waitLeader(10 * time.Second); nl != target {
		t.Fatalf("leader %s, want %s", nl.name, target.name)
	}
	// Without a name, through the old leader, a follower now (forwarded).
	var res cluster.TransferResult
	out = imhOK(t, "cluster", "transfer-leader", "--json", "--http-addr", l.httpAddr)
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Leader == "" || res.Leader == target.name {
		t.Fatalf("transfer-leader --json: %v %q", err, out)
	}
	if nl := tc.waitLeader(10 * time.Second); nl.name != res.Leader {
		t.Fatalf("leader %s, want %s", nl.name, res.Leader)
	}
	if _, stderr, code := runIMH(t, "cluster", "transfer-leader", "nosuch", "--http-addr", l.httpAddr); code != 1 || !strings.Contains(stderr, "nosuch") {
		t.Errorf("transfer to an unknown node: exit %d: %s", code, stderr)
	}
}

// TestClusterOpsSIGTERMLeader: SIGTERM of the leader hands leadership
// over before the agent exits, and it stays a voter.
func TestClusterOpsSIGTERMLeader(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	imhWrite(t, "router", "add", "r1", "--addr", "127.0.0.1:9001", "--http-addr", l.httpAddr)
	start := time.Now()
	if err := l.proc.Stop(); err != nil {
		t.Fatalf("stop the leader: %v", err)
	}
	nl := tc.waitLeader(10 * time.Second)
	took := time.Since(start)
	if !strings.Contains(l.proc.Log(), "leadership transferred before stopping") {
		t.Fatalf("%s stopped without transferring leadership; log tail:\n%s", l.name, l.proc.LogTail(20))
	}
	t.Logf("SIGTERM of leader %s: %s leads, %v after the signal (process exited included)", l.name, nl.name, took.Round(time.Millisecond))
	tc.waitVoters(nl, names(tc.agents), 5*time.Second) // still a voter
	imhWrite(t, "router", "add", "r2", "--addr", "127.0.0.1:9002", "--http-addr", nl.httpAddr)
	tc.start(l)
	tc.waitRouter(l, "r2", 20*time.Second)
}

// TestClusterOpsFiveNodes: five agents; the leader and one follower
// SIGKILLed; the three left elect a leader and serve writes; the two come
// back and catch up; transfer-leader, remove and rejoin work as on three.
func TestClusterOpsFiveNodes(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 5)
	l := tc.waitLeader(30 * time.Second)
	tc.waitVoters(l, names(tc.agents), 10*time.Second)
	imhWrite(t, "router", "add", "r1", "--addr", "127.0.0.1:9001", "--http-addr", l.httpAddr)
	f := tc.follower()
	l.proc.Kill()
	f.proc.Kill()
	start := time.Now()
	nl := tc.waitLeader(20 * time.Second)
	t.Logf("5 nodes, leader and a follower killed: new leader %s after %v", nl.name, time.Since(start).Round(time.Millisecond))
	imhWrite(t, "router", "add", "r2", "--addr", "127.0.0.1:9002", "--http-addr", tc.follower().httpAddr)
	imhWrite(t, "dest", "create", "web", "--http-addr", nl.httpAddr)
	left := 0
	for _, p := range peersOf(t, nl).Peers {
		if p.State == "left" {
			left++
		}
	}
	if left != 2 {
		t.Errorf("peers: %d left, want 2: %+v", left, peersOf(t, nl))
	}
	tc.start(l)
	tc.start(f)
	for _, a := range tc.agents {
		tc.waitRouter(a, "r2", 20*time.Second)
	}
	nl = tc.waitLeader(20 * time.Second)
	tc.waitVoters(nl, names(tc.agents), 10*time.Second)

	// The same operations as on three: transfer, remove and rejoin.
	target := tc.follower()
	if out := imhOK(t, "cluster", "transfer-leader", target.name, "--http-addr", nl.httpAddr); !strings.Contains(out, target.name) {
		t.Fatalf("transfer-leader: %q", out)
	}
	if got := tc.waitLeader(10 * time.Second); got != target {
		t.Fatalf("leader %s, want %s", got.name, target.name)
	}
	n := tc.follower()
	imhOK(t, "cluster", "remove", n.name, "--http-addr", target.httpAddr)
	rest := slices.DeleteFunc(slices.Clone(tc.agents), func(a *clusterAgent) bool { return a == n })
	tc.waitVoters(target, names(rest), 10*time.Second)
	imhOK(t, "cluster", "join", target.flagValue(t, "gossip-bind"), "--http-addr", n.httpAddr)
	tc.promote(target, n.name)
	tc.waitVoters(target, names(tc.agents), 20*time.Second)
	imhWrite(t, "router", "add", "r3", "--addr", "127.0.0.1:9003", "--http-addr", n.httpAddr)
	for _, a := range tc.agents {
		tc.waitRouter(a, "r3", 20*time.Second)
	}
}

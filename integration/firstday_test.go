//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/eventually"
)

// An operator's first day (issue 18): the traps a literal reading of the
// docs ran into, each driven through the CLI against real agents.

// oneLine reports whether stderr is at most one line.
func oneLine(stderr string) bool {
	return strings.Count(strings.TrimSpace(stderr), "\n") == 0
}

// TestFirstDayRouterAddress: a second router at an existing router's
// address is refused (exit 2, naming the router that has it), also when two
// agents take the two adds at the same moment; a router whose address does
// not answer yet is added with a warning.
func TestFirstDayRouterAddress(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	tc.waitLeader(20 * time.Second)
	f := tc.follower()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	up := ln.Addr().String()
	out := imhWrite(t, "router", "add", "r1", "--addr", up, "--json", "--http-addr", f.httpAddr)
	var ri cluster.RouterInfo
	if err := json.Unmarshal([]byte(out), &ri); err != nil || ri.Reachable == nil || !*ri.Reachable {
		t.Errorf("router add r1 --json at a listening address: %v %s", err, out)
	}

	_, stderr, code := runIMH(t, "router", "add", "r1b", "--addr", up, "--http-addr", f.httpAddr)
	if code != 2 || !strings.Contains(stderr, "router r1") || !oneLine(stderr) {
		t.Errorf("router add r1b at r1's address: exit %d, stderr %q; want exit 2 naming router r1", code, stderr)
	}

	down := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	stdout, stderr, code := runIMH(t, "router", "add", "r2", "--addr", down, "--http-addr", f.httpAddr)
	if code != 0 || !strings.Contains(stdout, "router r2 added") || !strings.Contains(stderr, "not reachable yet") || !oneLine(stderr) {
		t.Errorf("router add r2 at a closed port: exit %d, stdout %q, stderr %q; want exit 0 and a one-line warning", code, stdout, stderr)
	}

	// Two adds at one new address through two different agents at once:
	// the fsm decides, so exactly one wins everywhere.
	race := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var wg sync.WaitGroup
	codes := make([]int, 2)
	errs := make([]string, 2)
	for i, a := range tc.agents[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i], codes[i] = runIMH(t, "router", "add", fmt.Sprintf("rx%d", i), "--addr", race, "--http-addr", a.httpAddr)
		}()
	}
	wg.Wait()
	if !(codes[0] == 0 && codes[1] == 2) && !(codes[0] == 2 && codes[1] == 0) {
		t.Errorf("concurrent adds at one address: exits %v, stderr %q; want one 0 and one 2", codes, errs)
	}
	for _, a := range tc.agents {
		eventually.True(t, 5*time.Second, a.name+" has r1, r2 and one rx", func() bool {
			n := 0
			for _, r := range routerNames(t, a) {
				if strings.HasPrefix(r, "r") {
					n++
				}
			}
			return n == 3
		})
	}
}

// TestFirstDayConfigTypes: `imh agent` with a wrongly typed value in its
// YAML file exits 2 with one line naming the key, before it starts.
func TestFirstDayConfigTypes(t *testing.T) {
	lightPool.join(t)
	dir := t.TempDir()
	for key, yaml := range map[string]string{
		"bootstrap-expect": "bootstrap-expect: three\n",
		"raft-multiplier":  "raft-multiplier: two\n",
		"gossip-bind":      "gossip-bind: [127.0.0.1:1, 127.0.0.1:2]\n",
	} {
		f := filepath.Join(dir, key+".yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runIMHEnv(t, []string{"IMH_SECRET=" + strings.Repeat("A", 43) + "="}, "agent", "--node-name", "n1",
			"--data-dir", filepath.Join(dir, "data"), "--config", f)
		if code != 2 || !strings.Contains(stderr, key) || !oneLine(stderr) {
			t.Errorf("agent with %q: exit %d, stderr %q; want exit 2 and one line naming %s", yaml, code, stderr, key)
		}
	}
}

// TestFirstDayPingSimnet: `imh ping --via` a simulated router reaches no
// destination hosted on the simulated routers (router-to-router traffic is
// not modelled); it exits 1 and says so, with the summary.
func TestFirstDayPingSimnet(t *testing.T) {
	lightPool.join(t)
	n := startRouterNet(t, time.Minute, "r1", "r2")
	keyFile, b32 := routerKeyFile(t)
	probe := make(chan string, 1)
	scheme := "i2cps://"
	if plaintext {
		scheme = "i2cp://"
	}
	go func() {
		_, stderr, code := runIMH(t, "i2cp", "probe", scheme+n.routers[0].addr, "--keys", keyFile)
		probe <- fmt.Sprintf("exit %d: %s", code, stderr)
	}()
	eventually.True(t, 20*time.Second, "the probe's LeaseSet stored in the simulated network", func() bool {
		var st struct {
			Destinations map[string]json.RawMessage `json:"destinations"`
		}
		return httpGetJSON("http://"+n.simHTTP+"/status", &st) == nil && st.Destinations[b32] != nil
	})
	stdout, stderr, code := runIMH(t, "ping", b32, "--via", scheme+n.routers[1].addr, "--count", "2", "--interval", "100ms")
	if code != 1 || !strings.Contains(stderr, "simulated router") || !oneLine(stderr[strings.Index(stderr, "imh:"):]) || !strings.Contains(stdout, "2 sent, 0 received") {
		t.Errorf("ping via a simnet router: exit %d, stdout %q, stderr %q; want exit 1, the summary and the reason", code, stdout, stderr)
	}
	t.Logf("ping: %s\nprobe: %s", strings.TrimSpace(stderr), <-probe)
}

// TestFirstDayMessages: errors are one line (the nested multierror of a
// failed join included), the API answers what no route takes with the
// documented JSON, IMH_HTTP_ADDR may be a URL, an empty secret file is
// called empty, and an over-long name is not echoed back in full.
func TestFirstDayMessages(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)

	_, stderr, code := runIMH(t, "cluster", "join", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--http-addr", l.httpAddr)
	if code != 1 || !oneLine(stderr) || !strings.Contains(stderr, "no agent answered") {
		t.Errorf("cluster join to nobody: exit %d, stderr %q; want exit 1 and one line", code, stderr)
	}

	for _, tt := range []struct {
		method, path string
		status       int
	}{{"GET", "/v1/nope", 404}, {"DELETE", "/v1/status", 405}} {
		req, _ := http.NewRequest(tt.method, agentURL(l.httpAddr, tt.path), nil)
		resp, err := agentHTTPClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb cluster.ErrorBody
		err = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != tt.status || err != nil || eb.Error == "" || eb.Code == "" {
			t.Errorf("%s %s: %d %+v %v; want %d with the JSON error body", tt.method, tt.path, resp.StatusCode, eb, err, tt.status)
		}
	}

	scheme := "https://"
	if plaintext {
		scheme = "http://"
	}
	if _, stderr, code := runIMHEnv(t, []string{"IMH_HTTP_ADDR=" + scheme + l.httpAddr}, "status"); code != 0 {
		t.Errorf("IMH_HTTP_ADDR=%s%s imh status: exit %d: %s", scheme, l.httpAddr, code, stderr)
	}

	empty := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runIMH(t, "agent", "--node-name", "x", "--data-dir", t.TempDir(), "--secret-file", empty)
	if code != 2 || !strings.Contains(stderr, "empty") || !oneLine(stderr) {
		t.Errorf("agent with an empty secret file: exit %d, stderr %q; want exit 2 saying empty", code, stderr)
	}

	long := strings.Repeat("n", 3000)
	_, stderr, code = runIMH(t, "router", "add", long, "--addr", "127.0.0.1:9", "--http-addr", l.httpAddr)
	if code != 2 || len(stderr) > 400 || !oneLine(stderr) {
		t.Errorf("router add with a 3000-byte name: exit %d, stderr of %d bytes (%.200q); want exit 2 and a short line", code, len(stderr), stderr)
	}
}

// TestFirstDaySecretMismatch: an agent started with another cluster's
// secret and --join naming the cluster: both sides say so in one line,
// rate-limited, instead of an ERROR per second on the good agents and
// silence on the stranger.
func TestFirstDaySecretMismatch(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	secret, _, _ := runIMH(t, "keygen")
	other := filepath.Join(t.TempDir(), "other-secret")
	if err := os.WriteFile(other, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	stranger := tc.addAgent("stranger", l.flagValue(t, "gossip-bind"), "--secret-file", other, "--log-level", "info") // later flags win
	const line = "another cluster secret"
	eventually.True(t, 20*time.Second, "both sides name the other cluster secret", func() bool {
		return strings.Contains(stranger.proc.Log(), line) && strings.Contains(l.proc.Log(), line)
	})
	time.Sleep(4 * time.Second) // the stranger keeps trying every second: watch the rate limit
	for _, a := range []*clusterAgent{l, stranger} {
		log := a.proc.Log()
		if n := strings.Count(log, line); n != 1 {
			t.Errorf("%s: %d lines about another cluster secret, want 1 (rate-limited)", a.name, n)
		}
		if strings.Contains(strings.ToLower(log), "no installed keys could decrypt") {
			t.Errorf("%s still logs memberlist's decryption errors:\n%s", a.name, a.proc.LogTail(10))
		}
	}
}

// TestFirstDayEvenVoters: a 4th agent joining a running 3-agent cluster
// (operations.md's "Add a node") is a non-voter and the quorum stays 2 of
// 3, also once it stops; imh cluster promote makes it a voter, and the
// leader and the command warn that an even count of voters tolerates no
// more failures (issue 18 trap 2).
func TestFirstDayEvenVoters(t *testing.T) {
	lightPool.join(t)
	tc := startOpsCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	n4 := tc.addAgent("n4", l.flagValue(t, "gossip-bind"))
	eventually.True(t, 20*time.Second, "n4 a non-voter in the configuration", func() bool {
		return slices.ContainsFunc(peersOf(t, l).Peers, func(p cluster.PeerInfo) bool { return p.Name == "n4" && !p.Voter })
	})
	if v := voters(t, l); !slices.Equal(v, []string{"n1", "n2", "n3"}) {
		t.Fatalf("voters after n4 joined: %v", v)
	}
	if _, stderr, _ := runIMH(t, "cluster", "peers", "--http-addr", l.httpAddr); strings.Contains(stderr, "warning") {
		t.Errorf("3 voters and a non-voter: peers warns: %q", stderr)
	}
	for _, tt := range []struct {
		name, arg string
		code      int
		stderr    string
	}{
		{"invalid name", "n/4", 2, "cluster promote"},
		{"not in the configuration", "n9", 1, "not in the raft configuration"},
	} {
		if _, stderr, code := runIMH(t, "cluster", "promote", tt.arg, "--http-addr", l.httpAddr); code != tt.code || !strings.Contains(stderr, tt.stderr) || !oneLine(stderr) {
			t.Errorf("%s: promote %s: exit %d, stderr %q; want exit %d and %q", tt.name, tt.arg, code, stderr, tt.code, tt.stderr)
		}
	}
	// Through n4's own API: a follower forwards to the leader.
	out, stderr, code := runIMH(t, "cluster", "promote", "n4", "--http-addr", n4.httpAddr)
	if code != 0 || !strings.Contains(out, "promoted n4 to voter (4 voters)") || !strings.Contains(stderr, "4 voters: an even count") || !oneLine(stderr) {
		t.Errorf("cluster promote n4: exit %d, stdout %q, stderr %q; want one warning line", code, out, stderr)
	}
	tc.waitVoters(l, []string{"n1", "n2", "n3", "n4"}, 20*time.Second)
	_, stderr, code = runIMH(t, "cluster", "peers", "--http-addr", l.httpAddr)
	if code != 0 || !strings.Contains(stderr, "4 voters: an even count") || !oneLine(stderr) {
		t.Errorf("cluster peers with 4 voters: exit %d, stderr %q; want one warning line", code, stderr)
	}
	if out := imhOK(t, "cluster", "promote", "n4", "--http-addr", l.httpAddr); !strings.Contains(out, "was a voter already") {
		t.Errorf("promote a voter: %q", out)
	}
	eventually.True(t, 5*time.Second, "the leader's warning", func() bool {
		return strings.Contains(l.proc.Log(), "4 voters: an even count")
	})
}

// TestFirstDayRouterRemoveReleases: after imh router remove, the removed
// router drops the cluster's session at once (its grace period is five
// minutes here), while the others keep theirs.
func TestFirstDayRouterRemoveReleases(t *testing.T) {
	lightPool.join(t)
	e := startBalancerEnvN(t, []string{"r1", "r2"})
	r1, r2 := e.n.routers[0], e.n.routers[1]
	hasSession := func(r *routerProc) bool {
		for _, s := range r.status(t).Sessions {
			if s.B32 == e.b32 {
				return true
			}
		}
		return false
	}
	eventually.True(t, 30*time.Second, "web's session on r1 and r2", func() bool { return hasSession(r1) && hasSession(r2) })
	balancerIMH(t, "router", "remove", "r1", "--http-addr="+e.tc.waitLeader(10*time.Second).httpAddr)
	start := time.Now()
	eventually.True(t, 10*time.Second, "r1 released web's session", func() bool { return !hasSession(r1) })
	t.Logf("r1 released the session %v after router remove", time.Since(start).Round(time.Millisecond))
	if !hasSession(r2) {
		t.Error("r2 lost web's session")
	}
}

// TestFirstDayDestWait: imh dest create --wait returns once the LeaseSet
// carries the asked leases, saying on stderr what it waits for; dest set
// --wait with a timeout too short exits 1 naming what it waited for.
func TestFirstDayDestWait(t *testing.T) {
	lightPool.join(t)
	e := startBalancerEnvN(t, []string{"r1", "r2"}, "--inbound", "1")
	l := e.tc.waitLeader(20 * time.Second)
	api := "--http-addr=" + l.httpAddr
	out, stderr, code := runIMH(t, "dest", "create", "api", "--inbound", "2", "--wait", "--wait-timeout", "60s", api)
	if code != 0 || !strings.Contains(stderr, "waiting for the LeaseSet of api: ") || !strings.Contains(out, "LeaseSet of api published: 4 of 4 leases") {
		t.Fatalf("dest create --wait: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	var ls cluster.LeaseSetInfo
	if err := httpGetJSON(agentURL(l.httpAddr, "/v1/destinations/api/leaseset"), &ls); err != nil || len(ls.Leases) != 4 {
		t.Errorf("after --wait: %d leases published (%v), want 4", len(ls.Leases), err)
	}
	// What docs/cli.md shows for looking at it: dest show's leaseset
	// field through imh leaseset inspect.
	var d cluster.DestinationInfo
	if err := json.Unmarshal([]byte(imhOK(t, "dest", "show", "api", "--json", api)), &d); err != nil {
		t.Fatal(err)
	}
	lsFile := filepath.Join(t.TempDir(), "api.leaseset")
	if err := os.WriteFile(lsFile, []byte(d.LeaseSet), 0o600); err != nil {
		t.Fatal(err)
	}
	var in struct {
		Leases         []json.RawMessage `json:"leases"`
		SignatureValid bool              `json:"signature_valid"`
	}
	if err := json.Unmarshal([]byte(imhOK(t, "leaseset", "inspect", lsFile, "--json")), &in); err != nil || len(in.Leases) != 4 || !in.SignatureValid {
		t.Errorf("leaseset inspect of dest show's leaseset: %v, %d leases, signature valid %v; want 4, true", err, len(in.Leases), in.SignatureValid)
	}
	out, stderr, code = runIMH(t, "dest", "set", "api", "--inbound", "3", "--wait", "--wait-timeout", "1ms", "--json", api)
	if code != 1 || !strings.Contains(stderr, "waiting for the LeaseSet of api: timed out") || !oneLine(stderr) || out != "" {
		t.Errorf("dest set --wait timing out: exit %d, stdout %q, stderr %q; want exit 1, one line, no stdout", code, out, stderr)
	}
}

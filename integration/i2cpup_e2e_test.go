//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/i2pdnet"
	"github.com/imh-project/imh/internal/status"
)

// nsIMH is the imh side of issue 10's end-to-end test: every imh process
// (agents, router adapters, pings, CLI) runs inside the private network's
// namespace, where 127.0.0.1 is the namespace's own loopback and the i2pd
// routers' I2CP ports on 198.18.0.x are reachable.
type nsIMH struct {
	t   testing.TB
	n   *i2pdnet.Net
	dir string // every file of the test: data dirs, logs, secret

	mu    sync.Mutex
	procs []*nsProc
}

// nsProc is a long-running imh process inside the namespace.
type nsProc struct {
	name, log string
	cmd       *exec.Cmd
	done      chan struct{}
}

func (p *nsProc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// start runs `imh args...` inside the namespace until the test ends.
func (e *nsIMH) start(name string, args ...string) *nsProc {
	e.t.Helper()
	p := &nsProc{name: name, log: filepath.Join(e.dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		e.t.Fatal(err)
	}
	p.cmd = e.n.Exec(context.Background(), imhBin, args...)
	p.cmd.Env = append(os.Environ(), certEnv(e.t, args)...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		e.t.Fatalf("start %s in the namespace: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); f.Close(); close(p.done) }()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p
}

// stopAll kills every process started (SIGKILL to its process group) and
// waits for it.
func (e *nsIMH) stopAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.procs {
		if e.t.Failed() {
			e.t.Logf("--- %s log tail:\n%s", p.name, p.tail(25))
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// run runs a client command inside the namespace and returns its output.
func (e *nsIMH) run(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	return e.runCmd(ctx, func(*exec.Cmd) error { return nil }, args...)
}

// runCmd is run with a hook that may set up the command before it starts
// (e.g. its stdin).
func (e *nsIMH) runCmd(ctx context.Context, setup func(*exec.Cmd) error, args ...string) (stdout, stderr string, code int) {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := e.n.Exec(ctx, imhBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := setup(cmd); err != nil {
		return "", err.Error(), -1
	}
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		return out.String(), errb.String() + err.Error(), -1
	}
	return out.String(), errb.String(), 0
}

// write runs a cluster write, retrying while there is no leader yet.
func (e *nsIMH) write(ctx context.Context, args ...string) string {
	e.t.Helper()
	var out, stderr string
	var code int
	eventually.Within(45*time.Second, func() bool {
		out, stderr, code = e.run(ctx, args...)
		return code == 0 || !strings.Contains(stderr, "leader") && !strings.Contains(stderr, "connect")
	})
	if code != 0 {
		e.t.Fatalf("imh %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

func (e *nsIMH) status(ctx context.Context, api string) (status.Status, error) {
	var st status.Status
	out, stderr, code := e.run(ctx, "status", "--json", "--http-addr", api)
	if code != 0 {
		return st, fmt.Errorf("imh status: exit %d: %s", code, stderr)
	}
	return st, json.Unmarshal([]byte(out), &st)
}

// pingOut is `imh ping --json` (CLI.md).
type pingOut struct {
	Sent     int       `json:"sent"`
	Received int       `json:"received"`
	RTTms    []float64 `json:"rtt_ms"`
}

// startNsIMH builds the private i2pd network of opts, waits until it is
// ready (returning how long that took) and arranges its teardown: imh
// processes stopped, logs kept ($IMH_TEST_LOGDIR) and the routers' log
// tails on failure, the namespace and every process checked gone.
func startNsIMH(ctx context.Context, t testing.TB, opts i2pdnet.Options) (*nsIMH, time.Duration) {
	t.Helper()
	cleanupStale(ctx, t)
	t0 := time.Now()
	n, err := i2pdnet.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	ns, netDir := n.Namespace(), n.Dir()
	e := &nsIMH{t: t, n: n, dir: t.TempDir()}
	t.Cleanup(func() {
		e.stopAll()
		keepLogs(t, n, e.dir)
		if t.Failed() {
			for _, r := range n.Routers() {
				t.Logf("--- %s log tail:\n%s", r.Name(), n.LogTail(r.Index, 10))
			}
		}
		if err := n.Close(); err != nil {
			t.Errorf("close network: %v", err)
		}
		assertTornDown(t, ns, netDir)
		if pids := pidsMentioning(e.dir); len(pids) > 0 {
			t.Errorf("imh processes %v still running after the test", pids)
		}
	})
	if err := n.WaitReady(ctx); err != nil {
		t.Fatalf("wait ready: %v", err)
	}
	return e, time.Since(t0)
}

// TestI2CPUpstreamEndToEnd is issue 10's test on the private i2pd network
// (5 routers, r1 and r2 floodfills): three agents, `imh router serve
// --upstream` in front of r3 and r4, one destination (--hops 1, spread,
// echo). The merged LeaseSet (2 x --inbound leases) must reach both
// floodfills' stores within 180 s, and one-way pings from r5 must arrive
// at both upstream routers, counted where they arrive (payloads_by_router).
// Everything is gone afterwards, pass or fail.
func TestI2CPUpstreamEndToEnd(t *testing.T) {
	i2pdPool.join(t)
	requireTestnet(t)
	// The default --inbound (a stock i2pd tells of every tunnel thanks to
	// the spare one, docs/policies.md, "Stock i2pd and the lease count").
	const inbound = defaultInbound
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	e, tUp := startNsIMH(ctx, t, i2pdnet.Options{Log: testnetLogger(t)})
	n := e.n

	// Three agents on the namespace's loopback.
	secret, stderr, code := runIMH(t, "keygen")
	if code != 0 {
		t.Fatalf("keygen: %s", stderr)
	}
	secretFile := filepath.Join(e.dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	var gossip, apis []string
	for range 3 {
		gossip = append(gossip, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		apis = append(apis, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	for i := range 3 {
		args := []string{"agent", "--node-name", fmt.Sprintf("n%d", i+1), "--data-dir", filepath.Join(e.dir, fmt.Sprintf("data%d", i+1)),
			"--raft-bind", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--gossip-bind", gossip[i], "--http-bind", apis[i],
			"--bootstrap-expect", "3", "--secret-file", secretFile, "--log-level", "debug"}
		for _, g := range gossip {
			args = append(args, "--join", g)
		}
		e.start(fmt.Sprintf("agent-n%d", i+1), args...)
	}
	// The adapters in front of the non-floodfill routers r3 and r4.
	upstreams := map[string]int{"up3": 3, "up4": 4}
	adapters := map[string]string{}
	for name, i := range upstreams {
		adapters[name] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		e.start("router-"+name, "router", "serve", "--name", name, "--listen", adapters[name],
			"--http", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--upstream", "i2cp://"+n.Router(i).I2CPAddr, "--log-level", "debug")
	}
	api := "--http-addr=" + apis[0]
	for _, name := range []string{"up3", "up4"} {
		e.write(ctx, "router", "add", name, "--addr", adapters[name], api)
	}
	var dest struct {
		B32 string `json:"b32"`
	}
	out := e.write(ctx, "dest", "create", "web", "--hops", "1", "--inbound", fmt.Sprint(inbound), "--outbound", "2",
		"--policy", "spread", "--service", "echo", "--json", api)
	if err := json.Unmarshal([]byte(out), &dest); err != nil {
		t.Fatalf("dest create: %v: %s", err, out)
	}
	tDest := time.Now()
	t.Logf("network up after %v; destination %s", tUp.Round(time.Millisecond), dest.B32)

	// The merged LeaseSet in the floodfills' stores. Publication reaches
	// the floodfill closest to the destination; 2.45.1 floodfills do not
	// pass a LeaseSet2 on to each other (they take it for a v1 LeaseSet),
	// so the other one gets it only if a router publishes there itself:
	// one is required, both are reported.
	stored := map[int]time.Duration{}
	checkStored := func() {
		for _, ff := range n.Floodfills() {
			if _, ok := stored[ff.Index]; ok {
				continue
			}
			lss, err := n.LeaseSets(ctx, ff.Index)
			if err != nil {
				continue
			}
			for _, ls := range lss {
				if ls.B32 == dest.B32 && ls.StoreType == 3 && ls.Leases == 2*inbound && !ls.Expired && !ls.Invalid {
					stored[ff.Index] = time.Since(tDest)
				}
			}
		}
	}
	if !eventually.Within(time.Until(tDest.Add(180*time.Second)), func() bool { checkStored(); return len(stored) > 0 }) {
		for _, ff := range n.Floodfills() {
			lss, _ := n.LeaseSets(ctx, ff.Index)
			for _, ls := range lss {
				if ls.B32 == dest.B32 {
					t.Logf("%s stores it with %d leases (store type %d, expires %v)", ff.Name(), ls.Leases, ls.StoreType, ls.Expires)
				}
			}
		}
		st, _ := e.status(ctx, apis[0])
		t.Fatalf("merged LeaseSet (%d leases) in no floodfill's store within 180 s; status: %+v", 2*inbound, st.Destinations)
	}
	tFirst := time.Duration(0)
	for _, d := range stored {
		tFirst = d
	}
	t.Logf("merged LeaseSet with %d leases stored at a floodfill %v after dest create", 2*inbound, tFirst.Round(time.Millisecond))
	st, err := e.status(ctx, apis[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Destinations {
		if d.B32 == dest.B32 && (d.LeasesByRouter["up3"] != inbound || d.LeasesByRouter["up4"] != inbound) {
			t.Errorf("leases by router %v, want %d each", d.LeasesByRouter, inbound)
		}
		if d.B32 == dest.B32 {
			for _, r := range []string{"up3", "up4"} {
				if ui := d.UpstreamInbound[r]; ui.Want != inbound || ui.Have < inbound {
					t.Errorf("upstream_inbound %v, want have >= want = %d on up3 and up4", d.UpstreamInbound, inbound)
				}
			}
		}
	}
	for _, r := range st.Routers {
		for _, c := range r.Capabilities {
			if c == "create-tunnel" || c == "explicit-hops" || c == "fast-tier" {
				t.Errorf("router %s announces %s in front of a stock i2pd", r.Name, c)
			}
		}
	}

	// One-way pings from r5: each ping is a new sender, which picks one
	// lease; batches of parallel senders until both routers got some.
	via := "i2cp://" + n.Router(5).I2CPAddr
	sent := 0
	payloads := func() map[string]int {
		st, err := e.status(ctx, apis[0])
		if err != nil {
			return nil
		}
		for _, d := range st.Destinations {
			if d.B32 == dest.B32 {
				return d.PayloadsByRouter
			}
		}
		return nil
	}
	var by map[string]int
	for batch := 0; batch < 5 && (by["up3"] == 0 || by["up4"] == 0); batch++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range 4 {
			wg.Go(func() {
				out, stderr, code := e.run(ctx, "ping", dest.B32, "--via", via, "--oneway", "--count", "10", "--interval", "100ms", "--json")
				if code != 0 {
					t.Errorf("ping %d.%d: exit %d: %s", batch, i, code, stderr)
					return
				}
				var p pingOut
				if err := json.Unmarshal([]byte(out), &p); err != nil {
					t.Errorf("ping output %q: %v", out, err)
					return
				}
				mu.Lock()
				sent += p.Sent
				mu.Unlock()
			})
		}
		wg.Wait()
		// Let the last messages arrive and be counted.
		eventually.Within(15*time.Second, func() bool {
			by = payloads()
			return by["up3"]+by["up4"] >= sent
		})
		t.Logf("after batch %d: %d one-way datagrams sent, payloads by router %v", batch+1, sent, by)
	}
	if by["up3"] == 0 || by["up4"] == 0 {
		t.Fatalf("one-way datagrams did not arrive at both upstream routers: %v (%d sent)", by, sent)
	}
	// Round trips to the echo service, for the record: under spread a
	// reply binds the sender's session to one router (TESTNET.md), so
	// losses are expected here; issue 11's failover policy is the cure.
	out, stderr, code = e.run(ctx, "ping", dest.B32, "--via", via, "--count", "10", "--interval", "200ms", "--json")
	if code != 0 && (code != 1 || !strings.HasPrefix(out, "{")) { // 1 with the summary: nothing came back
		t.Fatalf("two-way ping: exit %d: %s", code, stderr)
	}
	var rt pingOut
	if err := json.Unmarshal([]byte(out), &rt); err != nil || rt.Sent != 10 || len(rt.RTTms) != rt.Received {
		t.Fatalf("two-way ping output %q: %v", out, err)
	}
	t.Logf("two-way pings under spread: %d sent, %d answered, rtt_ms %v", rt.Sent, rt.Received, rt.RTTms)

	checkStored()
	var storedAt []string
	for _, ff := range n.Floodfills() {
		if d, ok := stored[ff.Index]; ok {
			storedAt = append(storedAt, fmt.Sprintf("%s:%v", ff.Name(), d.Round(time.Millisecond)))
		}
	}
	t.Logf("FIGURES network_up=%v first_leaseset_stored=%v stored_at=%v oneway_sent=%d delivered_up3=%d delivered_up4=%d twoway=%d/%d",
		tUp.Round(time.Millisecond), tFirst.Round(time.Millisecond), storedAt, sent, by["up3"], by["up4"], rt.Received, rt.Sent)
}

//go:build integration

package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/i2pdnet"
)

// requireTestnet skips the test when the private i2pd network cannot be
// built here (not root, no ip or i2pd), or fails it when IMH_REQUIRE_I2PD=1.
// A wrong i2pd version always fails: the network relies on 2.45.1's quirks.
func requireTestnet(t testing.TB) {
	t.Helper()
	err := i2pdnet.Check()
	switch {
	case err == nil:
		return
	case errors.Is(err, i2pdnet.ErrWrongVersion):
		t.Fatal(err)
	case os.Getenv("IMH_REQUIRE_I2PD") == "1":
		t.Fatalf("IMH_REQUIRE_I2PD=1 but: %v", err)
	default:
		t.Skip(err)
	}
}

// cleanupStale removes namespaces earlier crashed runs left behind.
func cleanupStale(ctx context.Context, t testing.TB) {
	t.Helper()
	removed, err := i2pdnet.CleanupStale(ctx)
	if err != nil {
		t.Fatalf("cleanup stale namespaces: %v", err)
	}
	if len(removed) > 0 {
		t.Logf("removed stale namespaces %v", removed)
	}
}

func testnetLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// assertTornDown checks what Close must leave: no namespace, no process
// whose command line names the network's directory (every i2pd has
// --datadir under it), no directory.
func assertTornDown(t testing.TB, ns, dir string) {
	t.Helper()
	if i2pdnet.NamespaceExists(ns) {
		t.Errorf("namespace %s still exists after Close", ns)
	}
	if pids := pidsMentioning(dir); len(pids) > 0 {
		t.Errorf("processes %v still mention %s after Close", pids, dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("network dir %s still there after Close (stat: %v)", dir, err)
	}
}

// pidsMentioning lists live processes whose command line contains s.
func pidsMentioning(s string) []int {
	var pids []int
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), s) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ownNamespaces lists the namespaces this process created (imh-<pid>-*).
func ownNamespaces() []string {
	m, _ := filepath.Glob(fmt.Sprintf("/run/netns/imh-%d-*", os.Getpid()))
	return m
}

// TestTestnet builds the 5-router network of TESTNET.md, waits for
// tunnels, checks it from inside (addresses, routes, floodfill sessions, a
// console fetch, an HTTP fetch across I2P from r4 to a server tunnel on r5,
// the server's LeaseSet2 at a floodfill) and asserts that Close
// leaves nothing behind, including a process a test started with Exec.
func TestTestnet(t *testing.T) {
	i2pdPool.join(t)
	requireTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cleanupStale(ctx, t)

	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, err := keys.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	web := keys.Destination()
	t0 := time.Now()
	n, err := i2pdnet.Start(ctx, i2pdnet.Options{
		Log:     testnetLogger(t),
		Files:   map[int]map[string][]byte{5: {"web.dat": keyFile}},
		Tunnels: map[int]string{4: webClientTunnel(web.B32())},
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	ns, dir := n.Namespace(), n.Dir()
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range n.Routers() {
				t.Logf("--- %s log tail:\n%s", r.Name(), n.LogTail(r.Index, 15))
			}
		}
		_ = n.Close()
	})
	up := time.Since(t0)
	if err := n.WaitReady(ctx); err != nil {
		t.Fatalf("wait ready: %v", err)
	}
	tm := n.Timings()
	t.Logf("network up in %v (namespace %v, bootstrap %v); tunnels on every router %v later; total %v",
		tm.Total.Round(time.Millisecond), tm.Namespace.Round(time.Millisecond), tm.Bootstrap.Round(time.Millisecond),
		tm.Ready.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	if up > 60*time.Second || tm.Ready > 90*time.Second {
		t.Errorf("too slow: up %v, ready %v (measured about 3 s and 2-16 s)", up, tm.Ready)
	}

	// The server tunnel once the network has settled (see
	// i2pdnet.Net.AddTunnels).
	if err := n.AddTunnels(5, "web", webServerTunnel); err != nil {
		t.Fatal(err)
	}
	checkInside(ctx, t, n)
	checkFloodfillSessions(ctx, t, n)
	checkThreadsOutside(t)

	// A process started inside that nobody stops: Close must kill it.
	sleeper := n.Exec(context.Background(), "sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatalf("exec sleep in namespace: %v", err)
	}
	sleepDone := make(chan error, 1)
	go func() { sleepDone <- sleeper.Wait() }()

	tReady := time.Now()
	checkLeaseSets(ctx, t, n, web)
	t.Logf("web LeaseSet2 at a floodfill, then checked, %v after ready", time.Since(tReady).Round(time.Millisecond))
	fetchAcrossI2P(ctx, t, n)
	t.Logf("HTTP fetch r4 -> I2P -> r5 console %v after ready", time.Since(tReady).Round(time.Millisecond))

	tClose := time.Now()
	if err := n.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	t.Logf("teardown %v", time.Since(tClose).Round(time.Millisecond))
	if err := n.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	select {
	case <-sleepDone:
	case <-time.After(10 * time.Second):
		t.Errorf("process started with Exec (pid %d) survived Close", sleeper.Process.Pid)
		_ = sleeper.Process.Kill()
	}
	assertTornDown(t, ns, dir)
	if _, err := n.Console(ctx, 1, ""); !errors.Is(err, i2pdnet.ErrClosed) {
		t.Errorf("console after close: %v, want ErrClosed", err)
	}
}

// webServerTunnel serves r5's own console as an HTTP server tunnel with the
// pre-made keys web.dat; zero-hop outbound tunnels avoid 2.45.1's publish
// stall (TESTNET.md).
const webServerTunnel = `[web]
type = http
host = 198.18.0.5
port = 7070
keys = web.dat
inbound.length = 1
inbound.quantity = 2
outbound.length = 0
outbound.quantity = 2
`

// webClientTunnel listens on 198.18.0.4:8080 and forwards to b32.
func webClientTunnel(b32 string) string { return clientTunnel("web-client", "198.18.0.4:8080", b32) }

// clientTunnel is an i2pd client tunnel section: it listens on listen
// (ip:port inside the namespace) and forwards every connection over a
// stream to b32 (1-hop tunnels).
func clientTunnel(name, listen, b32 string) string {
	host, port, _ := strings.Cut(listen, ":")
	return `[` + name + `]
type = client
address = ` + host + `
port = ` + port + `
destination = ` + b32 + `
inbound.length = 1
inbound.quantity = 2
outbound.length = 1
outbound.quantity = 2
`
}

// serverTunnel is an i2pd server tunnel section: streams to the key file
// keys (in the router's datadir) are forwarded to backend (ip:port inside
// the namespace) as plain TCP; two 1-hop inbound tunnels, and zero-hop
// outbound tunnels avoid 2.45.1's publish stall (TESTNET.md).
func serverTunnel(name, backend, keys string) string {
	return serverTunnelPools(name, backend, keys, 2, 0)
}

// serverTunnelPools is serverTunnel with inbound 1-hop inbound tunnels
// and two outbound tunnels of outHops hops (with outHops > 0 the LeaseSet
// may stall in 2.45.1: wait for it in a floodfill's store).
func serverTunnelPools(name, backend, keys string, inbound, outHops int) string {
	host, port, _ := strings.Cut(backend, ":")
	return fmt.Sprintf(`[%s]
type = server
host = %s
port = %s
keys = %s
inbound.length = 1
inbound.quantity = %d
outbound.length = %d
outbound.quantity = 2
`, name, host, port, keys, inbound, outHops)
}

// checkInside runs ip and imh inside the namespace (addresses present, no
// default route) and fetches r5's console from the test process's
// in-namespace dialer.
func checkInside(ctx context.Context, t *testing.T, n *i2pdnet.Net) {
	t.Helper()
	out, err := n.Exec(ctx, "ip", "-o", "-4", "addr", "show", "dev", "lo").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr inside: %v: %s", err, out)
	}
	for _, r := range n.Routers() {
		if !strings.Contains(string(out), " "+r.Addr.String()+"/32 ") {
			t.Errorf("lo inside the namespace lacks %s:\n%s", r.Addr, out)
		}
	}
	out, err = n.Exec(ctx, "ip", "route", "show", "table", "all").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route inside: %v: %s", err, out)
	}
	if strings.Contains(string(out), "default") {
		t.Errorf("default route inside the namespace:\n%s", out)
	}
	if out, err := n.Exec(ctx, imhBin, "--help").CombinedOutput(); err != nil || len(out) == 0 {
		t.Errorf("imh --help inside the namespace: %v: %s", err, out)
	}
	page, err := n.Console(ctx, 5, "")
	if err != nil {
		t.Fatalf("console of r5: %v", err)
	}
	if h := n.Router(5).Hash.Base64(); !strings.Contains(page, h) {
		t.Errorf("r5's console does not show its router hash %s", h)
	}
}

// checkThreadsOutside asserts that every thread of this process is back in
// the process's own network namespace after the in-namespace dials (the
// dialer switches one locked thread in and out with setns).
func checkThreadsOutside(t *testing.T) {
	t.Helper()
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	links, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/ns/net", os.Getpid()))
	for _, l := range links {
		ns, err := os.Readlink(l)
		if err == nil && ns != own {
			t.Errorf("thread %s is in %s, not the process's %s", l, ns, own)
		}
	}
	if len(links) == 0 {
		t.Error("no threads found under /proc/self/task")
	}
}

// checkFloodfillSessions waits until the floodfills' transports pages show
// that they hold NTCP2 sessions with each other and, between them, with
// every non-floodfill router (each publishes its RouterInfo to a floodfill;
// which one is up to it, so one floodfill need not see them all). Peers are
// matched by the hash abbreviations the pages show.
func checkFloodfillSessions(ctx context.Context, t *testing.T, n *i2pdnet.Net) {
	t.Helper()
	seen := make(map[string]bool) // all abbreviations must be distinct
	for _, r := range n.Routers() {
		a := r.Hash.Base64()[:4]
		if seen[a] {
			t.Fatalf("two routers abbreviate to %s", a)
		}
		seen[a] = true
	}
	var peers map[int][]int // floodfill index -> peer indexes
	var missing []string
	if !eventually.Within(60*time.Second, func() bool {
		peers, missing = floodfillPeers(ctx, t, n)
		return len(missing) == 0
	}) {
		t.Fatalf("after 60s floodfill sessions %v lack %v", peers, missing)
	}
	t.Logf("floodfill sessions (router -> peers): %v", peers)
}

// floodfillPeers reads every floodfill's sessions and reports what the
// check above still misses.
func floodfillPeers(ctx context.Context, t *testing.T, n *i2pdnet.Net) (map[int][]int, []string) {
	peers := make(map[int][]int)
	reached := make(map[int]bool)
	var missing []string
	for _, ff := range n.Floodfills() {
		sessions, err := n.Transports(ctx, ff.Index)
		if err != nil {
			t.Logf("%s transports: %v", ff.Name(), err)
			return peers, []string{ff.Name() + "'s page"}
		}
		has := make(map[int]bool)
		for _, s := range sessions {
			if r, ok := n.RouterByAbbrev(s.Peer); ok && !has[r.Index] {
				has[r.Index] = true
				reached[r.Index] = true
				peers[ff.Index] = append(peers[ff.Index], r.Index)
			}
		}
		slices.Sort(peers[ff.Index])
	}
	// An NTCP2 session is one connection: the floodfills are connected when
	// either lists the other (a console page may briefly lag the other's).
	ffs := n.Floodfills()
	for i, ff := range ffs {
		for _, other := range ffs[i+1:] {
			if !slices.Contains(peers[ff.Index], other.Index) && !slices.Contains(peers[other.Index], ff.Index) {
				missing = append(missing, ff.Name()+"-"+other.Name())
			}
		}
	}
	for _, r := range n.Routers() {
		if !r.Floodfill && !reached[r.Index] {
			missing = append(missing, "floodfill-"+r.Name())
		}
	}
	return peers, missing
}

// fetchAcrossI2P fetches http://198.18.0.4:8080/ (r4's client tunnel to the
// web server tunnel on r5) until r5's console answers through I2P.
func fetchAcrossI2P(ctx context.Context, t *testing.T, n *i2pdnet.Net) {
	t.Helper()
	want := n.Router(5).Hash.Base64()
	client := n.HTTPClient()
	client.Timeout = 15 * time.Second
	var last string
	if !eventually.Within(2*time.Minute, func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://198.18.0.4:8080/", nil)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		last = fmt.Sprintf("status %s, %d bytes", resp.Status, len(body))
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), want)
	}) {
		t.Fatalf("no fetch through I2P from r4 to r5 within 2m; last: %s", last)
	}
}

// checkLeaseSets waits until a floodfill stores web's LeaseSet2 (see
// waitFloodfillStore for why one) with leases whose gateways are routers
// of this network.
func checkLeaseSets(ctx context.Context, t *testing.T, n *i2pdnet.Net, web *i2p.Destination) {
	t.Helper()
	stored := waitFloodfillStore(ctx, t, n, 90*time.Second, 15*time.Second, "web's LeaseSet2", func(ls i2pdnet.LeaseSetInfo) bool {
		return ls.Hash == web.Hash() && !ls.Expired && ls.Leases > 0
	})
	got := stored.First
	if got.B32 != web.B32() || got.StoreType != 3 {
		t.Errorf("floodfill stores %+v, want %s with store type 3", got, web.B32())
	}
	for i, g := range got.Gateways {
		r, ok := n.RouterByHash(g)
		if !ok {
			t.Errorf("lease %d gateway %s is no router of the network", i, g.Base64())
			continue
		}
		if r.Index == 5 {
			t.Errorf("lease %d gateway is r5 itself (1-hop inbound tunnels expected)", i)
		}
	}
	t.Logf("floodfills store %s (%v): store type %d, %d leases, gateways %v, tunnels %v, expires %s",
		got.B32, stored, got.StoreType, got.Leases, abbrevs(got.Gateways), got.Tunnels, got.Expires.Format(time.TimeOnly))
}

func abbrevs(hs []i2p.Hash) []string {
	var s []string
	for _, h := range hs {
		s = append(s, h.Base64()[:4])
	}
	return s
}

// TestTestnetTeardownOnFailure checks the failure paths: a Start that is
// cancelled midway leaves nothing behind, and a test step that fails (a
// router died, so WaitReady fails) followed by the deferred Close leaves
// nothing behind either.
func TestTestnetTeardownOnFailure(t *testing.T) {
	requireTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cleanupStale(ctx, t)

	t.Run("start cancelled", func(t *testing.T) {
		before := ownNamespaces()
		sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer scancel()
		n, err := i2pdnet.Start(sctx, i2pdnet.Options{Routers: 2, Floodfills: 1, Log: testnetLogger(t)})
		if err == nil {
			n.Close()
			t.Skip("Start finished within 300ms; nothing to cancel")
		}
		t.Logf("start failed as intended: %v", err)
		if after := ownNamespaces(); len(after) != len(before) {
			t.Errorf("namespaces before %v, after failed Start %v", before, after)
		}
		if pids := pidsMentioning(fmt.Sprintf("imh-%d-", os.Getpid())); len(pids) > 0 {
			t.Errorf("processes %v of this test's networks survived a failed Start", pids)
		}
	})

	t.Run("stale namespaces", testCleanupStale)

	t.Run("step fails then close", func(t *testing.T) {
		var ns, dir string
		err := func() error {
			n, err := i2pdnet.Start(ctx, i2pdnet.Options{Routers: 2, Floodfills: 1, Log: testnetLogger(t)})
			if err != nil {
				return fmt.Errorf("start: %w", err)
			}
			defer n.Close()
			ns, dir = n.Namespace(), n.Dir()
			if err := n.KillRouter(2); err != nil {
				return err
			}
			return n.WaitReady(ctx) // fails: r2 is dead
		}()
		if ns == "" {
			t.Fatalf("network did not start: %v", err)
		}
		if !errors.Is(err, i2pdnet.ErrRouterExited) {
			t.Fatalf("failing step: err %v, want ErrRouterExited", err)
		}
		t.Logf("step failed as intended: %.120s", err)
		assertTornDown(t, ns, dir)
	})
}

// testCleanupStale leaves a namespace with a process inside as a crashed
// run would (creator pid dead) and one of a live creator (this process):
// CleanupStale must remove the first with its process and keep the second.
func testCleanupStale(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("imh-%d-stale", dead.Process.Pid)
	live := fmt.Sprintf("imh-%d-live", os.Getpid())
	for _, ns := range []string{stale, live} {
		if out, err := exec.CommandContext(ctx, "ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", live).Run() })
	sleeper := exec.Command("ip", "netns", "exec", stale, "sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	sleepDone := make(chan struct{})
	go func() { _ = sleeper.Wait(); close(sleepDone) }()
	t.Cleanup(func() { _ = sleeper.Process.Kill() })

	removed, err := i2pdnet.CleanupStale(ctx)
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if !slices.Contains(removed, stale) || slices.Contains(removed, live) {
		t.Errorf("removed %v, want %s and not %s", removed, stale, live)
	}
	if i2pdnet.NamespaceExists(stale) || !i2pdnet.NamespaceExists(live) {
		t.Errorf("after cleanup: %s exists %v (want false), %s exists %v (want true)",
			stale, i2pdnet.NamespaceExists(stale), live, i2pdnet.NamespaceExists(live))
	}
	select {
	case <-sleepDone:
	case <-time.After(10 * time.Second):
		t.Error("the process in the stale namespace survived cleanup")
	}
}

// signalChildEnv makes TestTestnetSignalChild run: it is the child process
// of TestTestnetSignal.
const signalChildEnv = "IMH_TESTNET_SIGNAL_CHILD"

// TestTestnetSignal interrupts (SIGINT, as Ctrl-C does) a test process that
// holds a running network and checks that the process tore it down before
// exiting.
func TestTestnetSignal(t *testing.T) {
	requireTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTestnetSignalChild$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), signalChildEnv+"=1")
	cmd.Stderr = t.Output()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ns, dir string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "TESTNET %s %s", &ns, &dir); err == nil {
			break
		}
	}
	if ns == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("child did not report a running network")
	}
	if !i2pdnet.NamespaceExists(ns) || len(pidsMentioning(dir)) == 0 {
		t.Fatalf("child reports %s but it is not running", ns)
	}
	t0 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	t.Logf("child exited %v after SIGINT: %v", time.Since(t0).Round(time.Millisecond), err)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Errorf("child: %v, want death by signal", err)
	}
	assertTornDown(t, ns, dir)
}

// TestTestnetSignalChild holds a network until it is interrupted; it only
// runs as TestTestnetSignal's child.
func TestTestnetSignalChild(t *testing.T) {
	if os.Getenv(signalChildEnv) != "1" {
		t.Skip("child of TestTestnetSignal")
	}
	n, err := i2pdnet.Start(context.Background(), i2pdnet.Options{Routers: 2, Floodfills: 1, Log: testnetLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("TESTNET %s %s\n", n.Namespace(), n.Dir())
	time.Sleep(90 * time.Second) // the parent interrupts long before
	n.Close()
	t.Fatal("not interrupted")
}

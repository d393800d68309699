//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/frontend"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/i2pdnet"
)

// nsFrontend is one `imh frontend serve` beside an adapter, inside the
// namespace.
type nsFrontend struct {
	name, addr, http string
	p                *nsProc
}

// startNsFrontends runs a frontend beside each adapter of c (f-up3 beside
// up3, ...) and adds it to the cluster. Its status endpoint listens on its
// router's address (198.18.0.i), which the test reaches through the
// namespace (i2pdnet dials only routers' addresses).
func (c *nsCluster) startNsFrontends(ctx context.Context) {
	c.frontends = map[string]*nsFrontend{}
	for _, router := range []string{"up3", "up4"} {
		fe := &nsFrontend{
			name: "f-" + router,
			addr: fmt.Sprintf("127.0.0.1:%d", freePort(c.t)),
			http: fmt.Sprintf("%s:%d", c.n.Router(c.upIndex[router]).Addr, freePort(c.t)),
		}
		fe.p = c.start("frontend-"+fe.name, "frontend", "serve", "--name", fe.name, "--listen", fe.addr,
			"--router", c.upAddrs[router], "--http", fe.http, "--log-level", "debug")
		c.write(ctx, "frontend", "add", fe.name, "--addr", fe.addr, "--router", router, "--http-addr="+c.apis[0])
		c.frontends[router] = fe
	}
}

// frontendStatus reads the GET /status of the frontend beside router.
func (c *nsCluster) frontendStatus(router string) (frontend.Status, error) {
	var st frontend.Status
	err := httpGetJSONWith(c.n.HTTPClient(), "http://"+c.frontends[router].http+"/status", &st)
	return st, err
}

// frontendDest is the destination name as the frontend beside router
// reports it (zero if it serves no such destination or does not answer).
func (c *nsCluster) frontendDest(router, name string) frontend.DestStatus {
	st, err := c.frontendStatus(router)
	if err != nil {
		return frontend.DestStatus{}
	}
	for _, d := range st.Dests {
		if d.Name == name {
			return d
		}
	}
	return frontend.DestStatus{}
}

// fetchAll downloads url n times at once and checks every body against
// want; it returns one error naming every failed download.
func fetchAll(ctx context.Context, client *http.Client, url string, n int, want [32]byte, timeout time.Duration) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			b, err := httpGet(ctx, client, url, timeout)
			if err == nil && sha256.Sum256(b) != want {
				err = fmt.Errorf("%d bytes, sha256 differs", len(b))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	var msgs []string
	for i, err := range errs {
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("download %d: %v", i, err))
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%d of %d downloads failed: %s", len(msgs), n, strings.Join(msgs, "; "))
	}
	return nil
}

// svcFreshListen is r5's second client tunnel to the destination of
// TestFrontendsOnI2PD, used only after the active router is killed: a
// stock i2pd client that never talked to the destination before.
const svcFreshListen = "198.18.0.5:8081"

// frontendResumeBound: SIGKILL of the active i2pd -> the first new
// download through the fresh client tunnel that succeeds (the standby).
const frontendResumeBound = 120 * time.Second

// TestFrontendsOnI2PD is multi-client mode on the private i2pd network: a
// destination with --service tcp:// (an HTTP backend inside the
// namespace), --policy failover, --hops 1, --frontends on, on the adapters
// in front of r3 and r4, with a frontend beside each; stock i2pd is the
// client: a client tunnel on r5 (the destination's keys are made here and
// imported, so its b32 is in r5's tunnels.conf before i2pd starts), and a
// second one on r5 that stays unused until step 3.
//
//  1. A small page and 4 MiB (sha256 exact) through the client tunnel; the
//     active router's frontend reports the streams, the leader none.
//  2. The Raft leader is SIGKILLed during 10 concurrent 4 MiB downloads:
//     every one arrives exact (no byte passes through an agent).
//  3. The active i2pd router is SIGKILLed: once the standby's LeaseSet is
//     in a floodfill's store, new downloads through the unused client
//     tunnel succeed through the standby router's frontend
//     within frontendResumeBound, then 4 MiB exact; the time is measured,
//     and so is the time until the used client tunnel works again (not
//     asserted: i2pd keeps the cached LeaseSet until it nearly expires).
//
// Every figure is logged on one FIGURES line.
func TestFrontendsOnI2PD(t *testing.T) {
	i2pdPool.join(t)
	requireTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	blob := make([]byte, streamBlobSize)
	rand.Read(blob)
	want := sha256.Sum256(blob)

	svcKeyPath, svcB32 := newKeyFile(t)
	// r3 and r4 carry no transit tunnels, as in TestFailoverOnI2PD: the
	// router kill breaks only what it breaks on a large network.
	c := startNsCluster(ctx, t, i2pdnet.Options{
		NoTransit: []int{3, 4},
		Log:       testnetLogger(t),
		Tunnels: map[int]string{5: clientTunnel("svc-client", svcClientListen, svcB32) +
			clientTunnel("svc-fresh", svcFreshListen, svcB32)},
	})
	figs := map[string]string{}
	defer func() { logFigures(t, figs) }()
	c.startNsFrontends(ctx)

	ln, err := c.n.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := serveHTTPBackend(t, ln, blob)
	if got := c.addDest(ctx, "svc", svcKeyPath, "--policy", "failover", "--service", "tcp://"+backend, "--frontends", "on"); got != svcB32 {
		t.Fatalf("imported destination is %s, want %s", got, svcB32)
	}
	tDest := time.Now()
	stored := c.waitStored(ctx, tDest, 180*time.Second, map[string]int{svcB32: defaultInbound})
	tStored := tDest.Add(stored[svcB32])
	figs["ls_stored_after_import_s"] = fmt.Sprintf("%.1f", stored[svcB32].Seconds())

	// Both frontends attached (the standby is hot), one of them active.
	var active, standby string
	if !eventually.Within(60*time.Second, func() bool {
		st, err := c.statusOf(ctx)
		if err == nil {
			if d, ok := destOf(st, svcB32); ok && d.ActiveRouter != "" && len(d.StandbyRouters) == 1 {
				active, standby = d.ActiveRouter, d.StandbyRouters[0]
			}
		}
		return active != "" && c.frontendDest(active, "svc").Attached && c.frontendDest(standby, "svc").Attached
	}) {
		t.Fatalf("no active router with both frontends attached within 60 s: active %q, %s: %+v, %s: %+v",
			active, active, c.frontendDest(active, "svc"), standby, c.frontendDest(standby, "svc"))
	}
	t.Logf("active %s, standby %s; both frontends attached", active, standby)
	figs["active_first"] = active

	// 1. The small page (the first fetch that works), then 4 MiB.
	client := c.n.HTTPClient()
	client.Timeout = 3 * time.Minute
	base := "http://" + svcClientListen
	if _, err := firstFetch(ctx, client, base, 120*time.Second); err != nil {
		t.Fatalf("no fetch through r5's client tunnel within 120 s: %v; frontend %s: %+v", err, active, c.frontendDest(active, "svc"))
	}
	figs["first_fetch_after_ls_s"] = fmt.Sprintf("%.1f", time.Since(tStored).Seconds())
	t0 := time.Now()
	body, err := httpGet(ctx, client, base+"/big", 2*time.Minute)
	if err != nil {
		t.Fatalf("4 MiB through i2pd's client tunnel: %v", err)
	}
	if sha256.Sum256(body) != want {
		t.Fatalf("4 MiB through i2pd's client tunnel: %d bytes, sha256 differs", len(body))
	}
	figs["4MiB_MiBps"] = fmt.Sprintf("%.2f", 4/time.Since(t0).Seconds())
	t.Logf("4 MiB through the client tunnel and %s's frontend in %v", active, time.Since(t0).Round(time.Millisecond))
	fa := c.frontendDest(active, "svc")
	if fa.Accepted < 2 || fa.BytesOut < streamBlobSize {
		t.Errorf("frontend beside %s after a small page and 4 MiB: accepted %d, bytes out %d; want >= 2 and >= 4 MiB", active, fa.Accepted, fa.BytesOut)
	}
	figs["frontend_accepted_phase1"] = fmt.Sprint(fa.Accepted)
	st, err := c.statusOf(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := destOf(st, svcB32); d.Streams.Accepted != 0 {
		t.Errorf("the leader terminated %d streams in multi-client mode, want 0", d.Streams.Accepted)
	}

	// 2. Raft leader SIGKILL during 10 concurrent 4 MiB downloads.
	const concurrent = 10
	before := fa.Accepted
	t0 = time.Now()
	done := make(chan error, 1)
	go func() { done <- fetchAll(ctx, client, base+"/big", concurrent, want, 3*time.Minute) }()
	// Kill once every download's stream is open at the frontend.
	var fd frontend.DestStatus
	if !eventually.Within(60*time.Second, func() bool {
		fd = c.frontendDest(active, "svc")
		return fd.Accepted >= before+concurrent && fd.Open > 0
	}) {
		t.Fatalf("the %d downloads' streams not open at %s's frontend within 60 s: %+v", concurrent, active, fd)
	}
	if st, err = c.statusOf(ctx); err != nil || st.Leader == "" {
		t.Fatalf("no leader before the kill: %v", err)
	}
	newLeader, tElect := c.killLeader(ctx, st.Leader)
	open := c.frontendDest(active, "svc").Open
	if err := <-done; err != nil {
		t.Fatalf("across the leader SIGKILL: %v", err)
	}
	figs["leader_kill_new_leader_ms"] = fmt.Sprint(tElect.Milliseconds())
	figs["leader_kill_10x4MiB_s"] = fmt.Sprintf("%.1f", time.Since(t0).Seconds())
	figs["leader_kill_exact"] = fmt.Sprintf("%d/%d", concurrent, concurrent)
	t.Logf("leader %s SIGKILLed during %d concurrent 4 MiB downloads (%d streams open just after the kill), %s leads after %v; all exact in %v",
		st.Leader, concurrent, open, newLeader, tElect.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	if st, err = c.statusOf(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := destOf(st, svcB32); d.Streams.Accepted != 0 {
		t.Errorf("the new leader terminated %d streams in multi-client mode, want 0", d.Streams.Accepted)
	}

	// 3. SIGKILL of the active i2pd router: new downloads through the
	// standby, from two stock clients on r5: the client tunnel used so
	// far, which has the destination's LeaseSet cached (i2pd looks it up
	// again only 5 s before its expiry, up to ~10 min away) and an
	// ECIES-ratchet session whose other end died with the router (i2pd
	// starts a new one after 90 s without an answer); and a client tunnel
	// that never talked to the destination. The bound is asserted for the
	// fresh client; the used one is measured and reported.
	fresh := "http://" + svcFreshListen
	tKill, tSwitch, d := c.killActiveRouter(ctx, svcB32, active, standby, figs)
	var usedResume time.Duration
	var usedTries int
	usedDone := make(chan struct{})
	go func() {
		defer close(usedDone)
		usedResume, usedTries = c.resumeDownloads(ctx, client, base, tKill)
	}()
	// The fresh client's first lookup must find the standby's LeaseSet: a
	// stale one would stay cached until it nearly expires. i2pd publishes
	// a destination's LeaseSet at most every 20 s (PUBLISH_MIN_INTERVAL),
	// so the standby's may reach the floodfills up to 20 s after the switch.
	tFF := c.waitStandbyStored(ctx, svcB32, standby, statusLeases(d.LeaseSet), tKill)
	figs["switch_floodfill_ms"] = fmt.Sprint(tFF.Milliseconds())
	tResume, tries := c.resumeDownloads(ctx, client, fresh, tKill)
	<-usedDone
	figs["resume_fresh_client_ms"] = fmt.Sprint(tResume.Milliseconds())
	figs["resume_fresh_client_tries"] = fmt.Sprint(tries)
	figs["resume_used_client_ms"] = fmt.Sprint(usedResume.Milliseconds())
	figs["resume_used_client_tries"] = fmt.Sprint(usedTries)
	t.Logf("i2pd of %s SIGKILLed: balancer switched to %s after %v, its LeaseSet at a floodfill after %v; first new download through the fresh client tunnel %v after the kill (%d tries), through the used one %v (%d tries; 0 = none within %v)",
		active, standby, tSwitch.Round(time.Millisecond), tFF.Round(time.Millisecond), tResume.Round(time.Millisecond), tries, usedResume.Round(time.Millisecond), usedTries, frontendResumeBound)
	if tResume == 0 || tResume > frontendResumeBound {
		t.Fatalf("no new download through the fresh client tunnel and %s within %v of the kill of %s's i2pd (%d tries); %s's frontend: %+v",
			standby, frontendResumeBound, active, tries, standby, c.frontendDest(standby, "svc"))
	}
	t0 = time.Now()
	body, err = httpGet(ctx, client, fresh+"/big", 2*time.Minute)
	if err != nil || sha256.Sum256(body) != want {
		t.Fatalf("4 MiB through the standby: %d bytes, err %v (exact: %v)", len(body), err, err == nil && sha256.Sum256(body) == want)
	}
	figs["standby_4MiB_MiBps"] = fmt.Sprintf("%.2f", 4/time.Since(t0).Seconds())
	fs := c.frontendDest(standby, "svc")
	if fs.Accepted == 0 || fs.BytesOut < streamBlobSize {
		t.Errorf("frontend beside %s after the switch: accepted %d, bytes out %d; want > 0 and >= 4 MiB", standby, fs.Accepted, fs.BytesOut)
	}
	figs["standby_frontend_accepted"] = fmt.Sprint(fs.Accepted)
}

// waitStandbyStored waits until a floodfill stores b32's LeaseSet with
// only standby's leases (those of leases, or of any LeaseSet the balancer
// publishes for standby meanwhile) and returns how long after tKill.
func (c *nsCluster) waitStandbyStored(ctx context.Context, b32, standby string, leases map[leaseRef]bool, tKill time.Time) time.Duration {
	var stored time.Duration
	if !eventually.Within(60*time.Second, func() bool {
		if st, err := c.statusOf(ctx); err == nil {
			if d, _ := destOf(st, b32); d.ActiveRouter == standby && len(d.LeasesByRouter) == 1 {
				maps.Copy(leases, statusLeases(d.LeaseSet))
			}
		}
		for _, ff := range c.n.Floodfills() {
			lss, err := c.n.LeaseSets(ctx, ff.Index)
			if err != nil {
				continue
			}
			for _, ls := range lss {
				if ls.B32 == b32 && !ls.Expired && !ls.Invalid && onlyLeases(ls, leases) {
					stored = time.Since(tKill)
					return true
				}
			}
		}
		return false
	}) {
		c.t.Fatalf("the %s-only LeaseSet is in no floodfill's store within 60 s", standby)
	}
	return stored
}

// resumeDownloads measures when a new download of the small page from
// base (a client tunnel) first succeeds after tKill: a new fetch (30 s timeout)
// starts every 2 s, at most 6 at once, until one succeeds or
// frontendResumeBound has passed. Fetches run side by side so that one
// stuck on a dead path does not hide a later one that would work. It
// returns the time from tKill to the first success (0: none) and how many
// fetches were started.
func (c *nsCluster) resumeDownloads(ctx context.Context, client *http.Client, base string, tKill time.Time) (time.Duration, int) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		at  time.Time
		err error
	}
	results := make(chan result, 64)
	running, tries := 0, 0
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	start := func() {
		running++
		tries++
		go func() {
			b, err := httpGet(ctx, client, base+"/", 30*time.Second)
			if err == nil && string(b) != smallPage {
				err = fmt.Errorf("body %q", b)
			}
			results <- result{time.Now(), err}
		}()
	}
	start()
	deadline := time.After(time.Until(tKill.Add(frontendResumeBound)))
	var lastErr error
	for {
		select {
		case r := <-results:
			running--
			if r.err == nil {
				return r.at.Sub(tKill), tries
			}
			lastErr = r.err
		case <-tick.C:
			if running < 6 {
				start()
			}
		case <-deadline:
			c.t.Logf("no new download from %s within %v of the kill; last error: %v", base, frontendResumeBound, lastErr)
			return 0, tries
		}
	}
}

//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
)

// frontendProc is one `imh frontend serve` beside a router.
type frontendProc struct {
	name, addr, http string
	p                *proc
}

// startFrontends runs a frontend beside every router of e and adds it to
// the cluster.
func startFrontends(t testing.TB, e *balancerEnv, api string) []*frontendProc {
	t.Helper()
	var fes []*frontendProc
	for _, r := range e.n.routers {
		f := &frontendProc{
			name: "f-" + r.name,
			addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			http: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		}
		f.p = startIMH(t, f.name, "frontend", "serve", "--name", f.name, "--listen", f.addr, "--router", r.addr, "--http", f.http)
		balancerIMH(t, "frontend", "add", f.name, "--addr", f.addr, "--router", r.name, api)
		fes = append(fes, f)
	}
	return fes
}

// frontendStatus is the part of a frontend's GET /status the test reads.
type frontendStatus struct {
	Term  uint64 `json:"term"`
	Dests []struct {
		Name     string `json:"name"`
		Attached bool   `json:"attached"`
		Accepted uint64 `json:"accepted"`
		BytesOut uint64 `json:"bytes_out"`
	} `json:"destinations"`
}

// downloads runs n concurrent `imh nc` downloads of /big and returns a
// channel that gets one error (nil if every one arrived exact).
func downloads(ctx context.Context, e *balancerEnv, n int, want [32]byte) <-chan error {
	out := make(chan error, 1)
	go func() {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := ncGet(ctx, e.n.simAddr, e.b32, "/big")
				switch {
				case err != nil:
					errs <- fmt.Errorf("download %d: %v", i, err)
				case sha256.Sum256(got) != want:
					errs <- fmt.Errorf("download %d: %d bytes, not the file", i, len(got))
				}
			}()
		}
		wg.Wait()
		close(errs)
		var msgs []string
		for err := range errs {
			msgs = append(msgs, err.Error())
		}
		if len(msgs) > 0 {
			out <- fmt.Errorf("%d of %d downloads failed: %s", len(msgs), n, strings.Join(msgs, "; "))
			return
		}
		out <- nil
	}()
	return out
}

// TestFrontendsProcesses is multi-client mode with real processes: 3
// agents, 4 simulated routers, a frontend beside each. 20 concurrent 4 MiB
// downloads (imh nc) arrive exact while the Raft leader is SIGKILLed, then
// while leadership is transferred, then across a whole-cluster restart:
// no byte of a stream passes through an agent.
func TestFrontendsProcesses(t *testing.T) {
	clusterPool.join(t)
	blob := make([]byte, streamBlobSize)
	rand.Read(blob)
	want := sha256.Sum256(blob)
	backend := startHTTPBackend(t, blob)
	e := startBalancerEnvN(t, []string{"r1", "r2", "r3", "r4"}, "--inbound", "2", "--hops", "1", "--policy", "failover",
		"--service", "tcp://"+backend, "--frontends", "on")
	leader := e.tc.waitLeader(30 * time.Second)
	fes := startFrontends(t, e, "--http-addr="+leader.httpAddr)
	e.waitStoredLeases(t, 90*time.Second, "a LeaseSet with 2 leases", func(ls *i2p.LeaseSet2, _ map[string]int) bool { return len(ls.Leases) == 2 })
	if out := balancerIMH(t, "frontend", "list", "--http-addr="+leader.httpAddr); strings.Count(out, "f-r") != 4 {
		t.Fatalf("frontend list: %q", out)
	}

	phase := func(what string, fault func()) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		done := downloads(ctx, e, 20, want)
		time.Sleep(3 * time.Second) // the downloads are under way
		fault()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		el := time.Since(start)
		t.Logf("%s: 20 concurrent 4 MiB downloads exact in %s (%.1f MiB/s in all)", what, el.Round(time.Millisecond), 80/el.Seconds())
	}

	phase("leader SIGKILL", func() {
		l := e.tc.waitLeader(30 * time.Second)
		l.proc.Kill()
		e.tc.waitLeader(30 * time.Second)
		e.tc.start(l) // back to three for the next phases
	})
	phase("leadership transfer", func() {
		l := e.tc.waitLeader(30 * time.Second)
		imhOK(t, "cluster", "transfer-leader", "--http-addr", l.httpAddr)
	})
	phase("whole-cluster restart", func() {
		for _, a := range e.tc.agents {
			a.proc.Kill()
		}
		time.Sleep(time.Second) // the fault: no agent at all for a second
		for _, a := range e.tc.agents {
			e.tc.start(a)
		}
	})

	// The frontends carried every stream; the agents none.
	var accepted uint64
	for _, f := range fes {
		var st frontendStatus
		if err := httpGetJSON("http://"+f.http+"/status", &st); err != nil {
			t.Fatalf("%s status: %v", f.name, err)
		}
		for _, d := range st.Dests {
			accepted += d.Accepted
		}
	}
	if accepted < 60 {
		t.Errorf("the frontends accepted %d streams, want at least 60", accepted)
	}
	l := e.tc.waitLeader(30 * time.Second)
	st, err := l.status()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Destinations {
		if d.Streams.Accepted != 0 {
			t.Errorf("the leader terminated %d streams of %s in multi-client mode", d.Streams.Accepted, d.Name)
		}
	}

	// A removed frontend is told to serve nothing: it ends its
	// attachments at once, not when its key ends.
	gone := fes[len(fes)-1]
	balancerIMH(t, "frontend", "remove", gone.name, "--http-addr="+l.httpAddr)
	eventually.True(t, 15*time.Second, gone.name+" serving nothing", func() bool {
		var st frontendStatus
		return httpGetJSON("http://"+gone.http+"/status", &st) == nil && len(st.Dests) == 0
	})
	if out := balancerIMH(t, "frontend", "list", "--http-addr="+l.httpAddr); strings.Contains(out, gone.name) {
		t.Errorf("frontend list after remove: %q", out)
	}
}

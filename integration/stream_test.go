//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
)

// streamBlob is the file the HTTP backend serves: 4 MiB of random bytes.
const streamBlobSize = 4 << 20

// startHTTPBackend serves blob at /big and a small page at / on loopback.
func startHTTPBackend(t testing.TB, blob []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveHTTPBackend(t, ln, blob)
}

// smallPage is what the HTTP backend serves at /.
const smallPage = "<h1>imh</h1>\n"

// serveHTTPBackend serves blob at /big and smallPage at / on ln until the
// test ends, and returns ln's address.
func serveHTTPBackend(t testing.TB, ln net.Listener, blob []byte) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { w.Write(blob) })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, smallPage) })
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// ncGet fetches path from b32 with `imh nc` over the simulated network
// (an HTTP/1.0 request on stdin) and returns the response body.
func ncGet(ctx context.Context, simAddr, b32, path string) ([]byte, error) {
	var body bytes.Buffer
	if _, err := ncCopy(ctx, simAddr, b32, path, &body); err != nil {
		return nil, err
	}
	return body.Bytes(), nil
}

// ncCopy is ncGet writing the body to w as it arrives (a hash, for large
// bodies) and returning its length.
func ncCopy(ctx context.Context, simAddr, b32, path string, w io.Writer) (int64, error) {
	cmd := exec.CommandContext(ctx, imhBin, "nc", b32, "--network", "simnet://"+simAddr)
	cmd.Stdin = strings.NewReader("GET " + path + " HTTP/1.0\r\nHost: " + b32 + "\r\n\r\n")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	n, copyErr := copyResponse(out, w)
	io.Copy(io.Discard, out) // what follows a bad response, so that Wait returns
	if err := cmd.Wait(); err != nil {
		return n, fmt.Errorf("imh nc: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	return n, copyErr
}

// copyResponse reads an HTTP response from r and copies its body to w.
func copyResponse(r io.Reader, w io.Writer) (int64, error) {
	resp, err := http.ReadResponse(bufio.NewReader(r), nil)
	if err != nil {
		return 0, fmt.Errorf("response: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	return io.Copy(w, resp.Body)
}

// TestStreamServiceProcesses: a TCP service on a 3-agent cluster with two
// simulated routers (failover), reached by `imh nc` processes. 20
// concurrent downloads of 4 MiB arrive exact; a refusing backend gives the
// client a clean error (exit 1); after a Raft leader SIGKILL new
// connections work again within a bound, reported.
func TestStreamServiceProcesses(t *testing.T) {
	clusterPool.join(t)
	blob := make([]byte, streamBlobSize)
	rand.Read(blob)
	want := sha256.Sum256(blob)
	backend := startHTTPBackend(t, blob)
	e := startBalancerEnvN(t, []string{"r1", "r2"}, "--inbound", "2", "--hops", "1", "--policy", "failover", "--service", "tcp://"+backend)
	e.waitStoredLeases(t, 90*time.Second, "a LeaseSet with 2 leases", func(ls *i2p.LeaseSet2, _ map[string]int) bool { return len(ls.Leases) == 2 })

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	if err := <-downloads(ctx, e, 20, want); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("20 concurrent 4 MiB downloads through imh nc: %s (%.1f MiB/s in all)", el.Round(time.Millisecond), 80/el.Seconds())

	// The status shows the traffic.
	leader := e.tc.waitLeader(30 * time.Second)
	eventually.True(t, 10*time.Second, "status: 20 streams, 80 MiB out", func() bool {
		st, err := leader.status()
		if err != nil || len(st.Destinations) == 0 {
			return false
		}
		s := st.Destinations[0].Streams
		return s.Accepted >= 20 && s.BytesOut >= 20*streamBlobSize
	})

	// A refusing backend: exit 1 with a one-line error, promptly.
	dead := deadTCPAddr(t)
	balancerIMH(t, "dest", "create", "dead", "--inbound", "1", "--hops", "1", "--policy", "failover", "--service", "tcp://"+dead, "--http-addr="+leader.httpAddr)
	var deadB32 string
	eventually.True(t, 30*time.Second, "the dead destination listed", func() bool {
		st, err := leader.status()
		for _, d := range st.Destinations {
			if err == nil && d.Name == "dead" && d.Leases > 0 {
				deadB32 = d.B32
			}
		}
		return deadB32 != ""
	})
	// TCP under spread is accepted with a warning naming the fix.
	_, stderr, code := runIMH(t, "dest", "set", "dead", "--policy", "spread", "--http-addr="+leader.httpAddr)
	if code != 0 || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "failover") {
		t.Fatalf("dest set --policy spread on a TCP service: exit %d, stderr %q (want 0 and a warning)", code, stderr)
	}
	balancerIMH(t, "dest", "set", "dead", "--policy", "failover", "--http-addr="+leader.httpAddr)
	rctx, rcancel := context.WithTimeout(t.Context(), time.Minute)
	defer rcancel()
	cmd := exec.CommandContext(rctx, imhBin, "nc", deadB32, "--network", "simnet://"+e.n.simAddr)
	cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "refused") && !strings.Contains(string(out), "reset") {
		t.Fatalf("nc to a refusing backend: %v: %q (want exit 1, refused or reset)", err, out)
	}

	// Leader SIGKILL: new connections fail until the new leader serves.
	leader.proc.Kill()
	killed := time.Now()
	var firstOK time.Duration
	eventually.True(t, 90*time.Second, "a new connection after the leader kill", func() bool {
		c, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		got, err := ncGet(c, e.n.simAddr, e.b32, "/")
		if err == nil && string(got) == "<h1>imh</h1>\n" {
			firstOK = time.Since(killed)
			return true
		}
		return false
	})
	t.Logf("leader SIGKILL: new connections work again after %s", firstOK.Round(100*time.Millisecond))
	if firstOK > 30*time.Second {
		t.Errorf("new connections failed for %s after the leader kill (bound 30 s)", firstOK)
	}
}

// deadTCPAddr is a loopback address nothing listens on.
func deadTCPAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

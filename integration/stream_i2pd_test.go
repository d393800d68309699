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
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/i2pdnet"
)

// Addresses inside the namespace of TestStreamServiceOnI2PD.
const (
	// svcClientListen is r5's i2pd client tunnel to the imh destination.
	svcClientListen = "198.18.0.5:8080"
	// webBackendAddr is the HTTP backend of r4's i2pd server tunnel; its
	// port is fixed because tunnels.conf is written before the namespace
	// (and so the listener) exists. Nothing else listens there.
	webBackendAddr = "127.0.0.1:18090"
)

// TestStreamServiceOnI2PD is imh's streaming against stock i2pd 2.45.1 on
// the private network, both ways:
//
//   - i2pd as the client: a destination with --service tcp:// (an HTTP
//     backend served by the test inside the namespace), --policy failover,
//     --hops 1 on the adapters in front of r3 and r4; an i2pd client tunnel
//     on r5 points at it (its keys are made here and imported, so the b32
//     is known before i2pd starts). A small page, 4 MiB (sha256 exact) and
//     10 concurrent 4 MiB downloads through the client tunnel.
//   - i2pd as the server: `imh nc` over r5's I2CP to an i2pd server tunnel
//     on r4 in front of the same kind of backend, 4 MiB exact.
//
// It logs one FIGURES line: time from the LeaseSet's arrival in a
// floodfill's store to the first fetch that succeeds, the 4 MiB download's
// throughput, the median setup latency (connect to first byte) of 10 small
// fetches, and the nc download's throughput. The first SYN i2pd sent to
// the service is logged as hex (the golden vector of streaming/testdata).
func TestStreamServiceOnI2PD(t *testing.T) {
	i2pdPool.join(t)
	requireTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	blob := make([]byte, streamBlobSize)
	rand.Read(blob)
	want := sha256.Sum256(blob)

	// Keys made before i2pd starts, so that its tunnels.conf can name them.
	// i2pd's server tunnel is added once the network has settled (see
	// i2pdnet.Net.AddTunnels: one that starts with the router may publish
	// its LeaseSet before reaching a floodfill and not again for minutes).
	svcKeyPath, svcB32 := newKeyFile(t)
	webKeyPath, webB32 := newKeyFile(t)
	webFile, err := os.ReadFile(webKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	c := startNsCluster(ctx, t, i2pdnet.Options{
		Log:     testnetLogger(t),
		Files:   map[int]map[string][]byte{4: {"web.dat": webFile}},
		Tunnels: map[int]string{5: clientTunnel("svc-client", svcClientListen, svcB32)},
	})
	figs := map[string]string{}
	defer func() { logFigures(t, figs) }()

	// Both backends inside the namespace: the agents and i2pd run there.
	for _, addr := range []string{"127.0.0.1:0", webBackendAddr} {
		ln, err := c.n.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		addr = serveHTTPBackend(t, ln, blob)
		if addr != webBackendAddr {
			if got := c.addDest(ctx, "svc", svcKeyPath, "--policy", "failover", "--service", "tcp://"+addr); got != svcB32 {
				t.Fatalf("imported destination is %s, want %s", got, svcB32)
			}
		}
	}
	if err := c.n.AddTunnels(4, "web", serverTunnel("web", webBackendAddr, "web.dat")); err != nil {
		t.Fatal(err)
	}
	tDest := time.Now()
	stored := c.waitStored(ctx, tDest, 180*time.Second, map[string]int{svcB32: defaultInbound})
	t.Logf("the service's LeaseSet (%d leases, one router's: failover) at a floodfill %v after dest import", defaultInbound, stored[svcB32].Round(time.Millisecond))
	tStored := tDest.Add(stored[svcB32])

	// i2pd's client tunnel -> imh: the first fetch that works.
	client := c.n.HTTPClient()
	client.Timeout = 2 * time.Minute
	base := "http://" + svcClientListen
	last, err := firstFetch(ctx, client, base, 120*time.Second)
	if err != nil {
		t.Fatalf("no fetch through r5's client tunnel within 120 s of the LeaseSet: %v", err)
	}
	figs["first_fetch_after_ls_s"] = fmt.Sprintf("%.1f", time.Since(tStored).Seconds())
	t.Logf("first fetch through i2pd's client tunnel %v after the LeaseSet was stored (last error before: %v)",
		time.Since(tStored).Round(time.Millisecond), last)
	if syn := firstSYNHex(c); syn != "" {
		t.Logf("I2PD_SYN %s", syn)
	}

	// 4 MiB, then 5 at once, all exact.
	t0 := time.Now()
	body, err := httpGet(ctx, client, base+"/big", 2*time.Minute)
	if err != nil {
		t.Fatalf("4 MiB through i2pd's client tunnel: %v", err)
	}
	took := time.Since(t0)
	if sha256.Sum256(body) != want {
		t.Fatalf("4 MiB through i2pd's client tunnel: %d bytes, sha256 differs", len(body))
	}
	figs["i2pd_client_4MiB_MiBps"] = fmt.Sprintf("%.2f", 4/took.Seconds())
	t.Logf("4 MiB through i2pd's client tunnel in %v (%.2f MiB/s)", took.Round(time.Millisecond), 4/took.Seconds())

	t0 = time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() {
			b, err := httpGet(ctx, client, base+"/big", 3*time.Minute)
			if err == nil && sha256.Sum256(b) != want {
				err = fmt.Errorf("%d bytes, sha256 differs", len(b))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent download %d: %v", i, err)
		}
	}
	figs["i2pd_client_10x4MiB_s"] = fmt.Sprintf("%.1f", time.Since(t0).Seconds())
	t.Logf("10 concurrent 4 MiB downloads in %v", time.Since(t0).Round(time.Millisecond))

	// The service's resends (spurious ones show as i2pd's "Duplicate
	// message" warnings on r5).
	if st, err := c.statusOf(ctx); err == nil {
		if d, ok := destOf(st, svcB32); ok {
			s := d.Streams
			pkts := s.BytesOut / 1730
			figs["svc_resends"] = fmt.Sprint(s.Resends)
			t.Logf("service streams: accepted %d, out %d bytes (about %d data packets), resends %d (%.1f %%), send failures %d",
				s.Accepted, s.BytesOut, pkts, s.Resends, 100*float64(s.Resends)/float64(max(pkts, 1)), s.SendFailures)
		}
	}

	// Setup latency: connect to first byte of 10 small fetches.
	var setups []time.Duration
	for range 10 {
		d, err := firstByte(ctx, client, base+"/")
		if err != nil {
			t.Errorf("small fetch: %v", err)
			continue
		}
		setups = append(setups, d)
	}
	if len(setups) > 0 {
		slices.Sort(setups)
		med := setups[len(setups)/2]
		figs["setup_median_ms"] = fmt.Sprint(med.Milliseconds())
		t.Logf("setup latency (connect to first byte) of %d small fetches: median %v, min %v, max %v",
			len(setups), med, setups[0], setups[len(setups)-1])
	}

	// imh nc -> i2pd's server tunnel on r4.
	c.waitStored(ctx, tDest, 180*time.Second, map[string]int{webB32: 0})
	t0 = time.Now()
	body, err = c.ncGet(ctx, webB32, "/big")
	if err != nil {
		t.Fatalf("imh nc to i2pd's server tunnel: %v", err)
	}
	if sha256.Sum256(body) != want {
		t.Fatalf("imh nc to i2pd's server tunnel: %d bytes, sha256 differs", len(body))
	}
	figs["nc_to_i2pd_4MiB_s"] = fmt.Sprintf("%.1f", time.Since(t0).Seconds())
	t.Logf("imh nc: 4 MiB from i2pd's server tunnel in %v (including the transient session's tunnels and lookup)", time.Since(t0).Round(time.Millisecond))
}

// logFigures logs figs on one FIGURES line, keys sorted.
func logFigures(t testing.TB, figs map[string]string) {
	keys := make([]string, 0, len(figs))
	for k := range figs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, figs[k])
	}
	t.Logf("FIGURES%s", b.String())
}

// firstFetch fetches the small page from base (a client tunnel) until it
// arrives, at most for within. It returns the last error before the
// success, or an error if none succeeded.
func firstFetch(ctx context.Context, client *http.Client, base string, within time.Duration) (last, err error) {
	if eventually.Within(within, func() bool {
		body, err := httpGet(ctx, client, base+"/", 20*time.Second)
		if err == nil && string(body) == smallPage {
			return true
		}
		if err == nil {
			err = fmt.Errorf("body %q, want %q", body, smallPage)
		}
		last = err
		return false
	}) {
		return last, nil
	}
	return last, last
}

// httpGet fetches url and returns the body of a 200 answer.
func httpGet(ctx context.Context, client *http.Client, url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return body, fmt.Errorf("body after %d bytes: %w", len(body), err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("status %s", resp.Status)
	}
	return body, nil
}

// firstByte fetches url (the small page, checked) and returns the time
// from the TCP connect to the first byte of the answer.
func firstByte(ctx context.Context, client *http.Client, url string) (time.Duration, error) {
	var connected, first time.Time
	trace := &httptrace.ClientTrace{
		ConnectDone:          func(string, string, error) { connected = time.Now() },
		GotFirstResponseByte: func() { first = time.Now() },
	}
	ctx = httptrace.WithClientTrace(ctx, trace)
	body, err := httpGet(ctx, client, url, 30*time.Second)
	if err != nil {
		return 0, err
	}
	if string(body) != smallPage || connected.IsZero() || first.IsZero() {
		return 0, fmt.Errorf("body %q, connected %v, first byte %v", body, connected, first)
	}
	return first.Sub(connected), nil
}

// ncGet fetches path from b32 with `imh nc` over r5's I2CP (an HTTP/1.0
// request) and returns the response body. stdin stays open until nc exits:
// i2pd ends the whole stream when it gets a CLOSE (it has no half-close),
// so a CLOSE after the request could cut the answer off.
func (c *nsCluster) ncGet(ctx context.Context, b32, path string) ([]byte, error) {
	out, stderr, code := c.runCmd(ctx, func(cmd *exec.Cmd) error {
		in, err := cmd.StdinPipe() // closed by Wait once nc has exited
		if err != nil {
			return err
		}
		_, err = io.WriteString(in, "GET "+path+" HTTP/1.0\r\nHost: "+b32+"\r\n\r\n")
		return err
	}, "nc", b32, "--via", c.via)
	if code != 0 {
		return nil, fmt.Errorf("imh nc: exit %d: %s", code, strings.TrimSpace(stderr))
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader([]byte(out))), nil)
	if err != nil {
		return nil, fmt.Errorf("response: %v (%d bytes)", err, len(out))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

var synLogRE = regexp.MustCompile(`msg=syn .*packet=([0-9a-f]+)`)

// firstSYNHex returns the first incoming SYN an agent logged (debug).
func firstSYNHex(c *nsCluster) string {
	for _, p := range c.agents {
		b, _ := os.ReadFile(p.log)
		if m := synLogRE.FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	return ""
}

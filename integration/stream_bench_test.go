//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/i2pdnet"
	"github.com/imh-project/imh/router/simnet"
	"github.com/imh-project/imh/streaming"
)

// i2pdClientListen is r5's i2pd client tunnel to the i2pd server tunnel of
// BenchmarkStreamVsI2pd (svcClientListen leads to imh).
const i2pdClientListen = "198.18.0.5:8082"

// streamVsI2pd is what BenchmarkStreamVsI2pd measures of one side.
type streamVsI2pd struct {
	MiBps        []float64 `json:"mib_per_s"`         // each 16 MiB download
	MedianMiBps  float64   `json:"median_mib_per_s"`  // their median
	SetupMs      []float64 `json:"setup_ms"`          // connect -> first byte of each small fetch
	MedianSetup  float64   `json:"median_setup_ms"`   // their median
	Router       string    `json:"router"`            // the router the server side ran on
	FirstFetchMs int64     `json:"first_fetch_ms"`    // LeaseSet stored -> first fetch that worked
	Resends      uint64    `json:"resends,omitempty"` // imh's stream resends (all downloads)
}

// BenchmarkStreamVsI2pd compares imh's streaming with i2pd's on the
// private i2pd network, fetched the same way: the Go HTTP client through
// an i2pd client tunnel on r5 (1-hop tunnels), to
//
//   - imh: a destination with --service tcp:// (an HTTP backend inside the
//     namespace), --policy failover, --hops 1, --inbound 1, --outbound 2,
//     on the adapters in front of r3 and r4; the streams end in the Raft
//     leader (single-client mode);
//   - i2pd: a server tunnel on r4 in front of the same kind of backend,
//     with the same tunnels (one 1-hop inbound, two 1-hop outbound), added
//     once the network has settled.
//
// Per iteration: 3 downloads of 16 MiB per side, alternating sides, and 10
// small fetches per side, alternating; it reports the medians (MiB/s, and
// setup = connect to first byte, ms) and the ratios imh/i2pd (the goal for
// throughput is >= 0.9).
func BenchmarkStreamVsI2pd(b *testing.B) {
	requireTestnet(b)
	const size, downloads, setups = 16 << 20, 3, 10
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	blob := make([]byte, size)
	rand.Read(blob)
	want := sha256.Sum256(blob)

	// i2pd's server tunnel is added once the network has settled (see
	// i2pdnet.Net.AddTunnels); r5's client tunnel to it is there from
	// the start.
	svcKeyPath, svcB32 := newKeyFile(b)
	webKeyPath, webB32 := newKeyFile(b)
	webFile, err := os.ReadFile(webKeyPath)
	if err != nil {
		b.Fatal(err)
	}
	c := startNsCluster(ctx, b, i2pdnet.Options{
		Log:   testnetLogger(b),
		Files: map[int]map[string][]byte{4: {"web.dat": webFile}},
		Tunnels: map[int]string{5: clientTunnel("svc-client", svcClientListen, svcB32) +
			clientTunnel("web-client", i2pdClientListen, webB32)},
	})
	for _, addr := range []string{"127.0.0.1:0", webBackendAddr} {
		ln, err := c.n.Listen("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if addr = serveHTTPBackend(b, ln, blob); addr != webBackendAddr {
			c.addDest(ctx, "svc", svcKeyPath, "--policy", "failover", "--service", "tcp://"+addr)
		}
	}
	if err := c.n.AddTunnels(4, "web", serverTunnelPools("web", webBackendAddr, "web.dat", 1, 1)); err != nil {
		b.Fatal(err)
	}
	tDest := time.Now()
	stored := c.waitStored(ctx, tDest, 180*time.Second, map[string]int{svcB32: 1, webB32: 1})
	sides := []struct {
		name, base string
		res        *streamVsI2pd
	}{
		{"imh", "http://" + svcClientListen, &streamVsI2pd{}},
		{"i2pd", "http://" + i2pdClientListen, &streamVsI2pd{Router: "r4"}},
	}
	client := c.n.HTTPClient()
	client.Timeout = 5 * time.Minute
	for i, s := range sides {
		if _, err := firstFetch(ctx, client, s.base, 120*time.Second); err != nil {
			b.Fatalf("%s: no fetch through r5's client tunnel within 120 s: %v", s.name, err)
		}
		s.res.FirstFetchMs = time.Since(tDest.Add(stored[[]string{svcB32, webB32}[i]])).Milliseconds()
	}
	st, err := c.statusOf(ctx)
	if err != nil {
		b.Fatal(err)
	}
	d, _ := destOf(st, svcB32)
	sides[0].res.Router = d.ActiveRouter
	resends0 := d.Streams.Resends

	for b.Loop() {
		for range downloads {
			for _, s := range sides {
				t0 := time.Now()
				body, err := httpGet(ctx, client, s.base+"/big", 5*time.Minute)
				el := time.Since(t0)
				if err != nil || sha256.Sum256(body) != want {
					b.Fatalf("%s: 16 MiB download: %d bytes, err %v", s.name, len(body), err)
				}
				s.res.MiBps = append(s.res.MiBps, size/(1<<20)/el.Seconds())
			}
		}
		for range setups {
			for _, s := range sides {
				d, err := firstByte(ctx, client, s.base+"/")
				if err != nil {
					b.Fatalf("%s: small fetch: %v", s.name, err)
				}
				s.res.SetupMs = append(s.res.SetupMs, float64(d.Microseconds())/1000)
			}
		}
	}
	if st, err := c.statusOf(ctx); err == nil {
		if d, ok := destOf(st, svcB32); ok {
			sides[0].res.Resends = d.Streams.Resends - resends0
		}
	}
	res := map[string]*streamVsI2pd{}
	for _, s := range sides {
		s.res.MedianMiBps, s.res.MedianSetup = median(s.res.MiBps), median(s.res.SetupMs)
		b.ReportMetric(s.res.MedianMiBps, s.name+"-MiB/s")
		b.ReportMetric(s.res.MedianSetup, s.name+"-setup-ms")
		res[s.name] = s.res
	}
	imh, ref := sides[0].res, sides[1].res
	b.ReportMetric(imh.MedianMiBps/ref.MedianMiBps, "MiB/s-imh/i2pd")
	b.ReportMetric(imh.MedianSetup/ref.MedianSetup, "setup-imh/i2pd")
	b.Logf("imh (active %s): %.2f MiB/s %v, setup %.1f ms; i2pd (r4): %.2f MiB/s %v, setup %.1f ms; imh resends %d",
		imh.Router, imh.MedianMiBps, imh.MiBps, imh.MedianSetup, ref.MedianMiBps, ref.MiBps, ref.MedianSetup, imh.Resends)
	writeBenchJSON(b, "stream-vs-i2pd.json", res)
}

// median is the middle of xs (the upper one of an even count); 0 if empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// idleStreams is what BenchmarkLeaderIdleStreams measures.
type idleStreams struct {
	Streams        int     `json:"streams"`
	BaseCPU        float64 `json:"base_cpu_pct"` // leader CPU without streams, % of one core
	BaseRSSMiB     float64 `json:"base_rss_mib"`
	IdleCPU        float64 `json:"idle_cpu_pct"` // leader CPU with the streams open and idle
	IdleRSSMiB     float64 `json:"idle_rss_mib"`
	BytesPerStream float64 `json:"bytes_per_stream"` // (IdleRSS - BaseRSS) / Streams
	OpenSeconds    float64 `json:"open_s"`           // opening them all
	LeaderPid      int     `json:"leader_pid"`
}

// idleClients is how many client destinations open the idle streams: the
// leader allows 64 streams per remote destination (streaming.Limits).
const idleClients = 25

// BenchmarkLeaderIdleStreams measures the Raft leader's CPU and RSS with
// 1,000 idle streams open to a single-client TCP service (the setup of
// BenchmarkLeaderStreams, simulated network), against the same leader
// without streams: the test process opens them with streaming.Mux clients
// on idleClients endpoints of the simulated network, each stream's TCP
// connection to the HTTP backend waiting for a request that never comes.
func BenchmarkLeaderIdleStreams(b *testing.B) {
	const streams, window = 1000, 10 * time.Second
	s := startStreamBench(b, false, 1<<10)
	muxes := idleStreamClients(b, s.e.n.simAddr)
	pid := s.leader.proc.Pid()
	L := &idleStreams{Streams: streams, LeaderPid: pid}
	for b.Loop() {
		base := s.idle(b, window)
		t0 := time.Now()
		conns := openIdleStreams(b, muxes, s.e.b32, streams)
		L.OpenSeconds = time.Since(t0).Seconds()
		eventually.True(b, 60*time.Second, fmt.Sprintf("%d streams open at the leader", streams), func() bool {
			st, err := s.leader.status()
			return err == nil && len(st.Destinations) > 0 && st.Destinations[0].Streams.Open >= streams
		})
		idle := s.idle(b, window)
		L.BaseCPU, L.BaseRSSMiB, L.IdleCPU, L.IdleRSSMiB = base.cpu, base.rss, idle.cpu, idle.rss
		L.BytesPerStream = (idle.rss - base.rss) * (1 << 20) / streams
		for _, c := range conns {
			c.Close()
		}
		eventually.True(b, 2*time.Minute, "the idle streams closed at the leader", func() bool {
			st, err := s.leader.status()
			return err == nil && len(st.Destinations) > 0 && st.Destinations[0].Streams.Open == 0
		})
	}
	s.checkCarrier(b, streams)
	b.ReportMetric(L.BaseCPU, "leader-base-cpu-%")
	b.ReportMetric(L.IdleCPU, "leader-cpu-%")
	b.ReportMetric(L.BaseRSSMiB, "leader-base-rss-MiB")
	b.ReportMetric(L.IdleRSSMiB, "leader-rss-MiB")
	b.ReportMetric(L.BytesPerStream, "B/stream")
	b.ReportMetric(L.OpenSeconds, "open-s")
	writeBenchJSON(b, "leader-idle-streams.json", L)
}

// idleStreamClients attaches idleClients endpoints with transient
// destinations to the simulated network at simAddr, each with a Mux.
func idleStreamClients(b *testing.B, simAddr string) []*streaming.Mux {
	b.Helper()
	muxes := make([]*streaming.Mux, idleClients)
	for i := range muxes {
		keys, err := i2p.NewPrivateKeys(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		ep, err := simnet.DialEndpoint(b.Context(), simAddr, keys, simnet.BehaviourI2pd, nil)
		if err != nil {
			b.Fatal(err)
		}
		mux, err := streaming.NewClientMux(keys, ep.Send, ep.Lookup, nil)
		if err != nil {
			ep.Close()
			b.Fatal(err)
		}
		ep.SetHandler(func(p []byte) { _ = mux.HandlePayload(p) })
		b.Cleanup(func() { mux.Close(); ep.Close() })
		muxes[i] = mux
	}
	return muxes
}

// openIdleStreams opens n streams to b32 (with .b32.i2p) spread over muxes, a few at a
// time; a SYN the leader refuses (its SYN rate limit, 50/s) is tried again.
func openIdleStreams(b *testing.B, muxes []*streaming.Mux, b32 string, n int) []net.Conn {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
	defer cancel()
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range next {
				for {
					c, err := muxes[i%len(muxes)].Dial(ctx, b32)
					if errors.Is(err, streaming.ErrRefused) && ctx.Err() == nil {
						time.Sleep(100 * time.Millisecond) // a retry's pause; ctx ends the loop
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("stream %d: %w", i, err)
					}
					conns[i] = c
					break
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("opening %d idle streams: %v (and %d more errors)", n, err, len(errs))
	}
	return conns
}

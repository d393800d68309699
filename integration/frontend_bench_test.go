//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
)

// streamBench is one mode's setup for the stream benchmarks: the setup of
// TestFrontendsProcesses (3 agents, 4 simulated routers, failover, 2
// inbound tunnels of 1 hop), a TCP service in front of an HTTP backend
// serving size random bytes at /big, and in multi-client mode a frontend
// beside every router. The agents run with --raft-multiplier 5.
type streamBench struct {
	e      *balancerEnv
	leader *clusterAgent
	multi  bool
	size   int
	want   [32]byte
}

func startStreamBench(b *testing.B, multi bool, size int) *streamBench {
	b.Helper()
	blob := make([]byte, size)
	rand.Read(blob)
	backend := startHTTPBackend(b, blob)
	flags := []string{"--inbound", "2", "--hops", "1", "--policy", "failover", "--service", "tcp://" + backend}
	if multi {
		flags = append(flags, "--frontends", "on")
	}
	// Fifty imh nc processes, the routers, the frontends and the simulated
	// network saturate two cores; raft timings as advised for busy hosts
	// keep the leader from stepping down mid-measurement.
	b.Setenv("IMH_RAFT_MULTIPLIER", "5")
	e := startBalancerEnvN(b, []string{"r1", "r2", "r3", "r4"}, flags...)
	s := &streamBench{e: e, leader: e.tc.waitLeader(30 * time.Second), multi: multi, size: size, want: sha256.Sum256(blob)}
	if multi {
		startFrontends(b, e, "--http-addr="+s.leader.httpAddr)
	}
	e.waitStoredLeases(b, 90*time.Second, "a LeaseSet with 2 leases", func(ls *i2p.LeaseSet2, _ map[string]int) bool { return len(ls.Leases) == 2 })
	eventually.True(b, 90*time.Second, "the small page through imh nc", func() bool {
		ctx, cancel := context.WithTimeout(b.Context(), 20*time.Second)
		defer cancel()
		got, err := ncGet(ctx, e.n.simAddr, e.b32, "/")
		return err == nil && string(got) == smallPage
	})
	return s
}

// download fetches /big once through imh nc and checks it arrived exact.
func (s *streamBench) download(ctx context.Context) error {
	h := sha256.New()
	n, err := ncCopy(ctx, s.e.n.simAddr, s.e.b32, "/big", h)
	switch {
	case err != nil:
		return err
	case n != int64(s.size) || [32]byte(h.Sum(nil)) != s.want:
		return fmt.Errorf("%d bytes, not the file", n)
	}
	return nil
}

// checkCarrier fails b unless the streams went where the mode says: through
// the leader in single-client mode, not at all in multi-client mode.
func (s *streamBench) checkCarrier(b *testing.B, streams int) {
	b.Helper()
	if l := s.e.tc.leader(); l != s.leader {
		b.Fatalf("the leader changed during the measurement")
	}
	st, err := s.leader.status()
	if err != nil || len(st.Destinations) == 0 {
		b.Fatalf("leader status: %v", err)
	}
	acc := st.Destinations[0].Streams.Accepted
	if s.multi && acc != 0 || !s.multi && acc < uint64(streams) {
		b.Fatalf("the leader terminated %d streams (multi-client mode: %v, %d downloads)", acc, s.multi, streams)
	}
}

// leaderLoad is what BenchmarkLeaderStreams measures of one mode.
type leaderLoad struct {
	Streams    int     `json:"streams"`
	BodyMiB    float64 `json:"body_mib"`
	IdleCPU    float64 `json:"idle_cpu_pct"` // leader CPU before the downloads, % of one core
	BusyCPU    float64 `json:"busy_cpu_pct"` // leader CPU while they run, % of one core
	IdleRSSMiB float64 `json:"idle_rss_mib"` // leader RSS before the downloads
	PeakRSSMiB float64 `json:"peak_rss_mib"` // leader RSS, peak while they run
	Seconds    float64 `json:"seconds"`      // first start to last end
	MiBps      float64 `json:"mib_per_s"`    // all downloads together
	LeaderPid  int     `json:"leader_pid"`   // for the record
}

// BenchmarkLeaderStreams measures the Raft leader's CPU and memory while
// 50 concurrent 4 MiB downloads (imh nc, simulated network) run, in
// single-client mode (the leader terminates every stream) and in
// multi-client mode (frontends beside the routers do), and reports the
// multi/single ratios in mode=multi. CPU is seconds of CPU per second of
// wall time from /proc, as a % of one core.
func BenchmarkLeaderStreams(b *testing.B) {
	const streams, size = 50, streamBlobSize
	var single *leaderLoad
	res := map[string]*leaderLoad{}
	for _, mode := range []string{"single", "multi"} {
		b.Run("mode="+mode, func(b *testing.B) {
			s := startStreamBench(b, mode == "multi", size)
			L := &leaderLoad{Streams: streams, BodyMiB: float64(size) / (1 << 20), LeaderPid: s.leader.proc.Pid()}
			idle := s.idle(b, 10*time.Second)
			L.IdleCPU, L.IdleRSSMiB = idle.cpu, idle.rss
			var busy, wall time.Duration
			for b.Loop() {
				m := s.underLoad(b, streams)
				busy += m.cpuTime
				wall += m.wall
				L.PeakRSSMiB = max(L.PeakRSSMiB, m.peakRSS)
			}
			s.checkCarrier(b, streams*b.N)
			L.BusyCPU = 100 * busy.Seconds() / wall.Seconds()
			L.Seconds = wall.Seconds() / float64(b.N)
			L.MiBps = float64(streams) * L.BodyMiB / L.Seconds
			b.ReportMetric(L.BusyCPU, "leader-cpu-%")
			b.ReportMetric(L.IdleCPU, "leader-idle-cpu-%")
			b.ReportMetric(L.PeakRSSMiB, "leader-rss-MiB")
			b.ReportMetric(L.IdleRSSMiB, "leader-idle-rss-MiB")
			b.ReportMetric(L.MiBps, "MiB/s")
			if mode == "single" {
				single = L
			} else if single != nil {
				b.ReportMetric(L.BusyCPU/single.BusyCPU, "cpu-multi/single")
				b.ReportMetric(L.PeakRSSMiB/single.PeakRSSMiB, "rss-multi/single")
			}
			res[mode] = L
		})
	}
	writeBenchJSON(b, "leader-streams.json", res)
}

// idleFigures are the leader's CPU (% of one core) and RSS (MiB) over a
// window without traffic.
type idleFigures struct{ cpu, rss float64 }

func (s *streamBench) idle(b *testing.B, window time.Duration) idleFigures {
	b.Helper()
	pid := s.leader.proc.Pid()
	cpu0, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	time.Sleep(window) // the measurement window
	cpu1, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	rss, err := procRSS(pid)
	if err != nil {
		b.Fatal(err)
	}
	return idleFigures{cpu: 100 * (cpu1 - cpu0).Seconds() / time.Since(start).Seconds(), rss: float64(rss) / (1 << 20)}
}

// loadFigures are the leader's figures over n concurrent downloads.
type loadFigures struct {
	cpuTime, wall time.Duration
	peakRSS       float64 // MiB
}

// underLoad runs n concurrent downloads of /big and measures the leader's
// CPU time and peak RSS from the first start to the last end.
func (s *streamBench) underLoad(b *testing.B, n int) loadFigures {
	b.Helper()
	pid := s.leader.proc.Pid()
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
	defer cancel()
	var peak int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			if rss, err := procRSS(pid); err == nil {
				peak = max(peak, rss)
			}
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
	cpu0, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.download(ctx); err != nil {
				errs <- fmt.Errorf("download %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	cpu1, err := procCPU(pid)
	close(stop)
	sampler.Wait()
	if err != nil {
		b.Fatal(err)
	}
	close(errs)
	var msgs []string
	for err := range errs {
		msgs = append(msgs, err.Error())
	}
	if len(msgs) > 0 {
		b.Fatalf("%d of %d downloads failed: %s", len(msgs), n, strings.Join(msgs, "; "))
	}
	return loadFigures{cpuTime: cpu1 - cpu0, wall: wall, peakRSS: float64(peak) / (1 << 20)}
}

// BenchmarkDownload16MiB measures the throughput of one 16 MiB download
// through imh nc in single-client mode and in multi-client mode, the
// median of 5 one after another per iteration (one download takes a few
// seconds, and two shared cores are noisy), and reports the multi/single
// ratio of the medians in mode=multi.
func BenchmarkDownload16MiB(b *testing.B) {
	const size, runs = 16 << 20, 5
	var single float64
	res := map[string][]float64{}
	for _, mode := range []string{"single", "multi"} {
		b.Run("mode="+mode, func(b *testing.B) {
			s := startStreamBench(b, mode == "multi", size)
			var mibps []float64
			for b.Loop() {
				for range runs {
					ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
					start := time.Now()
					err := s.download(ctx)
					el := time.Since(start)
					cancel()
					if err != nil {
						b.Fatal(err)
					}
					mibps = append(mibps, size/(1<<20)/el.Seconds())
				}
			}
			s.checkCarrier(b, runs*b.N)
			slices.Sort(mibps)
			med := mibps[len(mibps)/2]
			b.ReportMetric(med, "MiB/s")
			b.ReportMetric(mibps[0], "min-MiB/s")
			b.ReportMetric(mibps[len(mibps)-1], "max-MiB/s")
			if mode == "single" {
				single = med
			} else if single != 0 {
				b.ReportMetric(med/single, "multi/single")
			}
			res[mode+"_mib_per_s"] = mibps
		})
	}
	writeBenchJSON(b, "download-16mib.json", res)
}

// writeBenchJSON writes v as name into $IMH_BENCH_DIR (make bench), if set.
func writeBenchJSON(b *testing.B, name string, v any) {
	dir := os.Getenv("IMH_BENCH_DIR")
	if dir == "" {
		return
	}
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), append(body, '\n'), 0o644); err != nil {
		b.Error(err)
	}
}

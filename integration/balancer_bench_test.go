//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
)

// startManyRouters is startRouterNet for many routers: a router whose
// ports were taken meanwhile (freePort hands out ports that are free now,
// and hundreds are handed out before the processes bind) is started again
// on new ones.
func startManyRouters(t testing.TB, names []string) *routerNet {
	t.Helper()
	n := startRouterNet(t, 5*time.Minute) // the simulated network only
	for _, name := range names {
		var r *routerProc
		for attempt := 0; ; attempt++ {
			r = &routerProc{
				name: name,
				addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
				http: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			}
			r.p = startIMH(t, fmt.Sprintf("router-%s-%d", name, attempt), "router", "serve", "--listen", r.addr, "--http", r.http,
				"--name", name, "--grace-period", "5m", "--network", "simnet://"+n.simAddr)
			ok := false
			eventually.Within(20*time.Second, func() bool {
				var st routerStatus
				ok = httpGetJSON("http://"+r.http+"/status", &st) == nil && st.Name == name
				return ok || r.p.Exited()
			})
			if ok {
				break
			}
			if attempt == 2 {
				t.Fatalf("router %s did not start: %s", name, r.p.LogTail(5))
			}
			r.p.Kill()
		}
		n.routers = append(n.routers, r)
	}
	return n
}

// balancerBench holds the figures of issue 9's `make bench` report.
type balancerBench struct {
	ControlResumeMs   []int64 `json:"control_resume_ms"` // leader SIGKILL -> every router controlled by the new term
	ControlResumeMed  int64   `json:"control_resume_median_ms"`
	ControlResumeMax  int64   `json:"control_resume_max_ms"`
	DeadRouterGoneMs  []int64 `json:"dead_router_gone_ms"` // router SIGKILL -> its leases out of the stored LeaseSet
	DeadRouterGoneMed int64   `json:"dead_router_gone_median_ms"`
	DeadRouterGoneMax int64   `json:"dead_router_gone_max_ms"`

	Load struct {
		Routers       int     `json:"routers"`
		Inbound       int     `json:"inbound_per_router"`
		BuildPhaseS   float64 `json:"build_phase_s"`   // dest create -> every router holds its inbound tunnels
		BuildPhaseCPU float64 `json:"build_phase_cpu"` // leader CPU, share of one core
		SteadyS       float64 `json:"steady_s"`        // measured steady window
		SteadyCPU     float64 `json:"steady_cpu"`      // leader CPU, share of one core
		// ScrapedCPU is the leader's CPU in a window as long as the
		// steady one right after it, with /metrics scraped every second
		// (Prometheus scrapes every 15 s by default): the cost of metrics.
		ScrapedCPU     float64 `json:"scraped_cpu"`
		ScrapeMedianMs int64   `json:"scrape_median_ms"` // one /metrics request, 100 routers
		PeakRSSMiB     float64 `json:"peak_rss_mib"`     // leader agent, whole process
		InboundTunnels int     `json:"inbound_tunnels"`  // across routers at the end
		StoredLeases   int     `json:"stored_leases"`    // in the floodfills' LeaseSet
		LeaderPid      int     `json:"leader_pid"`       // for the record
		Note           string  `json:"note"`
	} `json:"leader_load"`
}

func medianMax(xs []int64) (int64, int64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0
	}
	return s[len(s)/2], s[len(s)-1]
}

// procCPU returns the user+system CPU time of a process (Linux /proc).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// procRSS returns a process's resident set size in bytes.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// TestBalancerBench measures issue 9's figures with real processes; it is
// run by BenchmarkBalancer (make bench), not by make test.
func TestBalancerBench(t *testing.T) {
	if os.Getenv("IMH_BALANCER_BENCH") == "" {
		t.Skip("run by BenchmarkBalancer (make bench)")
	}
	var res balancerBench
	t.Run("failover", func(t *testing.T) { benchFailover(t, &res) })
	t.Run("load", func(t *testing.T) { benchLeaderLoad(t, &res) })
	body, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", body)
	fmt.Printf("BALANCER-BENCH %s\n", bytes.ReplaceAll(body, []byte("\n"), nil))
	if dir := os.Getenv("IMH_BENCH_DIR"); dir != "" {
		name := "balancer-failover.json"
		if plaintext {
			name = "balancer-failover-plaintext.json"
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(body, '\n'), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func benchFailover(t *testing.T, res *balancerBench) {
	e := startBalancerEnv(t)
	e.waitStoredLeases(t, 90*time.Second, "12 leases, 3 per router", func(ls *i2p.LeaseSet2, by map[string]int) bool {
		return len(ls.Leases) == 12 && by["r1"] == 3 && by["r2"] == 3 && by["r3"] == 3 && by["r4"] == 3
	})
	for range 10 {
		leader := e.tc.waitLeader(30 * time.Second)
		st, err := leader.status()
		if err != nil {
			t.Fatal(err)
		}
		leader.proc.Kill()
		killed := time.Now()
		eventually.True(t, 30*time.Second, "a new leader controlling every router", func() bool {
			next := e.tc.leader()
			if next == nil || next == leader {
				return false
			}
			s, err := next.status()
			return err == nil && s.Term > st.Term && e.controlledBy(t, s.Term)
		})
		res.ControlResumeMs = append(res.ControlResumeMs, time.Since(killed).Milliseconds())
		e.tc.start(leader)
		eventually.True(t, 30*time.Second, leader.name+" back", func() bool {
			s, err := leader.status()
			return err == nil && s.Leader != "" && s.Leader != leader.name
		})
	}
	res.ControlResumeMed, res.ControlResumeMax = medianMax(res.ControlResumeMs)
	for _, name := range []string{"r1", "r2", "r3", "r4", "r1"} {
		e.waitStoredLeases(t, 120*time.Second, "every router in the LeaseSet", func(ls *i2p.LeaseSet2, by map[string]int) bool {
			return by["r1"] > 0 && by["r2"] > 0 && by["r3"] > 0 && by["r4"] > 0 && by["?"] == 0
		})
		r := e.router(name)
		owner := e.leaseOwners(t)
		r.p.Kill()
		killed := time.Now()
		eventually.True(t, 30*time.Second, name+"'s leases out of the stored LeaseSet", func() bool {
			ls := balancerStoredLeaseSet(t, e.n, e.b32)
			for _, l := range ls.Leases {
				if owner[l.Gateway.String()+"/"+strconv.FormatUint(uint64(l.TunnelID), 10)] == name {
					return false
				}
			}
			return true
		})
		res.DeadRouterGoneMs = append(res.DeadRouterGoneMs, time.Since(killed).Milliseconds())
		r.p = startIMH(t, "router-"+name+"-again", r.p.Cmd.Args[1:]...)
	}
	res.DeadRouterGoneMed, res.DeadRouterGoneMax = medianMax(res.DeadRouterGoneMs)
}

// benchLeaderLoad runs 100 routers x 16 inbound tunnels and measures the
// leading agent's CPU and memory: while every tunnel is first built (the
// busiest time: about 1,800 builds, half of them failing at first) and then
// in a steady window.
func benchLeaderLoad(t *testing.T, res *balancerBench) {
	const routers, inbound = 100, 16
	var names []string
	for i := range routers {
		names = append(names, fmt.Sprintf("r%03d", i))
	}
	e := startBalancerEnvN(t, names, "--inbound", strconv.Itoa(inbound), "--outbound", "2")
	leader := e.tc.waitLeader(30 * time.Second)
	pid := leader.proc.Pid()
	var mu sync.Mutex
	var peak int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if rss, err := procRSS(pid); err == nil {
				mu.Lock()
				peak = max(peak, rss)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	cpu0, _ := procCPU(pid)
	start := time.Now()
	inboundTunnels := func() int {
		total := 0
		for _, r := range e.n.routers {
			var st routerStatus
			if httpGetJSON("http://"+r.http+"/status", &st) != nil {
				continue
			}
			for _, tu := range st.Tunnels {
				if tu.Direction == "inbound" {
					total++
				}
			}
		}
		return total
	}
	eventually.True(t, 10*time.Minute, "1,600 inbound tunnels", func() bool {
		time.Sleep(2 * time.Second) // pacing: counting 1,600 tunnels is itself load
		return inboundTunnels() >= routers*inbound
	})
	cpu1, _ := procCPU(pid)
	build := time.Since(start)
	steadyStart := time.Now()
	time.Sleep(2 * time.Minute) // the steady-state window the CPU is measured over
	cpu2, err := procCPU(pid)
	if err != nil {
		t.Fatalf("leader %s (pid %d) CPU: %v", leader.name, pid, err)
	}
	steady := time.Since(steadyStart)
	// The same window with /metrics scraped every second.
	var scrapeMs []int64
	scrapedStart := time.Now()
	for time.Since(scrapedStart) < steady {
		t0 := time.Now()
		if _, err := httpGetText(agentURL(leader.httpAddr, "/metrics")); err != nil {
			t.Fatalf("scrape the leader: %v", err)
		}
		scrapeMs = append(scrapeMs, time.Since(t0).Milliseconds())
		time.Sleep(time.Until(t0.Add(time.Second))) // pacing: one scrape a second, as Prometheus would
	}
	cpu3, err := procCPU(pid)
	if err != nil {
		t.Fatalf("leader %s (pid %d) CPU: %v", leader.name, pid, err)
	}
	scraped := time.Since(scrapedStart)
	close(stop)
	wg.Wait()
	if l := e.tc.leader(); l != leader {
		t.Fatalf("the leader changed during the measurement")
	}
	ls := balancerStoredLeaseSet(t, e.n, e.b32)
	L := &res.Load
	L.Routers, L.Inbound, L.LeaderPid = routers, inbound, pid
	L.BuildPhaseS, L.BuildPhaseCPU = build.Seconds(), (cpu1-cpu0).Seconds()/build.Seconds()
	L.SteadyS, L.SteadyCPU = steady.Seconds(), (cpu2-cpu1).Seconds()/steady.Seconds()
	L.ScrapedCPU = (cpu3 - cpu2).Seconds() / scraped.Seconds()
	L.ScrapeMedianMs, _ = medianMax(scrapeMs)
	mu.Lock()
	L.PeakRSSMiB = float64(peak) / (1 << 20)
	mu.Unlock()
	L.InboundTunnels = inboundTunnels()
	if ls != nil {
		L.StoredLeases = len(ls.Leases)
	}
	L.Note = "real time on loopback; steady window shorter than a tunnel lifetime (replacements start at 8 min), so the build phase is the load upper bound"
}

// BenchmarkBalancer runs TestBalancerBench in a child test process, with
// TLS on every link (as deployed) and, for comparison, in plaintext
// (IMH_TEST_PLAINTEXT=1), and reports both sets of figures.
func BenchmarkBalancer(b *testing.B) {
	b.Run("tls", func(b *testing.B) { benchBalancer(b) })
	b.Run("plaintext", func(b *testing.B) { benchBalancer(b, "IMH_TEST_PLAINTEXT=1") })
}

func benchBalancer(b *testing.B, env ...string) {
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBalancerBench$", "-test.v", "-test.timeout=60m")
		cmd.Env = append(append(os.Environ(), "IMH_BALANCER_BENCH=1"), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("balancer bench: %v\n%s", err, out)
		}
		var res balancerBench
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			if rest, ok := strings.CutPrefix(line, "BALANCER-BENCH "); ok {
				if err := json.Unmarshal([]byte(rest), &res); err != nil {
					b.Fatal(err)
				}
				found = true
			}
		}
		if !found {
			b.Fatalf("no figures in:\n%s", out)
		}
		b.ReportMetric(float64(res.ControlResumeMed), "control-resume-median-ms")
		b.ReportMetric(float64(res.ControlResumeMax), "control-resume-max-ms")
		b.ReportMetric(float64(res.DeadRouterGoneMed), "dead-router-gone-median-ms")
		b.ReportMetric(100*res.Load.BuildPhaseCPU, "leader-cpu-build-%")
		b.ReportMetric(100*res.Load.SteadyCPU, "leader-cpu-steady-%")
		b.ReportMetric(100*res.Load.ScrapedCPU, "leader-cpu-scraped-1Hz-%")
		b.ReportMetric(float64(res.Load.ScrapeMedianMs), "scrape-median-ms")
		b.ReportMetric(res.Load.PeakRSSMiB, "leader-rss-MiB")
	}
}

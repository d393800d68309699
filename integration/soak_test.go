//go:build integration

package integration

// The soak test (issue 19, docs/reliability.md): the chaos workload
// (runChaos) for hours, while a sampler measures every process the harness
// started (agents, routers, simnet): resident memory (VmRSS in
// /proc/PID/status), open file descriptors (entries of /proc/PID/fd) and
// goroutines (go_goroutines on the process's GET /metrics, as the operator
// for an agent's HTTPS API). At the end each process lifetime is judged by
// internal/growth and the test fails when one grew.
//
// Knobs (environment): IMH_SOAK_DURATION (required: without it the test is
// skipped, as even a short soak takes more than a minute of the suite),
// IMH_SOAK_SEED (default 1), IMH_SOAK_INTERVAL (between samples; default
// the duration / 240, within 1 s and 15 s), IMH_SOAK_DIR (where the report
// goes; default a directory under os.TempDir() that is kept, its path
// logged). `make soak` sets them (SOAK_DURATION, default 2h).

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/growth"
)

// sampledProc is one process the sampler measures.
type sampledProc struct {
	name       string // series name: agent or router name, or "simnet"
	p          *proc
	metricsURL string // its GET /metrics, for go_goroutines
}

// resourceSampler measures its processes every interval until stopped.
// Each process name has one series of samples; a restart (track with the
// same name) continues the series with the new pid, which growth.Judge
// treats as a new lifetime.
type resourceSampler struct {
	interval time.Duration
	client   *http.Client // for /metrics: the operator's TLS, a timeout of one interval

	mu     sync.Mutex
	procs  map[string]sampledProc
	names  []string // in the order first tracked
	series map[string][]growth.Sample

	stop chan struct{}
	done chan struct{}
}

func newResourceSampler(interval time.Duration) *resourceSampler {
	return &resourceSampler{
		interval: interval,
		client:   &http.Client{Timeout: max(interval, time.Second), Transport: httpClient.Transport},
		procs:    map[string]sampledProc{},
		series:   map[string][]growth.Sample{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// track measures p as name from now on, replacing the process tracked as
// name before (a restart).
func (s *resourceSampler) track(name string, p *proc, metricsURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.procs[name]; !ok {
		s.names = append(s.names, name)
	}
	s.procs[name] = sampledProc{name: name, p: p, metricsURL: metricsURL}
}

// start samples every interval in the background until Stop.
func (s *resourceSampler) start() {
	go func() {
		defer close(s.done)
		tick := time.NewTicker(s.interval)
		defer tick.Stop()
		for {
			s.sampleAll()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// Stop ends the sampling and waits for the last round.
func (s *resourceSampler) Stop() {
	close(s.stop)
	<-s.done
}

// sampleAll measures every tracked process at once (a stopped agent's
// /metrics must not delay the others) and appends what it got.
func (s *resourceSampler) sampleAll() {
	s.mu.Lock()
	procs := make([]sampledProc, 0, len(s.procs))
	for _, name := range s.names {
		procs = append(procs, s.procs[name])
	}
	s.mu.Unlock()
	got := make([]*growth.Sample, len(procs))
	var wg sync.WaitGroup
	for i, sp := range procs {
		wg.Go(func() {
			if x, err := s.sample(sp); err == nil {
				got[i] = &x
			}
		})
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sp := range procs {
		if got[i] != nil {
			s.series[sp.name] = append(s.series[sp.name], *got[i])
		}
	}
}

// sample measures one process. An exited process (killed, not yet
// restarted) is an error: no sample. Goroutines are -1 and the role unknown
// when /metrics did not answer (a stopped agent).
func (s *resourceSampler) sample(sp sampledProc) (growth.Sample, error) {
	if sp.p.Exited() {
		return growth.Sample{}, fmt.Errorf("%s (pid %d) exited", sp.name, sp.p.Pid())
	}
	x := growth.Sample{At: time.Now(), PID: sp.p.Pid(), Goroutines: -1}
	rss, err := procRSS(x.PID) // balancer_bench_test.go
	if err != nil {
		return growth.Sample{}, fmt.Errorf("%s (pid %d): rss: %w", sp.name, x.PID, err)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", x.PID))
	if err != nil {
		return growth.Sample{}, fmt.Errorf("%s (pid %d): open fds: %w", sp.name, x.PID, err)
	}
	x.RSS, x.FDs = float64(rss), float64(len(fds))
	if sp.metricsURL != "" {
		if text, err := httpGetTextWith(s.client, sp.metricsURL); err == nil {
			if m, err := parseMetrics(text); err == nil {
				if g, ok := m["go_goroutines"]; ok {
					x.Goroutines = g
				}
				// An agent's role: a leader runs the balancer, a
				// follower does not (growth.Judge compares like with like).
				if l, ok := m["imh_cluster_leader"]; ok {
					x.Role = map[bool]string{true: "leader", false: "follower"}[l == 1]
				}
			}
		}
	}
	return x, nil
}

// Series returns every process name (in the order first tracked) and its
// samples.
func (s *resourceSampler) Series() ([]string, map[string][]growth.Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]growth.Sample, len(s.series))
	for k, v := range s.series {
		out[k] = append([]growth.Sample(nil), v...)
	}
	return append([]string(nil), s.names...), out
}

// soakProcess is one process's lifetimes in the soak report.
type soakProcess struct {
	Process   string            `json:"process"`
	Lifetimes []growth.Lifetime `json:"lifetimes"`
}

// soakReport is what a soak run writes to soak.json (next to the chaos
// run's report.json and history.json).
type soakReport struct {
	Seed      uint64        `json:"seed"`
	Duration  string        `json:"duration"`
	Interval  string        `json:"interval"`
	Limits    growth.Limits `json:"limits"`
	Processes []soakProcess `json:"processes"`
	Grew      []string      `json:"grew"`   // "process pid N: metric ..." for each lifetime that grew
	Judged    int           `json:"judged"` // lifetimes with at least one metric judged
}

// judgeSamples judges every series, logs one line per lifetime and
// returns the report.
func judgeSamples(t testing.TB, names []string, series map[string][]growth.Sample) soakReport {
	t.Helper()
	var rep soakReport
	rep.Limits = growth.DefaultLimits
	for _, name := range names {
		ls := growth.Judge(series[name], growth.DefaultLimits)
		rep.Processes = append(rep.Processes, soakProcess{Process: name, Lifetimes: ls})
		for _, l := range ls {
			if l.RSS.Judged || l.FDs.Judged || l.Goroutines.Judged {
				rep.Judged++
			}
			t.Logf("soak: %-7s pid %-7d %4d samples over %-8v RSS %.1f -> %.1f MiB, fds %.0f -> %.0f, goroutines %s -> %s; rss %v; fds %v; goroutines %v",
				name, l.PID, l.Samples, l.End.Sub(l.Start).Round(time.Second),
				l.First.RSS/(1<<20), l.Last.RSS/(1<<20), l.First.FDs, l.Last.FDs,
				known(l.First.Goroutines), known(l.Last.Goroutines), l.RSS, l.FDs, l.Goroutines)
			for _, m := range []struct {
				metric string
				v      growth.Verdict
			}{{"rss", l.RSS}, {"fds", l.FDs}, {"goroutines", l.Goroutines}} {
				if m.v.Grew {
					rep.Grew = append(rep.Grew, fmt.Sprintf("%s pid %d: %s %v", name, l.PID, m.metric, m.v))
				}
			}
		}
	}
	return rep
}

func known(v float64) string {
	if v < 0 {
		return "?"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// writeSamplesCSV writes every sample: process, pid, seconds since start,
// role, rss_bytes, fds, goroutines (-1: unknown).
func writeSamplesCSV(path string, start time.Time, names []string, series map[string][]growth.Sample) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("samples csv: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"process", "pid", "seconds", "role", "rss_bytes", "fds", "goroutines"})
	for _, name := range names {
		for _, x := range series[name] {
			_ = w.Write([]string{name, strconv.Itoa(x.PID), strconv.FormatFloat(x.At.Sub(start).Seconds(), 'f', 1, 64), x.Role,
				strconv.FormatFloat(x.RSS, 'f', 0, 64), strconv.FormatFloat(x.FDs, 'f', 0, 64), strconv.FormatFloat(x.Goroutines, 'f', 0, 64)})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("samples csv: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("samples csv: %w", err)
	}
	return nil
}

// soakInterval is the time between samples: IMH_SOAK_INTERVAL, or the
// duration / 240 within 1 s and 15 s (a few hundred samples per lifetime
// that spans the run).
func soakInterval(dur time.Duration) time.Duration {
	return envDuration("IMH_SOAK_INTERVAL", min(max(dur/240, time.Second), 15*time.Second))
}

// TestSoak runs the chaos workload for IMH_SOAK_DURATION with the
// resource sampler on every process, then judges growth per process
// lifetime (internal/growth) and writes samples.csv and soak.json next to
// the chaos run's report. The nemesis spares agent n1 and router r1 from
// kills (they are stalled, isolated and cut like the others), so that one
// agent and one router live the whole run and their series span it; the
// others are killed and restarted, and each of their lifetimes is judged
// when it is long enough.
func TestSoak(t *testing.T) {
	if os.Getenv("IMH_SOAK_DURATION") == "" {
		t.Skip("IMH_SOAK_DURATION not set: the soak runs with make soak (or IMH_SOAK_DURATION=3m go test -tags integration -run TestSoak ./integration/)")
	}
	dur, err := time.ParseDuration(os.Getenv("IMH_SOAK_DURATION"))
	if err != nil || dur <= 0 {
		t.Fatalf("IMH_SOAK_DURATION=%q: want a positive Go duration", os.Getenv("IMH_SOAK_DURATION"))
	}
	clusterPool.join(t)
	seed := uint64(envInt("IMH_SOAK_SEED", 1))
	interval := soakInterval(dur)
	dir := reportDir(t, "IMH_SOAK_DIR", "imh-soak", fmt.Sprintf("soak-seed%d", seed))
	t.Logf("soak: %v, seed %d, a sample every %v, report in %s", dur, seed, interval, dir)
	s := newResourceSampler(interval)
	var begun time.Time
	// Judged and written even when the chaos checks fail (t.Fatal runs
	// deferred calls): the resource figures are useful either way.
	defer func() {
		if begun.IsZero() {
			return // the cluster never came up
		}
		names, series := s.Series()
		if err := writeSamplesCSV(filepath.Join(dir, "samples.csv"), begun, names, series); err != nil {
			t.Error(err)
		}
		rep := judgeSamples(t, names, series)
		rep.Seed, rep.Duration, rep.Interval = seed, dur.String(), interval.String()
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "soak.json"), b, 0o644); err != nil {
			t.Errorf("soak report: %v", err)
		}
		if rep.Judged == 0 {
			t.Errorf("soak: no process lived long enough to be judged (%d samples and %v needed)", growth.DefaultLimits.MinSamples, growth.DefaultLimits.MinSpan)
		}
		for _, g := range rep.Grew {
			t.Errorf("soak: grew: %s", g)
		}
		t.Logf("soak: %d lifetimes judged, %d grew; samples.csv and soak.json in %s", rep.Judged, len(rep.Grew), dir)
	}()
	runChaos(t, chaosRun{test: "TestSoak", seed: seed, dur: dur, dir: dir, visualise: os.Getenv("IMH_SOAK_DIR") != "",
		spare: map[string]bool{"n1": true, "r1": true},
		started: func(e *chaosEnv) func() {
			s.track("simnet", e.n.sim, "http://"+e.n.simHTTP+"/metrics")
			for _, r := range e.n.routers {
				s.track(r.name, r.p, "http://"+r.http+"/metrics")
			}
			for _, a := range e.tc.agents {
				s.track(a.name, a.proc, agentURL(a.httpAddr, "/metrics"))
			}
			e.nm.setStarted(s.track)
			begun = time.Now()
			s.start()
			return func() {
				e.nm.setStarted(nil)
				s.Stop()
			}
		}})
}

// TestResourceSampler checks the sampler on real processes in a few
// seconds (TestSoak itself is skipped without IMH_SOAK_DURATION): a
// simnet, a router and an agent (HTTPS /metrics as the operator) are
// measured, RSS, fds and goroutines are all known, and a router started
// again under the same name continues its series with a new pid, which
// the judgement splits into two lifetimes.
func TestResourceSampler(t *testing.T) {
	lightPool.join(t)
	n := startRouterNet(t, 5*time.Minute, "r1")
	tc := startTestCluster(t, 1)
	tc.waitLeader(30 * time.Second)
	s := newResourceSampler(200 * time.Millisecond)
	r := n.routers[0]
	s.track("simnet", n.sim, "http://"+n.simHTTP+"/metrics")
	s.track(r.name, r.p, "http://"+r.http+"/metrics")
	a := tc.agents[0]
	s.track(a.name, a.proc, agentURL(a.httpAddr, "/metrics"))
	s.start()
	time.Sleep(2 * time.Second)
	first := r.p.Pid()
	r.p.Kill()
	r.p = startIMH(t, "router-r1-again", r.p.Cmd.Args[1:]...)
	s.track(r.name, r.p, "http://"+r.http+"/metrics")
	time.Sleep(2 * time.Second)
	s.Stop()

	names, series := s.Series()
	if strings.Join(names, ",") != "simnet,r1,n1" {
		t.Fatalf("series %v, want simnet, r1, n1", names)
	}
	for _, name := range names {
		xs := series[name]
		if len(xs) < 5 {
			t.Fatalf("%s: %d samples in 4 s at 200 ms", name, len(xs))
		}
		last := xs[len(xs)-1]
		if last.RSS < 1<<20 || last.FDs < 3 || last.Goroutines < 2 {
			t.Errorf("%s: last sample %+v: want RSS, fds and goroutines known", name, last)
		}
		if want := map[bool]string{true: "leader"}[name == "n1"]; last.Role != want {
			t.Errorf("%s: role %q, want %q", name, last.Role, want)
		}
	}
	ls := growth.Judge(series["r1"], growth.DefaultLimits)
	if len(ls) != 2 || ls[0].PID != first || ls[1].PID != r.p.Pid() {
		t.Fatalf("r1: %d lifetimes, want pid %d then %d: %+v", len(ls), first, r.p.Pid(), ls)
	}
	// Four seconds is far below growth.DefaultLimits' span: reported, not judged.
	rep := judgeSamples(t, names, series)
	if rep.Judged != 0 || len(rep.Grew) != 0 {
		t.Errorf("a 4 s run: %d lifetimes judged, %v grew; want none judged", rep.Judged, rep.Grew)
	}
	path := filepath.Join(t.TempDir(), "samples.csv")
	if err := writeSamplesCSV(path, time.Now(), names, series); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !strings.HasPrefix(string(b), "process,pid,seconds,role,rss_bytes,fds,goroutines\n") {
		t.Errorf("samples.csv: %v %.100q", err, b)
	}
}

package simnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router/simnet"
)

// Benchmark shape (issue 5): one process, scaled clock, 100 routers with 16
// inbound tunnels each, 1,000 remote clients, 30 simulated minutes.
const (
	benchRouters        = 100
	benchTunnels        = 16
	benchDests          = 10 // each on benchRouters/benchDests routers
	benchClients        = 1000
	benchSimulated      = 30 * time.Minute
	benchScale          = 100 // simulated seconds per real second
	benchClientInterval = 5 * time.Second
	benchRepublish      = time.Minute
)

// BenchmarkNetwork runs the whole network for 30 simulated minutes: routers
// keep 16 two-hop inbound tunnels each (rebuilt before expiry), each
// destination republishes a 16-lease LeaseSet of its 10 routers every
// simulated minute, and 1,000 clients (i2pd and java, one-way and
// request/response) send a message every 5 simulated seconds. It reports CPU
// time, peak heap, events (messages, builds, stores, lookups) per real
// second, and the share of messages delivered.
func BenchmarkNetwork(b *testing.B) {
	for b.Loop() {
		runBench(b)
	}
}

type benchCounters struct {
	builds, publishes atomic.Int64
}

func runBench(b *testing.B) {
	cfg := simnet.DefaultConfig()
	cfg.Seed = 2026
	cfg.Clock = simnet.ScaledClock(benchScale)
	n, err := simnet.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	clock := n.Clock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	cpu0, realStart := cpuTime(), time.Now()
	var peak atomic.Uint64
	wg.Go(func() { sampleHeap(ctx, &peak) })

	var cnt benchCounters
	routers := make([]*fakeRouter, benchRouters)
	dests := make([]*testDest, benchDests)
	for i := range dests {
		dests[i] = newTestDest(b, uint64(1000+i))
	}
	for i := range routers {
		routers[i] = attachFake(b, n, fmt.Sprintf("r%03d", i))
		routers[i].host(dests[i%benchDests].hash())
		r, pool := routers[i], dests[i%benchDests].hash().B32()
		wg.Go(func() { maintainTunnels(ctx, r, pool, &cnt) })
	}
	published := make(chan struct{}, benchDests)
	for i, d := range dests {
		var mine []*fakeRouter
		for j := i; j < benchRouters; j += benchDests {
			mine = append(mine, routers[j])
		}
		wg.Go(func() { republish(ctx, b, clock, d, mine, &cnt, published) })
	}
	for range benchDests {
		select {
		case <-published:
		case <-time.After(time.Minute):
			b.Fatal("destinations not published within a minute")
		}
	}

	trafficStart := clock.Now()
	tctx, tcancel := context.WithCancel(ctx)
	var mu sync.Mutex
	res := simnet.NewSendResult()
	byMode := map[simnet.Mode]*simnet.SendResult{}
	for _, m := range []simnet.Mode{simnet.ModeOneway, simnet.ModeReqResp} {
		r := simnet.NewSendResult()
		byMode[m] = &r
	}
	var cwg sync.WaitGroup
	for i := range benchClients {
		c := n.NewClient(fmt.Sprintf("bench-c%d", i), []simnet.Behaviour{simnet.BehaviourI2pd, simnet.BehaviourJava}[i%2])
		mode := []simnet.Mode{simnet.ModeOneway, simnet.ModeReqResp}[(i/2)%2]
		dest := dests[i%benchDests].hash()
		cwg.Go(func() {
			local := simnet.NewSendResult()
			for seq := uint64(0); ; seq++ {
				// A fixed schedule: late wake-ups catch up, not drift.
				next := trafficStart.Add(time.Duration(seq+1) * benchClientInterval)
				if err := simnet.Sleep(tctx, clock, next.Sub(clock.Now())); err != nil {
					break
				}
				o, err := c.Send(tctx, dest, mode, seq)
				if err != nil {
					break
				}
				local.Add(o)
			}
			mu.Lock()
			for _, r := range []*simnet.SendResult{&res, byMode[mode]} {
				r.Delivered += local.Delivered
				r.Failed += local.Failed
				for k, v := range local.Reasons {
					r.Reasons[k] += v
				}
			}
			mu.Unlock()
		})
	}
	_ = simnet.Sleep(ctx, clock, benchSimulated)
	tcancel()
	cwg.Wait()
	simulated := clock.Now().Sub(trafficStart)
	cancel()
	wg.Wait()

	realTime := time.Since(realStart)
	cpu := cpuTime() - cpu0
	var lookups, stores int
	for _, st := range n.Status().Destinations {
		lookups += st.Lookups
		stores += st.Stores
	}
	msgs := res.Delivered + res.Failed
	events := float64(msgs) + float64(cnt.builds.Load()) + float64(cnt.publishes.Load()) + float64(lookups)
	b.ReportMetric(cpu.Seconds(), "cpu-s/op")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(events/realTime.Seconds(), "events/s")
	b.ReportMetric(float64(msgs), "messages/op")
	b.ReportMetric(100*float64(res.Delivered)/float64(max(msgs, 1)), "delivered-%")
	for m, r := range byMode {
		b.ReportMetric(100*float64(r.Delivered)/float64(max(r.Delivered+r.Failed, 1)), string(m)+"-delivered-%")
	}
	b.ReportMetric(simulated.Minutes(), "sim-min/op")
	writeBenchReport(b, map[string]any{
		"routers": benchRouters, "tunnels_per_router": benchTunnels, "clients": benchClients,
		"simulated_s": simulated.Seconds(), "real_s": realTime.Seconds(), "cpu_s": cpu.Seconds(),
		"peak_heap_bytes": peak.Load(), "events_per_s": events / realTime.Seconds(),
		"messages": msgs, "delivered": res.Delivered, "reasons": res.Reasons,
		"oneway": byMode[simnet.ModeOneway], "reqresp": byMode[simnet.ModeReqResp],
		"builds": cnt.builds.Load(), "stores": stores, "lookups": lookups, "time_scale": benchScale,
	})
	b.Logf("%v simulated in %v real (%.0f cpu-s): %d messages (%d delivered, reasons %v), %d builds, %d stores, %d lookups",
		simulated.Round(time.Second), realTime.Round(time.Millisecond), cpu.Seconds(), msgs, res.Delivered, res.Reasons, cnt.builds.Load(), stores, lookups)
}

// maintainTunnels keeps benchTunnels live 2-hop inbound tunnels on r:
// every 10 simulated seconds it starts, concurrently, the builds that bring
// the tunnels with more than two minutes left (plus builds in flight) back
// to benchTunnels.
func maintainTunnels(ctx context.Context, r *fakeRouter, pool string, cnt *benchCounters) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var inFlight atomic.Int64
	start := r.clock.Now()
	for tick := 1; ctx.Err() == nil; tick++ {
		now := r.clock.Now()
		live := 0
		r.mu.Lock()
		for id, t := range r.tunnels {
			switch {
			case !now.Before(t.Expires):
				delete(r.tunnels, id)
			case t.Expires.Sub(now) > 2*time.Minute:
				live++
			}
		}
		r.mu.Unlock()
		for range benchTunnels - live - int(inFlight.Load()) {
			inFlight.Add(1)
			wg.Go(func() {
				defer inFlight.Add(-1)
				t, err := r.link.BuildTunnel(ctx, simnet.BuildRequest{Inbound: true, HopCount: 2, Pool: pool})
				cnt.builds.Add(1)
				if err != nil {
					return
				}
				r.mu.Lock()
				r.tunnels[t.ID] = t
				r.mu.Unlock()
			})
		}
		next := start.Add(time.Duration(tick) * 10 * time.Second)
		if simnet.Sleep(ctx, r.clock, next.Sub(r.clock.Now())) != nil {
			return
		}
	}
}

// republish signs and publishes d's LeaseSet with the 16 newest tunnels of
// its routers every benchRepublish; the first success is reported on first.
func republish(ctx context.Context, b *testing.B, clock simnet.Clock, d *testDest, routers []*fakeRouter, cnt *benchCounters, first chan<- struct{}) {
	announced := false
	next := clock.Now()
	for ctx.Err() == nil {
		var tuns []simnet.Tunnel
		for _, r := range routers {
			r.mu.Lock()
			for _, t := range r.tunnels {
				tuns = append(tuns, t)
			}
			r.mu.Unlock()
		}
		slices.SortFunc(tuns, func(x, y simnet.Tunnel) int { return y.Expires.Compare(x.Expires) })
		if len(tuns) >= benchTunnels {
			ls := d.leaseSet(b, clock.Now(), 10*time.Minute, tuns[:i2p.MaxLeases])
			if err := routers[0].link.Publish(ctx, ls); err == nil {
				cnt.publishes.Add(1)
				if !announced {
					announced = true
					first <- struct{}{}
				}
			}
		}
		wait := benchRepublish
		if !announced {
			wait = 5 * time.Second
		}
		next = next.Add(wait)
		if simnet.Sleep(ctx, clock, next.Sub(clock.Now())) != nil {
			return
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sampleHeap(ctx context.Context, peak *atomic.Uint64) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var ms runtime.MemStats
	for {
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak.Load() {
			peak.Store(ms.HeapInuse)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// writeBenchReport writes the figures to $IMH_BENCH_DIR/simnet.json when
// `make bench` sets it.
func writeBenchReport(b *testing.B, v any) {
	dir := os.Getenv("IMH_BENCH_DIR")
	if dir == "" {
		return
	}
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "simnet.json"), append(body, '\n'), 0o644); err != nil {
		b.Errorf("bench report: %v", err)
	}
}

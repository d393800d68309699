package balancer

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
)

// leaderSnapshot is the balancer snapshot of a leader with routers routers
// and dests destinations on every router: the size issue 22 asks the cost
// of metrics for (100 routers).
func leaderSnapshot(routers, dests int) Metrics {
	m := Metrics{Leading: true, Term: 7, Routers: map[string]RouterMetrics{}, Dests: map[string]DestMetrics{}}
	for r := range routers {
		m.Routers[fmt.Sprintf("r%03d", r)] = RouterMetrics{Up: true, Downs: uint64(r)}
	}
	for d := range dests {
		dm := DestMetrics{Policy: PolicyFailover, Leases: 12, LeaseGoal: 12, Published: time.Now(),
			GatewaySet: 40, GatewaysInUse: 12, ActiveRouter: "r000", ByRouter: map[string]DestRouterMetrics{}}
		for name := range m.Routers {
			dm.ByRouter[name] = DestRouterMetrics{Leases: 1, InboundTunnels: 3, OutboundTunnels: 3,
				Counters: RouterCounters{TunnelBuilds: 100, Payloads: 1000, PayloadBytes: 1 << 20}}
		}
		m.Dests[fmt.Sprintf("d%02d", d)] = dm
	}
	return m
}

// BenchmarkMetricsScrape is one GET /metrics of a leader at 100 routers:
// the Go and process collectors plus the balancer's samples from a fixed
// snapshot (the loop's snapshot itself is not included: it is a map copy
// on the loop goroutine). The cost of metrics on the leader is this per
// scrape; between scrapes nothing is spent beyond the counters
// (BenchmarkCountersHotPath).
func BenchmarkMetricsScrape(b *testing.B) {
	for _, tc := range []struct{ routers, dests int }{{10, 1}, {100, 1}, {100, 4}} {
		b.Run(fmt.Sprintf("routers=%d/dests=%d", tc.routers, tc.dests), func(b *testing.B) {
			snap := leaderSnapshot(tc.routers, tc.dests)
			reg := metrics.NewRegistry()
			reg.MustRegister(metrics.Collector{Families: balancerFamilies, Emit: func(ch chan<- prometheus.Metric) {
				emitBalancer(ch, snap, time.Now())
			}})
			h := metrics.Handler(reg)
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			b.ReportAllocs()
			var size int
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				size = w.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}

package balancer

import (
	"fmt"
	"testing"
)

// BenchmarkCountersHotPath is what metrics add to the balancer's hot path:
// the counter lookup and increments of one payload from one of 100
// routers (payload.go). Everything else a scrape reports is read from the
// loop's state at scrape time (cmd/imh BenchmarkMetricsScrape).
func BenchmarkCountersHotPath(b *testing.B) {
	var c counters
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("r%03d", i)
		c.router("web", names[i]) // steady state: every pair seen before
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rc := c.router("web", names[i%len(names)])
		rc.Payloads++
		rc.PayloadBytes += 1024
		i++
	}
}

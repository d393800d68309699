package cluster

import (
	"testing"
	"time"
)

// TestMismatchLogRateLimit: the "another cluster secret" lines (gossip,
// join and raft sides) come at most once per secretMismatchEvery, the next
// one counting what was suppressed in between.
func TestMismatchLogRateLimit(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at             time.Duration
		ok             bool
		wantSuppressed int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{30 * time.Second, false, 0},
		{secretMismatchEvery - time.Nanosecond, false, 0},
		{secretMismatchEvery, true, 3},
		{secretMismatchEvery + time.Second, false, 0},
		{3 * secretMismatchEvery, true, 1},
	}
	var m mismatchLog
	for i, s := range steps {
		ok, n := m.allow(t0.Add(s.at))
		if ok != s.ok || n != s.wantSuppressed {
			t.Errorf("step %d at %v: allow = %v, %d; want %v, %d", i, s.at, ok, n, s.ok, s.wantSuppressed)
		}
	}
}

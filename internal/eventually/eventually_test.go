package eventually

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records Fatalf instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestWithin(t *testing.T) {
	tests := []struct {
		name     string
		trueFrom int32 // the call from which cond is true; 0 = never
		within   time.Duration
		want     bool
		minCalls int32
	}{
		{"true at once", 1, time.Second, true, 1},
		{"true on the third check", 3, time.Second, true, 3},
		{"never true", 0, 30 * time.Millisecond, false, 2},
		{"zero time still checks once", 1, 0, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			got := Within(tc.within, func() bool {
				n := calls.Add(1)
				return tc.trueFrom != 0 && n >= tc.trueFrom
			})
			if got != tc.want || calls.Load() < tc.minCalls {
				t.Fatalf("Within = %v after %d checks, want %v after at least %d", got, calls.Load(), tc.want, tc.minCalls)
			}
		})
	}
}

func TestTrueFailsNamingWhat(t *testing.T) {
	r := &recorder{TB: t}
	True(r, 20*time.Millisecond, "the leader", func() bool { return false })
	if !strings.Contains(r.failed, "waiting for the leader") || !strings.Contains(r.failed, "20ms") {
		t.Fatalf("failure message %q", r.failed)
	}
	r = &recorder{TB: t}
	True(r, time.Second, "nothing", func() bool { return true })
	if r.failed != "" {
		t.Fatalf("failed although cond held: %q", r.failed)
	}
}

func TestWithinBacksOff(t *testing.T) {
	var calls atomic.Int32
	Within(300*time.Millisecond, func() bool { calls.Add(1); return false })
	// 5+10+20+40 ms, then every 50 ms: about 9 checks in 300 ms; a fixed
	// 5 ms poll would make 60.
	if n := calls.Load(); n > 20 {
		t.Fatalf("%d checks in 300 ms: polling does not back off", n)
	}
}

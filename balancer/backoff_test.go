package balancer

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: time.Second, Max: time.Minute, Jitter: 0.2}
	for _, tc := range []struct {
		failures int
		r        float64
		want     time.Duration
	}{
		{0, 0, 0},
		{-1, 0.5, 0},
		{1, 0, time.Second},
		{2, 0, 2 * time.Second},
		{3, 0, 4 * time.Second},
		{6, 0, 32 * time.Second},
		{7, 0, time.Minute},
		{100, 0, time.Minute},
		{1, 0.5, 900 * time.Millisecond},
		{7, 0.999, time.Minute - time.Duration(float64(time.Minute)*0.2*0.999)},
	} {
		if got := b.Delay(tc.failures, tc.r); got != tc.want {
			t.Errorf("Delay(%d, %v) = %s, want %s", tc.failures, tc.r, got, tc.want)
		}
	}
}

func TestBackoffValidate(t *testing.T) {
	for _, tc := range []struct {
		b  Backoff
		ok bool
	}{
		{DefaultBackoff(), true},
		{Backoff{Base: time.Second, Max: time.Second}, true},
		{Backoff{}, false},
		{Backoff{Base: 2 * time.Second, Max: time.Second}, false},
		{Backoff{Base: time.Second, Max: time.Minute, Jitter: 1}, false},
		{Backoff{Base: time.Second, Max: time.Minute, Jitter: -0.1}, false},
	} {
		if err := tc.b.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.b, err)
		}
	}
}

// The Retrier, driven by the (bubbled) clock: a key is held back for the
// jittered delay after each failure, longer each time, and free again on
// success; other keys are unaffected.
func TestRetrier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Backoff{Base: time.Second, Max: 8 * time.Second, Jitter: 0.5}
		r := NewRetrier(b, newRand(11))
		for i := 1; i <= 6; i++ {
			next := r.Failed("r1/in", time.Now())
			wait := time.Until(next)
			full := b.Delay(i, 0)
			if wait > full || wait < full/2 {
				t.Fatalf("failure %d: wait %s outside [%s, %s]", i, wait, full/2, full)
			}
			if i > 4 && full != b.Max {
				t.Fatalf("failure %d: not capped: %s", i, full)
			}
			if ok, at := r.Ready("r1/in", time.Now()); ok || !at.Equal(next) {
				t.Fatalf("failure %d: ready right away (%t, %s)", i, ok, at)
			}
			if ok, _ := r.Ready("r2/in", time.Now()); !ok {
				t.Fatal("another key is held back")
			}
			time.Sleep(wait - time.Millisecond)
			if ok, _ := r.Ready("r1/in", time.Now()); ok {
				t.Fatalf("failure %d: ready early", i)
			}
			time.Sleep(time.Millisecond)
			if ok, _ := r.Ready("r1/in", time.Now()); !ok {
				t.Fatalf("failure %d: not ready after %s", i, wait)
			}
		}
		// Free failures cost nothing; the delay grows from the next one.
		if at := r.FailedAfter("r3/in", time.Now(), 2); !at.Equal(time.Now()) {
			t.Fatalf("first free failure waits %s", time.Until(at))
		}
		r.FailedAfter("r3/in", time.Now(), 2)
		if at := r.FailedAfter("r3/in", time.Now(), 2); time.Until(at) < b.Base/2 || time.Until(at) > b.Base {
			t.Fatalf("first failure beyond the free ones waits %s", time.Until(at))
		}
		if r.Failures("r1/in") != 6 {
			t.Fatalf("failures %d", r.Failures("r1/in"))
		}
		r.Succeeded("r1/in")
		if ok, _ := r.Ready("r1/in", time.Now()); !ok || r.Failures("r1/in") != 0 {
			t.Fatal("success did not reset")
		}
	})
}

package clock

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestRealUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := Real()
		start := c.Now()
		if err := Sleep(context.Background(), c, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := c.Now().Sub(start); got != time.Minute {
			t.Fatalf("slept %v, want 1m", got)
		}
		if !IsReal(c) || IsReal(Scaled(2)) {
			t.Fatal("IsReal wrong")
		}
	})
}

func TestScaledRunsFaster(t *testing.T) {
	c := Scaled(1000)
	start := c.Now()
	tm := c.NewTimer(10 * time.Second) // 10 ms of real time
	select {
	case fired := <-tm.C():
		if fired.Sub(start) < 10*time.Second {
			t.Fatalf("fired after %v of scaled time, want >= 10s", fired.Sub(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("scaled timer did not fire")
	}
}

func TestSleepCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, Real(), time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
}

func TestScaledRejectsBadScale(t *testing.T) {
	for _, s := range []float64{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("Scaled(%v) did not panic", s)
				}
			}()
			Scaled(s)
		}()
	}
	if !IsReal(Scaled(1)) {
		t.Fatal("Scaled(1) is not Real")
	}
}

// TestSkewed: Now is shifted by the offset, durations are not.
func TestSkewed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		real := Real()
		c := Skewed(real, -5*time.Minute)
		if got := real.Now().Sub(c.Now()); got != 5*time.Minute {
			t.Fatalf("skewed clock is %v behind, want 5m", got)
		}
		start := c.Now()
		if err := Sleep(context.Background(), c, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := c.Now().Sub(start); got != time.Minute {
			t.Fatalf("slept %v on the skewed clock, want 1m", got)
		}
		if !IsReal(Skewed(real, 0)) {
			t.Fatal("a zero skew should be the clock itself")
		}
	})
}

// Package clock is the one time abstraction of imh's simulated runs: the
// simulated network, the routers and the streaming layer read time through
// a Clock, so that the network and routers of one process can run on a
// scaled clock (`imh simnet serve --time-scale`, the simnet benchmarks),
// while daemons use wall-clock time. The balancer reads its agent's wall
// clock through a Clock (to which it adds the routers' offset), so a
// process test can skew one agent (Skewed); its unit tests run under
// testing/synctest.
package clock

import (
	"context"
	"fmt"
	"time"
)

// Clock abstracts time so that the simulated network and the routers of one
// process can share a scaled clock, or run under testing/synctest with Real
// (whose timers synctest fakes).
type Clock interface {
	// Now is the current simulated time.
	Now() time.Time
	// NewTimer fires once after d of simulated time.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock. The value sent on C is the clock's
// time when it fired.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it stopped it.
	Stop() bool
}

// Real is wall-clock time: the clock of every daemon but a scaled `imh
// simnet serve`, and of tests under testing/synctest, which fakes the
// runtime's time.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// Scaled runs scale times faster than wall-clock time (scale 60: one
// simulated minute per real second), starting at the current wall-clock
// time. It is for runs where the routers and the network share one process
// (or nothing else depends on the network's time); processes that talk to
// each other must all use real time. A scale
// of 1 is Real. It panics if scale is not positive, like time.NewTicker
// does for a bad period: callers validate scale first (Config.Validate).
func Scaled(scale float64) Clock {
	if !(scale > 0) {
		panic(fmt.Sprintf("clock: scale %v is not positive", scale))
	}
	if scale == 1 {
		return Real()
	}
	now := time.Now()
	return &scaledClock{scale: scale, base: now, realStart: now}
}

type scaledClock struct {
	scale     float64
	base      time.Time // simulated time at realStart
	realStart time.Time
}

func (c *scaledClock) Now() time.Time {
	real := time.Since(c.realStart)
	return c.base.Add(time.Duration(float64(real) * c.scale))
}

func (c *scaledClock) NewTimer(d time.Duration) Timer {
	t := &scaledTimer{c: make(chan time.Time, 1)}
	t.t = time.AfterFunc(time.Duration(float64(d)/c.scale), func() {
		t.c <- c.Now()
	})
	return t
}

type scaledTimer struct {
	t *time.Timer
	c chan time.Time
}

func (t *scaledTimer) C() <-chan time.Time { return t.c }
func (t *scaledTimer) Stop() bool          { return t.t.Stop() }

// Skewed is c shifted by offset: Now reads c.Now().Add(offset), and timers
// run as c's do (a skewed wall clock still measures durations right). It
// stands for a machine whose clock is wrong, for tests of clock skew; a
// zero offset is c.
func Skewed(c Clock, offset time.Duration) Clock {
	if offset == 0 {
		return c
	}
	return skewedClock{c: c, offset: offset}
}

type skewedClock struct {
	c      Clock
	offset time.Duration
}

func (s skewedClock) Now() time.Time                 { return s.c.Now().Add(s.offset) }
func (s skewedClock) NewTimer(d time.Duration) Timer { return s.c.NewTimer(d) }

// Sleep waits d of the clock's time, or until ctx ends (it then returns the
// context's error). A non-positive d returns at once.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsReal reports whether c is wall-clock time, so callers may use the time
// package's own timers directly.
func IsReal(c Clock) bool {
	_, ok := c.(realClock)
	return ok
}

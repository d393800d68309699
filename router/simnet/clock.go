package simnet

import (
	"context"
	"time"

	"github.com/imh-project/imh/internal/clock"
)

// Clock is the network's time source (see package clock): the network, the
// routers and the balancer of one process share it.
type Clock = clock.Clock

// Timer is a one-shot timer of a Clock.
type Timer = clock.Timer

// RealClock is wall-clock time, for networks whose routers live in other
// processes (`imh simnet serve --time-scale 1`) and for tests under
// testing/synctest.
func RealClock() Clock { return clock.Real() }

// ScaledClock runs scale times faster than wall-clock time; see clock.Scaled.
func ScaledClock(scale float64) Clock { return clock.Scaled(scale) }

// Sleep waits d of the clock's time, or until ctx ends; see clock.Sleep.
func Sleep(ctx context.Context, c Clock, d time.Duration) error { return clock.Sleep(ctx, c, d) }

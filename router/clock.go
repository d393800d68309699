package router

import (
	"context"
	"sync"
	"time"

	"github.com/imh-project/imh/internal/clock"
)

// Clock is the router's time source (see package clock). Daemons use
// wall-clock time; a process that runs routers and the simulated network
// together with a scaled clock hands the network's clock to the router
// (Config.Clock), so tunnel expiries, the grace period and retries all
// follow simulated time. Tests under testing/synctest use the real clock, whose
// timers synctest fakes.
type Clock = clock.Clock

// Timer is a one-shot timer of a Clock.
type Timer = clock.Timer

// RealClock is wall-clock time.
func RealClock() Clock { return clock.Real() }

// stopper cancels a callback scheduled with afterFunc.
type stopper interface{ Stop() bool }

// afterFunc runs f after d on the router's clock, on its own goroutine.
// With the real clock it is time.AfterFunc.
func (r *Router) afterFunc(d time.Duration, f func()) stopper {
	if clock.IsReal(r.clock) {
		return time.AfterFunc(d, f)
	}
	t := r.clock.NewTimer(d)
	s := &clockFunc{t: t, stop: make(chan struct{})}
	go func() {
		select {
		case <-t.C():
			f()
		case <-s.stop:
		case <-r.ctx.Done():
		}
	}()
	return s
}

type clockFunc struct {
	t    Timer
	once sync.Once
	stop chan struct{}
}

func (c *clockFunc) Stop() bool {
	ok := c.t.Stop()
	c.once.Do(func() { close(c.stop) })
	return ok
}

// sleep waits d on the router's clock or until ctx ends.
func (r *Router) sleep(ctx context.Context, d time.Duration) error {
	t := r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

func (r *Router) now() time.Time { return r.clock.Now() }

package balancer

import (
	"fmt"
	"time"
)

// Backoff spaces out retries after failures: Base doubled per consecutive
// failure, capped at Max, then shortened by up to Jitter (a fraction) at
// random so that the routers' retries do not fall into step.
type Backoff struct {
	Base   time.Duration
	Max    time.Duration
	Jitter float64
}

// DefaultBackoff suits tunnel builds: failures are normal on I2P (a hop
// declines; a 3-hop build often fails) and are retried at once with other
// peers; only a run of failures longer than the plan's size (FreeFailures,
// at least) means trouble and is spaced out, from half a second up to 30 s.
func DefaultBackoff() Backoff {
	return Backoff{Base: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}
}

// FreeFailures is the least number of consecutive build failures retried
// without waiting, building in parallel as usual; a plan of n tunnels gets
// n free failures if that is more.
const FreeFailures = 3

// Validate checks the configuration.
func (b Backoff) Validate() error {
	if b.Base <= 0 || b.Max < b.Base || b.Jitter < 0 || b.Jitter >= 1 {
		return fmt.Errorf("balancer: bad backoff %+v: need 0 < base <= max, 0 <= jitter < 1", b)
	}
	return nil
}

// Delay is the wait after the given number of consecutive failures (0 means
// no wait). r in [0,1) picks the jitter.
func (b Backoff) Delay(failures int, r float64) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := b.Base
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d - time.Duration(float64(d)*b.Jitter*r)
}

// Retrier tracks consecutive failures per key (e.g. router and direction)
// and when the next attempt may start. Not safe for concurrent use.
type Retrier struct {
	b     Backoff
	rnd   Rand
	state map[string]retryState
}

type retryState struct {
	failures int
	next     time.Time
}

// NewRetrier returns a Retrier drawing jitter from rnd.
func NewRetrier(b Backoff, rnd Rand) *Retrier {
	return &Retrier{b: b, rnd: rnd, state: make(map[string]retryState)}
}

// Failed records a failure at now and returns when to try again.
func (r *Retrier) Failed(key string, now time.Time) time.Time {
	return r.FailedAfter(key, now, 0)
}

// FailedAfter is Failed where the first free consecutive failures cost no
// wait: the delay grows from the first failure beyond them.
func (r *Retrier) FailedAfter(key string, now time.Time, free int) time.Time {
	s := r.state[key]
	s.failures++
	s.next = now.Add(r.b.Delay(s.failures-free, r.rnd.Float64()))
	r.state[key] = s
	return s.next
}

// Succeeded clears the key's failures.
func (r *Retrier) Succeeded(key string) { delete(r.state, key) }

// Ready reports whether an attempt may start at now, and if not, when.
func (r *Retrier) Ready(key string, now time.Time) (bool, time.Time) {
	s, ok := r.state[key]
	if !ok || !now.Before(s.next) {
		return true, time.Time{}
	}
	return false, s.next
}

// Failures is the key's count of consecutive failures.
func (r *Retrier) Failures(key string) int { return r.state[key].failures }

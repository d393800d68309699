package balancer

import (
	"slices"
	"time"
)

// MaxRouterOffset bounds the clock offset of a router that the loop
// believes: a router whose clock is further than this from the agent's
// (a SetDate of 0, a router clock set years wrong) is left out of the
// routers' time, and logged once per connection.
const MaxRouterOffset = 24 * time.Hour

// MedianOffset is the median of offsets: the middle one, or the mean of the
// two middle ones of an even count; 0 for none. It sorts offsets.
func MedianOffset(offsets []time.Duration) time.Duration {
	n := len(offsets)
	if n == 0 {
		return 0
	}
	slices.Sort(offsets)
	if n%2 == 1 {
		return offsets[n/2]
	}
	lo, hi := offsets[n/2-1], offsets[n/2]
	return lo + (hi-lo)/2
}

// now is the loop's time, by which it takes every decision: the routers'
// time, that is Config.Clock plus the median of the offsets of the
// connected routers' clocks from it (RouterConn.RouterNow, from their
// latest SetDate). Routers that sent no SetDate, or whose offset is beyond
// MaxRouterOffset, are left out; with no router left it is Config.Clock.
//
// The routers end tunnels and leases by their clocks, and floodfills judge
// `published` and `expires` by theirs, so a leader whose own clock is
// wrong still replaces tunnels, retires leases and republishes in time.
// Every time the loop keeps (a change noticed, a LeaseSet published, a
// build started, a fast tier fetched, a backoff) is read from now too, so
// the durations between them stay right; they jump once by the change
// when the median offset moves (a router with another clock connects or
// drops), as a stepped wall clock would. Timers (the tick, reconnect
// sleeps, request timeouts) and the frontends' freshness (time.Since on
// the local clock) measure durations only and do not use it. The fsm
// never reads a clock: the leader stamps its commands.
func (l *loop) now() time.Time {
	local := l.cfg.Clock.Now()
	off := l.routerOffset(local)
	if d := off - l.offset; d > time.Second || d < -time.Second {
		l.log.Info("running on the routers' time", "offset", off.Round(time.Millisecond), "routers", len(l.offsets))
		l.offset = off
	}
	return local.Add(off)
}

// routerOffset is the median offset of the connected routers' clocks from
// local (see now).
func (l *loop) routerOffset(local time.Time) time.Duration {
	offs := l.offsets[:0]
	for _, r := range l.routers {
		if !r.up() {
			continue
		}
		rn, ok := r.conn.RouterNow()
		if !ok {
			continue
		}
		off := rn.Sub(local)
		if off > MaxRouterOffset || off < -MaxRouterOffset {
			if !r.offsetIgnored {
				r.offsetIgnored = true
				l.log.Warn("router clock offset ignored", "router", r.name, "offset", off, "max", MaxRouterOffset)
			}
			continue
		}
		offs = append(offs, off)
	}
	l.offsets = offs
	return MedianOffset(offs)
}

// routerTime is conn's router's clock now, or the local clock if the router
// sent no SetDate: for the times a router compares with its own clock
// (a SessionConfig's date, a message's expiration).
func routerTime(conn RouterConn) time.Time {
	if t, ok := conn.RouterNow(); ok {
		return t
	}
	return time.Now()
}

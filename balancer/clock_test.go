package balancer

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/clock"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
)

// A leader whose clock is five minutes behind its routers' keeps time by
// the routers: the stored LeaseSet is never expired by their clock and
// never holds a lease they ended (it is republished before its leases
// end), and every tunnel is replaced before its router ends it. Both ways
// a leader can be behind are played: its balancer clock skewed (as
// IMH_TEST_CLOCK_SKEW does), and routers whose clocks run ahead of the
// machine's (what routerproto's SetDate offset measures).
func TestLoopClockBehindRouters(t *testing.T) {
	for _, tc := range []struct {
		name        string
		skew, ahead time.Duration
	}{
		{"leader clock slow", -5 * time.Minute, 0},
		{"router clocks fast", 0, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := fsm.DefaultSettings()
				h := newHarness(t, 2, allCaps, s)
				for _, r := range h.routers {
					r.ahead = tc.ahead
				}
				h.tune = func(c *Config) { c.Clock = clock.Skewed(clock.Real(), tc.skew) }
				run := h.start(5, 11)
				defer run.stop(t)
				start := time.Now()
				time.Sleep(time.Minute)
				// Forty minutes: four tunnel lifetimes. Bad samples are
				// counted (not fatal) so that the tunnel check below
				// reports too.
				bad, first := 0, ""
				for range 40 * 12 {
					time.Sleep(5 * time.Second)
					at := time.Since(start)
					routerNow := time.Now().Add(tc.ahead)
					ls, _ := h.current()
					if ls == nil {
						t.Fatalf("at +%s: no leaseset", at)
					}
					msg := ""
					if st := ls.TimeStatus(routerNow); st != i2p.TimeOK {
						msg = fmt.Sprintf("at +%s: the stored leaseset (published %d, expires %d s later) is %s by the routers' clock (%d)",
							at, ls.Published, ls.Expires, st, routerNow.Unix())
					}
					for _, l := range ls.Leases {
						if int64(l.End) <= routerNow.Unix() {
							msg = fmt.Sprintf("at +%s: the stored leaseset holds a lease its router ended %d s ago",
								at, routerNow.Unix()-int64(l.End))
						}
					}
					if msg != "" {
						if bad++; bad == 1 {
							first = msg
						}
					}
				}
				if bad > 0 {
					t.Errorf("%d of %d samples bad; first: %s", bad, 40*12, first)
				}
				for _, r := range h.routers {
					r.mu.Lock()
					ex := slices.Clone(r.expiries)
					r.mu.Unlock()
					if len(ex) < 4*int(s.Inbound+s.Outbound) {
						t.Fatalf("%s ended %d tunnels in %s", r.name, len(ex), time.Since(start))
					}
					for _, e := range ex {
						want := int(s.Inbound)
						if e.dir == routerproto.Outbound {
							want = int(s.Outbound)
						}
						if e.left < want {
							t.Errorf("%s ended a %s tunnel at +%s with %d of that direction left (want %d): not replaced before its end",
								r.name, e.dir, e.at.Sub(start), e.left, want)
							break
						}
					}
				}
			})
		})
	}
}

func TestMedianOffset(t *testing.T) {
	m := time.Minute
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{-5 * m}, -5 * m},
		{[]time.Duration{10 * m, m, 2 * m}, 2 * m},
		{[]time.Duration{5 * m, 0}, 5 * m / 2},
		{[]time.Duration{3 * m, -m, m, 0}, m / 2},
	} {
		if got := MedianOffset(slices.Clone(tc.in)); got != tc.want {
			t.Errorf("MedianOffset(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// The loop's time is the local clock plus the median offset of the
// routers that are up and sent a SetDate, leaving out absurd offsets.
func TestLoopNowRouterTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		local := clock.Skewed(clock.Real(), -5*time.Minute)
		l := &loop{cfg: Config{Clock: local}, log: testLogger(t), routers: map[string]*routerState{}}
		add := func(name string, ahead time.Duration, undated, up bool) *routerState {
			r := &routerState{name: name}
			if up {
				r.conn = &fakeConn{r: &fakeRouter{name: name, ahead: ahead, undated: undated}}
			}
			l.routers[name] = r
			return r
		}
		if got := l.now(); !got.Equal(local.Now()) {
			t.Fatalf("no router: now %s, want the local clock %s", got, local.Now())
		}
		add("down", time.Hour, false, false)
		add("undated", time.Hour, true, true)
		wild := add("wild", 48*time.Hour, false, true)
		if got := l.now(); !got.Equal(local.Now()) {
			t.Fatalf("no router to believe: now %s, want the local clock %s", got, local.Now())
		}
		if !wild.offsetIgnored {
			t.Fatal("the absurd offset was not noted")
		}
		add("r1", 0, false, true)
		add("r2", time.Second, false, true)
		add("r3", 2*time.Minute, false, true)
		// Offsets from the local clock: 5m, 5m1s, 7m.
		if got, want := l.now(), time.Now().Add(time.Second); !got.Equal(want) {
			t.Fatalf("now %s, want the median router's %s", got, want)
		}
	})
}

// A new leader's grace for re-attaching sessions (settling) is measured on
// its own clock, not the routers' time: when the first router's SetDate
// moves the loop's time by minutes, the grace must not end with it, or a
// leader minutes off publishes its first router's leases alone while the
// others are still attaching (TestClockSkewLeader failed so, 1 run in 4).
func TestSettlingSurvivesTheRoutersTimeJump(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		local := clock.Skewed(clock.Real(), -5*time.Minute)
		l := &loop{cfg: Config{Clock: local, RepublishBefore: time.Minute}, log: testLogger(t), routers: map[string]*routerState{}}
		d := &destState{openedAt: local.Now(), sessions: map[string]*session{}}
		l.routers["r1"] = &routerState{name: "r1", state: status.RouterUp, conn: &fakeConn{r: &fakeRouter{name: "r1", ahead: 5 * time.Minute}}}
		l.routers["r2"] = &routerState{name: "r2", state: status.RouterUnknown}
		l.order = []string{"r1", "r2"}
		now := l.now() // r1's SetDate: five minutes after the local clock
		if now.Sub(local.Now()) < 4*time.Minute {
			t.Fatalf("the loop's time is not the routers': %s against the local %s", now, local.Now())
		}
		d.lastLS = &i2p.LeaseSet2{Published: uint32(now.Unix()), Expires: 600}
		if !l.settling(d, now) {
			t.Fatal("not settling right after the takeover while r2 is not tried yet: the routers' time ended the grace")
		}
		time.Sleep(attachGrace)
		if l.settling(d, l.now()) {
			t.Error("still settling after attachGrace on the local clock")
		}
	})
}

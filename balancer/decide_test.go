package balancer

import (
	"slices"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
)

func TestInboundShare(t *testing.T) {
	for _, tc := range []struct {
		policy                 string
		inbound, routers, down int
		want                   int
	}{
		{PolicySpread, 3, 4, 0, 3},
		{PolicySpread, 3, 4, 1, 4},
		{PolicySpread, 3, 4, 2, 6},
		{PolicySpread, 3, 4, 4, 3},
		{PolicySpread, 5, 4, 1, 6}, // 16 leases at most
		{PolicyFailover, 12, 4, 1, 12},
	} {
		if got := InboundShare(tc.policy, tc.inbound, tc.routers, tc.down); got != tc.want {
			t.Errorf("%+v: got %d", tc, got)
		}
	}
}

func TestBuildShare(t *testing.T) {
	for _, tc := range []struct {
		policy                 string
		inbound, routers, down int
		want                   int
	}{
		{PolicySpread, 3, 4, 0, 4},     // one spare each: three cover a fourth's 3
		{PolicySpread, 3, 4, 1, 6},     // 4 published each, and the cover of one more death
		{PolicySpread, 3, 4, 2, 6},     // two up: no spares (they would double the tunnels)
		{PolicySpread, 4, 3, 0, 6},     // three routers: 2 spares each
		{PolicySpread, 6, 2, 0, 6},     // two routers: no spares
		{PolicySpread, 5, 4, 0, 6},     // the cover stays within 16 leases: ceil(16/3)
		{PolicySpread, 3, 4, 4, 3},     // all down
		{PolicyFailover, 12, 4, 0, 12}, // every router hot already
		{PolicyFailover, 12, 4, 1, 12},
	} {
		if got := BuildShare(tc.policy, tc.inbound, tc.routers, tc.down); got != tc.want {
			t.Errorf("%+v: got %d", tc, got)
		}
		if got := BuildShare(tc.policy, tc.inbound, tc.routers, tc.down); got < InboundShare(tc.policy, tc.inbound, tc.routers, tc.down) {
			t.Errorf("%+v: %d, under the LeaseSet's share", tc, got)
		}
	}
}

// TestReplaceLead: the lead is base plus a share of jitter that depends
// on the key and the tunnel only, spread over the whole range.
func TestReplaceLead(t *testing.T) {
	const base, jitter = 90 * time.Second, 6 * time.Second
	key, other := []byte("destination key one"), []byte("destination key two")
	gw := i2p.Hash{1, 2, 3}
	if got := ReplaceLead(nil, gw, 7, base, jitter); got != base {
		t.Errorf("no key: %v, want %v", got, base)
	}
	if got := ReplaceLead(key, gw, 7, base, 0); got != base {
		t.Errorf("no jitter: %v, want %v", got, base)
	}
	if a, b := ReplaceLead(key, gw, 7, base, jitter), ReplaceLead(key, gw, 7, base, jitter); a != b {
		t.Errorf("the same tunnel got %v and %v", a, b)
	}
	var low, high, differ int
	for id := range uint32(1000) {
		l := ReplaceLead(key, gw, id, base, jitter)
		if l < base || l >= base+jitter {
			t.Fatalf("tunnel %d: lead %v outside [%v, %v)", id, l, base, base+jitter)
		}
		if l < base+jitter/4 {
			low++
		}
		if l >= base+3*jitter/4 {
			high++
		}
		if l != ReplaceLead(other, gw, id, base, jitter) {
			differ++
		}
	}
	// About a quarter in each end; another key gives other leads.
	if low < 200 || high < 200 || differ < 990 {
		t.Errorf("leads: %d in the lowest quarter, %d in the highest, %d of 1000 differ under another key", low, high, differ)
	}
}

func TestTunnelsToBuildAndTierSize(t *testing.T) {
	for _, tc := range []struct{ target, healthy, fresh, all, want int }{
		{3, 0, 0, 0, 3}, {3, 2, 0, 0, 1}, {3, 0, 1, 5, 1}, {3, 3, 0, 0, 0}, {3, 4, 0, 0, 0},
	} {
		if got := TunnelsToBuild(tc.target, tc.healthy, tc.fresh, tc.all); got != tc.want {
			t.Errorf("%+v: got %d", tc, got)
		}
	}
	for _, tc := range []struct {
		sizes []int
		want  int
	}{{nil, 0}, {[]int{75}, 75}, {[]int{75, 20, 80}, 75}, {[]int{10, 75, 80, 200}, 75}} {
		if got := TierSize(tc.sizes); got != tc.want {
			t.Errorf("TierSize(%v) = %d, want %d", tc.sizes, got, tc.want)
		}
	}
}

func TestDecidePublish(t *testing.T) {
	c := DefaultConfig().PublishConfig()
	c.Coalesce = 5 * time.Second // the default is 0; the mechanism stays
	now := t0
	a := []Lease{{Router: "r1", Gateway: peer(1), TunnelID: 1, End: now.Add(9 * time.Minute)}}
	b := append([]Lease{{Router: "r2", Gateway: peer(2), TunnelID: 2, End: now.Add(10 * time.Minute)}}, a...)
	exp := now.Add(9 * time.Minute)
	for _, tc := range []struct {
		name string
		in   PublishInput
		want PublishAction
	}{
		{"first", PublishInput{Now: now, Selected: a}, PublishNow},
		{"nothing chosen", PublishInput{Now: now}, PublishIdle},
		{"unchanged", PublishInput{Now: now, Selected: a, Last: a, LastExpires: exp, LastAt: now.Add(-time.Minute)}, PublishIdle},
		{"change coalesces", PublishInput{Now: now, Selected: b, Last: a, LastExpires: exp, LastAt: now.Add(-time.Minute), ChangeSince: now.Add(-time.Second), Target: 1}, PublishWait},
		{"change after coalescing", PublishInput{Now: now, Selected: b, Last: a, LastExpires: exp, LastAt: now.Add(-time.Minute), ChangeSince: now.Add(-c.Coalesce), Target: 1}, PublishNow},
		{"change too soon after the last", PublishInput{Now: now, Selected: b, Last: a, LastExpires: exp, LastAt: now.Add(-10 * time.Second), ChangeSince: now.Add(-time.Minute), Target: 1}, PublishWait},
		{"dead lease goes at once", PublishInput{Now: now, Selected: a, Last: b, LastExpires: exp, LastAt: now.Add(-2 * time.Second), DeadLease: true}, PublishNow},
	} {
		if got := DecidePublish(c, tc.in); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestStepPlan: during the main wave a router's tunnels out of step with
// it do not count as healthy (so the wave builds their successors in
// step); outside it, and for a small group's own replacements, every
// tunnel not yet due counts.
func TestStepPlan(t *testing.T) {
	const base = 90 * time.Second
	gen := TunnelLifetime - base
	now := time.Unix(0, 0).Add(1000 * gen) // phase 0
	at := func(secs ...int) []time.Time { return secondsAfter(now, secs...) }
	main := []int{-5, 0, 3, 8, 12, 15, 20, 24, 30, 33, 40, 52} // one wave, drifted over a minute
	with := func(extra ...int) []time.Time { return at(append(append([]int{}, main...), extra...)...) }
	for _, tc := range []struct {
		name string
		due  []time.Time
		mine []time.Time
		wave bool
		want int
	}{
		{name: "one wave: all in step", due: with(), mine: at(20, 40), wave: true, want: 2},
		{name: "a returning router's tunnels out of step", due: with(200, 202, 205, 210),
			mine: at(200, 202, 205, 210), wave: true, want: 0},
		{name: "a router's own out-of-step tunnel", due: with(200), mine: at(24, 200), wave: true, want: 1},
		{name: "successors built in the wave are in step", due: with(505, 508, 200), mine: at(505, 508, 200), wave: true, want: 2},
		{name: "the wave wraps round phase 0", due: at(-40, -30, -20, -10, -5, 2, 5, 250), mine: at(2, 250), wave: true, want: 1},
		{name: "a small group's replacement is no wave", due: at(-3, 0, 200, 205, 210, 215, 220, 230),
			mine: at(200, 205), wave: false, want: 2},
		{name: "the wave is still ahead", due: at(60, 62, 70, 75, 80, 90, 200), mine: at(200), wave: false, want: 1},
		// main's -5 is the latest due: 20 s ago is past the window.
		{name: "the wave's start is past", due: at(-20, 40, 45, 50, 200), mine: at(200), wave: false, want: 1},
		{name: "due tunnels never count", due: with(200), mine: at(-5, 0), wave: true, want: 0},
		{name: "no tunnels", due: nil, mine: nil, wave: false, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewStepPlan(now, tc.due, base)
			if p.Wave() != tc.wave {
				t.Errorf("wave %v, want %v", p.Wave(), tc.wave)
			}
			if got := p.Healthy(now, tc.mine); got != tc.want {
				t.Errorf("healthy %d, want %d", got, tc.want)
			}
		})
	}
}

// TestStepPlanDeterministic: the plan depends on the tunnels, not on the
// order they are listed in (every leader plans the same).
func TestStepPlanDeterministic(t *testing.T) {
	const base = 90 * time.Second
	now := time.Unix(1_800_000_000, 0)
	var due []time.Time
	for i := range 40 {
		due = append(due, now.Add(time.Duration((i*37)%400-10)*time.Second))
	}
	want := NewStepPlan(now, due, base)
	slices.Reverse(due)
	if got := NewStepPlan(now, due, base); got != want {
		t.Errorf("reversed input: %+v, want %+v", got, want)
	}
}

func TestWaveSpan(t *testing.T) {
	const base = 90 * time.Second
	gen := TunnelLifetime - base
	zero := time.Unix(0, 0).Add(1000 * gen) // phase 0
	at := func(secs ...int) []time.Time { return secondsAfter(zero, secs...) }
	for _, tc := range []struct {
		name string
		due  []time.Time
		want time.Duration
	}{
		{"none", nil, 0},
		{"one", at(7), 0},
		{"one wave", at(0, 10, 30), 30 * time.Second},
		{"a generation later is the same phase", at(0, 10, 30+510), 30 * time.Second},
		{"wraps round phase 0", at(-20, 0, 25), 45 * time.Second},
		{"two waves", at(0, 5, 200, 205), 205 * time.Second},
	} {
		if got := WaveSpan(tc.due, base); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// secondsAfter lists t plus each of secs seconds.
func secondsAfter(t time.Time, secs ...int) []time.Time {
	out := make([]time.Time, len(secs))
	for i, s := range secs {
		out[i] = t.Add(time.Duration(s) * time.Second)
	}
	return out
}

package balancer

import (
	"testing"
	"time"
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

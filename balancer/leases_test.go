package balancer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
)

var t0 = time.Unix(1_790_000_000, 0)

func peer(n int) i2p.Hash {
	var h i2p.Hash
	h[0], h[1], h[31] = byte(n>>8), byte(n), 0xee
	return h
}

// tun makes a lease of router r whose tunnel ends `left` after t0.
func tun(r string, id uint32, left time.Duration) Lease {
	return Lease{Router: r, Gateway: peer(int(id)), TunnelID: id, End: t0.Add(left)}
}

func routers(names ...string) []RouterState {
	var rs []RouterState
	for _, n := range names {
		rs = append(rs, RouterState{Name: n, Up: true})
	}
	return rs
}

func ids(ls []Lease) []uint32 {
	var out []uint32
	for _, l := range ls {
		out = append(out, l.TunnelID)
	}
	slices.Sort(out)
	return out
}

// grid makes n tunnels per router, router i tunnel j with id i*100+j, the
// higher j the fresher.
func grid(names []string, n int) []Lease {
	var ls []Lease
	for i, r := range names {
		for j := range n {
			ls = append(ls, tun(r, uint32((i+1)*100+j), 5*time.Minute+time.Duration(j)*time.Second))
		}
	}
	return ls
}

func TestSpreadSelect(t *testing.T) {
	four := []string{"r1", "r2", "r3", "r4"}
	down := routers(four...)
	down[1].Up = false
	tests := []struct {
		name   string
		in     SelectInput
		want   []uint32
		counts map[string]int
	}{
		{
			name:   "four routers times three",
			in:     SelectInput{Routers: routers(four...), Tunnels: grid(four, 3), PerRouter: 3, Max: 16},
			want:   []uint32{100, 101, 102, 200, 201, 202, 300, 301, 302, 400, 401, 402},
			counts: map[string]int{"r1": 3, "r2": 3, "r3": 3, "r4": 3},
		},
		{
			name:   "sixteen at most, shared fairly",
			in:     SelectInput{Routers: routers(four...), Tunnels: grid(four, 6), PerRouter: 6, Max: 16},
			counts: map[string]int{"r1": 4, "r2": 4, "r3": 4, "r4": 4},
			want:   []uint32{102, 103, 104, 105, 202, 203, 204, 205, 302, 303, 304, 305, 402, 403, 404, 405},
		},
		{
			name:   "max above sixteen is sixteen",
			in:     SelectInput{Routers: routers(four...), Tunnels: grid(four, 6), PerRouter: 6, Max: 40},
			counts: map[string]int{"r1": 4, "r2": 4, "r3": 4, "r4": 4},
			want:   []uint32{102, 103, 104, 105, 202, 203, 204, 205, 302, 303, 304, 305, 402, 403, 404, 405},
		},
		{
			name:   "per-router cap takes the freshest",
			in:     SelectInput{Routers: routers("r1", "r2"), Tunnels: grid([]string{"r1", "r2"}, 5), PerRouter: 2, Max: 16},
			want:   []uint32{103, 104, 203, 204},
			counts: map[string]int{"r1": 2, "r2": 2},
		},
		{
			name: "still-valid previous leases are kept over fresher ones",
			in: SelectInput{Routers: routers("r1", "r2"), Tunnels: grid([]string{"r1", "r2"}, 5), PerRouter: 2, Max: 16,
				Previous: []Lease{tun("r1", 100, 5*time.Minute), tun("r2", 204, 5*time.Minute+4*time.Second)}},
			want: []uint32{100, 104, 203, 204},
		},
		{
			name: "a previous lease about to expire is replaced",
			in: SelectInput{Routers: routers("r1"), PerRouter: 2, Max: 16, MinRemaining: 30 * time.Second,
				Tunnels:  []Lease{tun("r1", 1, 20*time.Second), tun("r1", 2, 9*time.Minute), tun("r1", 3, 10*time.Minute), tun("r1", 4, 8*time.Minute)},
				Previous: []Lease{tun("r1", 1, 20*time.Second), tun("r1", 4, 8*time.Minute)}},
			want: []uint32{3, 4},
		},
		{
			name: "a previous lease whose tunnel died is dropped",
			in: SelectInput{Routers: routers("r1"), PerRouter: 2, Max: 16,
				Tunnels:  []Lease{tun("r1", 2, 9*time.Minute), tun("r1", 3, 10*time.Minute)},
				Previous: []Lease{tun("r1", 1, 8*time.Minute), tun("r1", 2, 9*time.Minute)}},
			want: []uint32{2, 3},
		},
		{
			name: "expired tunnels are dropped",
			in: SelectInput{Routers: routers("r1"), PerRouter: 3, Max: 16,
				Tunnels: []Lease{tun("r1", 1, 0), tun("r1", 2, -time.Minute), tun("r1", 3, time.Second)}},
			want: []uint32{3},
		},
		{
			name:   "routers that are down contribute nothing",
			in:     SelectInput{Routers: down, Tunnels: grid(four, 3), PerRouter: 3, Max: 16, Previous: grid([]string{"r2"}, 3)},
			counts: map[string]int{"r1": 3, "r3": 3, "r4": 3},
			want:   []uint32{100, 101, 102, 300, 301, 302, 400, 401, 402},
		},
		{
			name: "unknown routers contribute nothing",
			in:   SelectInput{Routers: routers("r1"), Tunnels: grid([]string{"r1", "rx"}, 2), PerRouter: 3, Max: 16},
			want: []uint32{100, 101},
		},
		{
			name: "duplicates count once",
			in:   SelectInput{Routers: routers("r1"), Tunnels: append(grid([]string{"r1"}, 2), grid([]string{"r1"}, 2)...), PerRouter: 3, Max: 16},
			want: []uint32{100, 101},
		},
		{
			name: "full leaseset keeps its previous leases before a new router",
			in: SelectInput{Routers: routers("r1", "r2"), Tunnels: grid([]string{"r1", "r2"}, 8), PerRouter: 16, Max: 4,
				Previous: grid([]string{"r1"}, 4)},
			want: []uint32{100, 101, 102, 103},
		},
		{
			name: "nothing up, nothing chosen",
			in:   SelectInput{Routers: []RouterState{{Name: "r1"}}, Tunnels: grid([]string{"r1"}, 3), PerRouter: 3, Max: 16},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = t0
			got := Spread{}.Select(tc.in)
			if !slices.Equal(ids(got.Leases), tc.want) {
				t.Fatalf("chose %v, want %v", ids(got.Leases), tc.want)
			}
			if tc.counts != nil && fmt.Sprint(LeasesByRouter(got.Leases)) != fmt.Sprint(tc.counts) {
				t.Fatalf("by router %v, want %v", LeasesByRouter(got.Leases), tc.counts)
			}
			for i := 1; i < len(got.Leases); i++ {
				if got.Leases[i].End.After(got.Leases[i-1].End) {
					t.Fatalf("not freshest first: %v", got.Leases)
				}
			}
			// Deterministic whatever the input order.
			rnd := rand.New(rand.NewPCG(1, 2))
			for range 5 {
				in := tc.in
				in.Tunnels = slices.Clone(in.Tunnels)
				rnd.Shuffle(len(in.Tunnels), func(i, j int) { in.Tunnels[i], in.Tunnels[j] = in.Tunnels[j], in.Tunnels[i] })
				again := Spread{}.Select(in)
				if !slices.Equal(again.Leases, got.Leases) {
					t.Fatalf("order-dependent: %v vs %v", again.Leases, got.Leases)
				}
			}
		})
	}
}

// A LeaseSet republished as tunnels are replaced keeps every lease that is
// still valid: over a simulated hour each republish changes only leases
// whose tunnels died.
func TestSpreadStableAcrossReplacements(t *testing.T) {
	names := []string{"r1", "r2", "r3", "r4"}
	var live []Lease
	next := uint32(1)
	build := func(r string, now time.Time) {
		live = append(live, Lease{Router: r, Gateway: peer(int(next)), TunnelID: next, End: now.Add(10 * time.Minute)})
		next++
	}
	now := t0
	for i, r := range names {
		for j := range 3 {
			_ = j
			build(r, now.Add(-time.Duration(i*3+j)*40*time.Second))
		}
	}
	var prev []Lease
	for step := range 360 {
		now = t0.Add(time.Duration(step) * 10 * time.Second)
		// Each router replaces tunnels ReplaceBefore (90 s) before they
		// end, as the loop does.
		for _, l := range slices.Clone(live) {
			if l.End.Sub(now) < 90*time.Second && l.End.Sub(now) >= 80*time.Second {
				build(l.Router, now)
			}
		}
		live = slices.DeleteFunc(live, func(l Lease) bool { return !l.End.After(now) })
		got := Spread{}.Select(SelectInput{Now: now, Routers: routers(names...), Tunnels: live, Previous: prev,
			PerRouter: 3, Max: 16, MinRemaining: DefaultMinLeaseRemaining}).Leases
		if len(got) != 12 {
			t.Fatalf("step %d: %d leases", step, len(got))
		}
		if c := LeasesByRouter(got); c["r1"] != 3 || c["r2"] != 3 || c["r3"] != 3 || c["r4"] != 3 {
			t.Fatalf("step %d: by router %v", step, c)
		}
		for _, p := range prev {
			stillValid := p.End.Sub(now) > DefaultMinLeaseRemaining
			if kept := slices.Contains(got, p); stillValid != kept {
				t.Fatalf("step %d: lease %d (%s left) kept=%t", step, p.TunnelID, p.End.Sub(now), kept)
			}
		}
		prev = got
	}
}

func TestPolicyByName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
		err  error
	}{
		{"spread", "spread", nil},
		{"", "spread", nil},
		{"failover", "failover", nil},
		{"bogus", "", ErrUnknownPolicy},
	} {
		p, err := PolicyByName(tc.name)
		if !errors.Is(err, tc.err) {
			t.Fatalf("%q: err %v, want %v", tc.name, err, tc.err)
		}
		if err == nil && p.Name() != tc.want {
			t.Fatalf("%q: got %s", tc.name, p.Name())
		}
	}
}

func TestSameLeases(t *testing.T) {
	a := grid([]string{"r1", "r2"}, 3)
	b := slices.Clone(a)
	slices.Reverse(b)
	if !SameLeases(a, b) {
		t.Fatal("reordered leases differ")
	}
	b[0].End = b[0].End.Add(time.Second)
	if SameLeases(a, b) {
		t.Fatal("a changed end is the same")
	}
	if SameLeases(a, a[1:]) {
		t.Fatal("a dropped lease is the same")
	}
}

func TestFailoverSelect(t *testing.T) {
	three := []string{"r1", "r2", "r3"}
	r2down := routers(three...)
	r2down[1].Up = false
	uneven := append(grid([]string{"r1"}, 1), grid([]string{"r2", "r3"}, 3)...)
	tests := []struct {
		name   string
		in     SelectInput
		active string
		want   []uint32
	}{
		{"first router with the most leases", SelectInput{Routers: routers(three...), Tunnels: uneven, PerRouter: 3, Max: 16}, "r2", []uint32{100, 101, 102}},
		{"the active router stays", SelectInput{Routers: routers(three...), Tunnels: uneven, PerRouter: 3, Max: 16, Active: "r1"}, "r1", []uint32{100}},
		{"the active router is down: switch", SelectInput{Routers: r2down, Tunnels: grid(three, 3), PerRouter: 3, Max: 16, Active: "r2"}, "r1", []uint32{100, 101, 102}},
		{"the active router lost its leases: switch", SelectInput{Routers: routers(three...), Tunnels: grid([]string{"r3"}, 2), PerRouter: 3, Max: 16, Active: "r1"}, "r3", []uint32{100, 101}},
		{"per-router cap", SelectInput{Routers: routers(three...), Tunnels: grid(three, 5), PerRouter: 2, Max: 16, Active: "r3"}, "r3", []uint32{303, 304}},
		{"nothing usable", SelectInput{Routers: r2down, Tunnels: grid([]string{"r2"}, 3), PerRouter: 3, Max: 16}, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = t0
			got := Failover{}.Select(tc.in)
			if got.Active != tc.active || !slices.Equal(ids(got.Leases), tc.want) {
				t.Fatalf("active %q leases %v, want %q %v", got.Active, ids(got.Leases), tc.active, tc.want)
			}
		})
	}
}

// TestSpreadRetiredLeaseWaitsForFreshTunnel: a published lease that has
// lost its priority (less than Retire left) gives way to a fresh tunnel of
// its router, not to an old spare of its own generation; the old spare
// still fills in when the router's share grows (another router died).
func TestSpreadRetiredLeaseWaitsForFreshTunnel(t *testing.T) {
	const retire = 90 * time.Second
	published := []Lease{tun("r1", 1, 85*time.Second), tun("r1", 2, 100*time.Second), tun("r1", 3, 110*time.Second)}
	spare := tun("r1", 4, 105*time.Second) // same generation, unpublished
	fresh := tun("r1", 5, 595*time.Second)
	in := SelectInput{Now: t0, Routers: routers("r1"), Previous: published, PerRouter: 3, Max: 16,
		MinRemaining: DefaultMinLeaseRemaining, Retire: retire}
	for _, tc := range []struct {
		name      string
		tunnels   []Lease
		perRouter int
		want      []uint32
	}{
		{"no fresh tunnel yet: the retired lease stays", []Lease{published[0], published[1], published[2], spare}, 3, []uint32{1, 2, 3}},
		{"a fresh tunnel takes the retired lease's place", []Lease{published[0], published[1], published[2], spare, fresh}, 3, []uint32{2, 3, 5}},
		{"a grown share takes the old spare too", []Lease{published[0], published[1], published[2], spare}, 4, []uint32{1, 2, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := in
			in.Tunnels, in.PerRouter = tc.tunnels, tc.perRouter
			if got := ids(Spread{}.Select(in).Leases); !slices.Equal(got, tc.want) {
				t.Errorf("leases %v, want %v", got, tc.want)
			}
		})
	}
}

// A published lease's replacement is started up to Lead before Retire
// (ReplaceLead); once built it takes the lease's place at once, as a stock
// router publishes a new tunnel when it is built, rather than when the old
// lease comes within Retire of its end (issue 20: expires_offset). Only a
// tunnel built since the lease came within Retire+Lead counts: an older
// unpublished tunnel (a spare) does not push the lease out early.
func TestSpreadReplacementEntersWhenBuilt(t *testing.T) {
	const retire, lead = 90 * time.Second, 6 * time.Second
	published := []Lease{tun("r1", 1, 93*time.Second), tun("r1", 2, 300*time.Second), tun("r1", 3, 450*time.Second)}
	spare := tun("r1", 4, 250*time.Second)
	built := tun("r1", 5, TunnelLifetime-2*time.Second)  // 2 s ago: lease 1 had 95 s left
	before := tun("r1", 6, TunnelLifetime-4*time.Second) // 4 s ago: lease 1 had 97 s left
	in := SelectInput{Now: t0, Routers: routers("r1"), Previous: published, PerRouter: 3, Max: 16,
		MinRemaining: DefaultMinLeaseRemaining, Retire: retire, Lead: lead}
	for _, tc := range []struct {
		name    string
		tunnels []Lease
		lead    time.Duration
		want    []uint32
	}{
		{"only a spare: the lease stays", []Lease{published[0], published[1], published[2], spare}, lead, []uint32{1, 2, 3}},
		{"its replacement takes its place when built", []Lease{published[0], published[1], published[2], spare, built}, lead, []uint32{2, 3, 5}},
		{"a tunnel built before the lead does not", []Lease{published[0], published[1], published[2], before}, lead, []uint32{1, 2, 3}},
		{"no lead: the lease stays to Retire", []Lease{published[0], published[1], published[2], spare, built}, 0, []uint32{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := in
			in.Tunnels, in.Lead = tc.tunnels, tc.lead
			if got := ids(Spread{}.Select(in).Leases); !slices.Equal(got, tc.want) {
				t.Errorf("spread: leases %v, want %v", got, tc.want)
			}
			if got := ids(Failover{}.Select(in).Leases); !slices.Equal(got, tc.want) {
				t.Errorf("failover: leases %v, want %v", got, tc.want)
			}
		})
	}
}

// When a router comes back up, the others' leases that covered for it
// stay beyond their share until its own tunnels are built (Target), instead
// of a LeaseSet a quarter short (issue 20: imh-churn's lease_count outside
// the floor for the 20 s after each return); an unpublished spare is not
// taken past its router's share.
func TestSpreadOthersCoverARouterBackWithoutTunnels(t *testing.T) {
	var tunnels []Lease
	for i, r := range []string{"r1", "r2", "r3"} {
		for j := range 4 { // 4 each while r4 was down
			tunnels = append(tunnels, tun(r, uint32(10*i+j+1), time.Duration(200+100*j)*time.Second))
		}
	}
	in := SelectInput{Now: t0, Routers: routers("r1", "r2", "r3", "r4"), Tunnels: tunnels, Previous: tunnels,
		PerRouter: 3, Max: 16, MinRemaining: DefaultMinLeaseRemaining, Retire: 90 * time.Second}
	var sp Spread
	if got := sp.Select(in).Leases; len(got) != 9 {
		t.Fatalf("without Target: %d leases, want 9 (3 per router)", len(got))
	}
	in.Target = 12
	if n := LeasesByRouter(sp.Select(in).Leases); n["r1"] != 4 || n["r2"] != 4 || n["r3"] != 4 {
		t.Fatalf("Target 12: leases by router %v, want the 4 published of r1-r3 each", n)
	}
	// r4's first tunnel takes one place; the others keep the rest.
	in.Tunnels = append(slices.Clone(tunnels), tun("r4", 41, 599*time.Second))
	got := sp.Select(in).Leases
	if n := LeasesByRouter(got); len(got) != 12 || n["r4"] != 1 {
		t.Fatalf("r4 with one tunnel: leases by router %v, want 12 with 1 of r4", n)
	}
	// Spares never published do not fill.
	in.Tunnels, in.Previous = tunnels, nil
	if got := sp.Select(in).Leases; len(got) != 9 {
		t.Fatalf("unpublished spares: %d leases, want 9", len(got))
	}
}

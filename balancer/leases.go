package balancer

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/imh-project/imh/i2p"
)

// Lease policy names, as `imh dest create --policy` spells them.
const (
	PolicySpread   = "spread"
	PolicyFailover = "failover"
)

// ErrUnknownPolicy reports a lease policy name this binary does not offer.
var ErrUnknownPolicy = errors.New("balancer: unknown lease policy")

// DefaultMinLeaseRemaining is how long a lease must still live to be kept in
// (or put into) a LeaseSet. A lease that dies within seconds only sends
// remote clients into a dead tunnel; single routers drop such leases too.
const DefaultMinLeaseRemaining = 60 * time.Second

// Lease is one live inbound tunnel of one router, as a LeaseSet lease.
type Lease struct {
	Router   string
	Gateway  i2p.Hash
	TunnelID uint32
	End      time.Time
}

// Lease2 is the LeaseSet2 form (end in whole seconds, rounded down).
func (l Lease) Lease2() i2p.Lease2 {
	return i2p.Lease2{Gateway: l.Gateway, TunnelID: l.TunnelID, End: uint32(l.End.Unix())}
}

// key identifies a tunnel across observations (its end may be re-reported).
func (l Lease) key() leaseKey { return leaseKey{l.Router, l.Gateway, l.TunnelID} }

type leaseKey struct {
	router  string
	gateway i2p.Hash
	tunnel  uint32
}

// RouterState is what lease selection knows of one router of a destination.
type RouterState struct {
	Name string
	Up   bool
}

// SelectInput is everything a LeasePolicy decides from. It is plain data so
// that policies stay pure and deterministic.
type SelectInput struct {
	Now time.Time
	// Routers are the destination's routers in a stable order (their
	// configuration order); it breaks ties between routers.
	Routers []RouterState
	// Tunnels are the live inbound tunnels of all routers.
	Tunnels []Lease
	// Previous are the leases of the LeaseSet last published, kept while
	// still valid so that remote clients stay where their session state is.
	Previous []Lease
	// PerRouter caps the leases of one router (the destination's --inbound).
	PerRouter int
	// Max caps the whole LeaseSet (at most i2p.MaxLeases).
	Max int
	// MinRemaining drops leases that expire sooner than this.
	MinRemaining time.Duration
	// Retire: a published lease with less life left than this loses its
	// priority over fresher tunnels of its router (its replacement is
	// built by then). A single router's LeaseSet carries its newest
	// tunnels; keeping an old lease to its end shows as LeaseSets whose
	// leases are older than one router's. 0 keeps published leases to
	// MinRemaining.
	Retire time.Duration
	// Lead: an inbound tunnel's replacement starts up to this much before
	// Retire (Config.ReplaceJitter, ReplaceLead). A published lease with
	// less than Retire+Lead left also loses its priority to an unpublished
	// tunnel of its router built since then (its replacement), one such
	// tunnel per lease, oldest lease first: a stock router's LeaseSet
	// takes a new tunnel in when it is built, not when the lease it
	// replaces comes within Retire of its end.
	Lead time.Duration
	// Target: when the routers' shares (PerRouter) give fewer leases than
	// this (LeaseTarget), previously published leases that keep their
	// priority stay beyond their router's share, up to it. When a router
	// comes back up, the others' leases that covered for it thus stay
	// until its own tunnels are built, instead of a LeaseSet a quarter
	// short meanwhile. Only published leases: a new tunnel taken past its
	// router's share would have to leave again, young, when the share's
	// owner catches up. 0: no filling.
	Target int
	// Active is the router whose leases the failover policy published last.
	Active string
}

// Selection is a policy's decision.
type Selection struct {
	Leases []Lease
	// Active names the router carrying the LeaseSet under a one-router
	// policy; empty under spread.
	Active string
}

// LeasePolicy chooses which live inbound tunnels go into the LeaseSet. All
// policies obey the same limits (Max, PerRouter, MinRemaining, routers
// down); they differ in which routers contribute.
type LeasePolicy interface {
	Name() string
	Select(in SelectInput) Selection
}

// PolicyByName returns the named lease policy.
func PolicyByName(name string) (LeasePolicy, error) {
	switch name {
	case PolicySpread, "":
		return Spread{}, nil
	case PolicyFailover:
		return Failover{}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownPolicy, name)
}

// Failover publishes one router's leases at a time: a remote sender's
// end-to-end session state lives in the router that answered it, so
// request/response traffic must keep reaching that router. The active
// router stays while it is up and has a usable lease; otherwise the up
// router with the most usable leases (the first in order on a tie) takes
// over. The others stay hot (sessions open, tunnels built). The LeaseSet
// still looks like one router's.
type Failover struct{}

// Name is "failover".
func (Failover) Name() string { return PolicyFailover }

// Select implements LeasePolicy.
func (Failover) Select(in SelectInput) Selection {
	groups, prev := candidates(in)
	active := in.Active
	if len(groups[active]) == 0 {
		active = ""
		for _, r := range in.Routers {
			if n := len(groups[r.Name]); n > 0 && (active == "" || n > len(groups[active])) {
				active = r.Name
			}
		}
	}
	if active == "" {
		return Selection{}
	}
	only := in
	only.Routers = []RouterState{{Name: active, Up: true}}
	return Selection{Leases: pick(only, map[string][]Lease{active: groups[active]}, prev), Active: active}
}

// Spread takes leases from every router that is up: load sharing, safe for
// one-way traffic. Already published leases that are still valid come
// first (stability), then the freshest new ones; routers take turns so that
// the 16-lease limit is shared fairly.
type Spread struct{}

// Name is "spread".
func (Spread) Name() string { return PolicySpread }

// Select implements LeasePolicy.
func (Spread) Select(in SelectInput) Selection {
	groups, prev := candidates(in)
	return Selection{Leases: pick(in, groups, prev)}
}

// candidates groups the usable tunnels per router (routers up, enough life
// left), each group ranked: previously published and not retired first,
// then unpublished tunnels (freshest first), then retired published
// leases, then old spares (unpublished, less than twice Retire left;
// BuildShare's). A retired lease thus gives way to a fresh tunnel, as in a
// stock router's pool, not to a spare of its own generation: that
// published LeaseSets of leases all within two minutes of their end
// (issue 20: 1-5% of imh-spread's stores, expires_offset outside the floor
// in 11 of 15 runs); an old spare still fills in when a router's share
// grows. A published lease whose replacement is built gives way to it at
// once (kept, SelectInput.Lead). Also returns kept's set.
func candidates(in SelectInput) (map[string][]Lease, map[leaseKey]bool) {
	up := make(map[string]bool, len(in.Routers))
	for _, r := range in.Routers {
		up[r.Name] = r.Up
	}
	limit := in.Now.Add(in.MinRemaining)
	seen := make(map[leaseKey]bool, len(in.Tunnels))
	groups := make(map[string][]Lease, len(in.Routers))
	for _, l := range in.Tunnels {
		if !up[l.Router] || !l.End.After(limit) || seen[l.key()] {
			continue
		}
		seen[l.key()] = true
		groups[l.Router] = append(groups[l.Router], l)
	}
	published := make(map[leaseKey]bool, len(in.Previous))
	for _, l := range in.Previous {
		published[l.key()] = true
	}
	prev := kept(in, groups, published)
	// An unpublished tunnel with less than twice Retire left is an old
	// spare: near its own replacement.
	old := in.Now.Add(2 * in.Retire)
	rank := func(l Lease) int {
		switch {
		case prev[l.key()]:
			return 0 // published, not yet retired
		case published[l.key()]:
			return 2 // published and retired: stays until a newer tunnel takes its place
		case in.Retire > 0 && !l.End.After(old):
			return 3 // an old spare
		}
		return 1 // a new tunnel
	}
	for _, g := range groups {
		slices.SortFunc(g, func(a, b Lease) int {
			if c := cmp.Compare(rank(a), rank(b)); c != 0 {
				return c
			}
			return compareFreshest(a, b)
		})
	}
	return groups, prev
}

// kept is the set of previously published leases that keep their
// priority: those with more than Retire left, except that a lease with
// less than Retire+Lead left gives way to a tunnel of its router built
// after that point (SelectInput.Lead). groups are the usable tunnels per
// router, published the keys of in.Previous.
func kept(in SelectInput, groups map[string][]Lease, published map[leaseKey]bool) map[leaseKey]bool {
	prev := make(map[leaseKey]bool, len(in.Previous))
	retire := in.Now.Add(in.Retire)
	early := retire.Add(in.Lead)
	var closing []Lease // published leases within Retire+Lead, not Retire
	for _, l := range in.Previous {
		if in.Retire <= 0 || l.End.After(retire) {
			prev[l.key()] = true
			if in.Lead > 0 && !l.End.After(early) {
				closing = append(closing, l)
			}
		}
	}
	if len(closing) == 0 {
		return prev
	}
	// Oldest first: the i-th closing lease of a router gives way when at
	// least i+1 of its router's unpublished tunnels were built after it
	// came within Retire+Lead of its end (one replacement each).
	slices.SortFunc(closing, func(a, b Lease) int {
		if c := a.End.Compare(b.End); c != 0 {
			return c
		}
		return compareFreshest(b, a)
	})
	gave := make(map[string]int, len(in.Routers)) // leases that gave way, per router; -1: stop
	for _, l := range closing {
		i := gave[l.Router]
		if i < 0 {
			continue // an older lease of this router found no replacement
		}
		// a tunnel built after l came within Retire+Lead ends after this
		since := l.End.Add(TunnelLifetime - in.Retire - in.Lead)
		n := 0
		for _, t := range groups[l.Router] {
			if !published[t.key()] && t.End.After(since) {
				n++
			}
		}
		if n <= i {
			gave[l.Router] = -1
			continue
		}
		delete(prev, l.key())
		gave[l.Router] = i + 1
	}
	return prev
}

// compareFreshest orders by end descending, then by gateway and tunnel id so
// that the order is total and the selection deterministic.
func compareFreshest(a, b Lease) int {
	if c := b.End.Compare(a.End); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Gateway[:], b.Gateway[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.TunnelID, b.TunnelID)
}

// pick takes, in rounds over the routers in order, each router's next
// ranked lease, up to PerRouter per router and Max in all. Previously
// published leases win all their rounds before any new lease is taken, so a
// full LeaseSet changes only where leases died. Short of Target, further
// rounds keep more of each router's published leases, up to Target.
func pick(in SelectInput, groups map[string][]Lease, prev map[leaseKey]bool) []Lease {
	maxAll := min(in.Max, i2p.MaxLeases)
	if maxAll <= 0 {
		maxAll = i2p.MaxLeases
	}
	taken := make(map[string]int, len(groups))
	var out []Lease
	for _, phase := range []struct {
		kept bool // only previously published leases that keep their priority
		fill bool // past PerRouter, up to Target
	}{{true, false}, {false, false}, {true, true}} {
		limit, perRouter := maxAll, in.PerRouter
		if phase.fill {
			limit, perRouter = min(maxAll, in.Target), maxAll
		}
		for progress := true; progress && len(out) < limit; {
			progress = false
			for _, r := range in.Routers {
				g := groups[r.Name]
				i := taken[r.Name]
				if i >= len(g) || i >= perRouter || len(out) >= limit {
					continue
				}
				if phase.kept && !prev[g[i].key()] {
					continue
				}
				out = append(out, g[i])
				taken[r.Name] = i + 1
				progress = true
			}
		}
	}
	slices.SortFunc(out, compareFreshest)
	return out
}

// LeasesByRouter counts the leases of each router (for `imh status`).
func LeasesByRouter(ls []Lease) map[string]int {
	m := make(map[string]int)
	for _, l := range ls {
		m[l.Router]++
	}
	return m
}

// SameLeases reports whether two selections publish the same leases (same
// tunnels with the same ends), whatever their order.
func SameLeases(a, b []Lease) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[leaseKey]int64, len(a))
	for _, l := range a {
		m[l.key()] = l.End.Unix()
	}
	for _, l := range b {
		end, ok := m[l.key()]
		if !ok || end != l.End.Unix() {
			return false
		}
	}
	return true
}

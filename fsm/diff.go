package fsm

import (
	"maps"
	"slices"

	"github.com/imh-project/imh/i2p"
)

// StateDiff is what replacing one State by another changes, kind by kind.
// It exists so that `imh cluster snapshot restore` can show an operator what
// a restore would do before anything is replaced; it is a pure function of
// the two States, sorted, so the same two States always give the same diff.
//
// Only operator-visible identity and settings count: tunnels, LeaseSets and
// the leader's other bookkeeping are replaced wholesale by a restore and
// rebuilt by the leader, so listing them would only be noise.
type StateDiff struct {
	Destinations NameDiff
	Routers      NameDiff
	Frontends    NameDiff
}

// NameDiff lists, each sorted by name, the names only the new State has
// (Added), the names only the old one has (Removed) and the names both have
// with a different value (Changed). None of the slices is nil, so an
// encoder prints an empty list, not null.
type NameDiff struct {
	Added   []string
	Removed []string
	Changed []string
}

// Empty reports whether the diff changes nothing.
func (d NameDiff) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

// Diff compares from (the State now) with to (the State that would replace
// it). A destination changes when its keys (its hash) or its settings
// differ, a router when its address does, a frontend when its address or
// its router does.
func Diff(from, to *State) StateDiff {
	return StateDiff{
		Destinations: diffNames(destinationKeys(from), destinationKeys(to)),
		Routers:      diffNames(routerAddrs(from), routerAddrs(to)),
		Frontends:    diffNames(frontendsByName(from), frontendsByName(to)),
	}
}

// destKey is what identifies a destination's content for Diff.
type destKey struct {
	hash     i2p.Hash
	settings Settings
}

func destinationKeys(s *State) map[string]destKey {
	m := map[string]destKey{}
	for _, d := range s.Destinations() {
		m[d.Name] = destKey{d.Hash(), d.Settings}
	}
	return m
}

func routerAddrs(s *State) map[string]string {
	m := map[string]string{}
	for _, r := range s.Routers() {
		m[r.Name] = r.Addr
	}
	return m
}

func frontendsByName(s *State) map[string]Frontend {
	m := map[string]Frontend{}
	for _, f := range s.Frontends() {
		m[f.Name] = f
	}
	return m
}

// diffNames compares two name -> value maps; the lists are sorted so that
// map iteration order never shows.
func diffNames[V comparable](from, to map[string]V) NameDiff {
	d := NameDiff{Added: []string{}, Removed: []string{}, Changed: []string{}}
	for _, n := range slices.Sorted(maps.Keys(to)) {
		old, ok := from[n]
		switch {
		case !ok:
			d.Added = append(d.Added, n)
		case old != to[n]:
			d.Changed = append(d.Changed, n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(from)) {
		if _, ok := to[n]; !ok {
			d.Removed = append(d.Removed, n)
		}
	}
	return d
}

package fsm

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/imh-project/imh/i2p"
)

// State is the replicated state. Apply changes it; the query methods return
// copies, safe to keep and modify. All methods are safe for concurrent use.
type State struct {
	mu      sync.RWMutex
	d       *data
	changes atomic.Uint64 // see Changes
}

// Changes counts the applies that changed something and the restores. A
// reader that saw the same count saw the same state, so the leader re-reads
// the state only when it moved. Local to this process: not replicated.
func (s *State) Changes() uint64 { return s.changes.Load() }

// data is one immutable-by-convention generation of the state: Restore
// builds a new one and swaps the pointer under the lock.
type data struct {
	index   uint64 // raft index of the last successfully applied entry
	routers map[string]Router
	fronts  map[string]Frontend
	dests   map[string]*Destination
	tunnels map[TunnelKey]Tunnel
	marks   map[i2p.Hash]uint32 // published high-water mark per Destination hash
	keyID   KeyID               // the secret destinations are sealed under (zero: no rotation yet)
}

func newData() *data {
	return &data{
		routers: map[string]Router{},
		fronts:  map[string]Frontend{},
		dests:   map[string]*Destination{},
		tunnels: map[TunnelKey]Tunnel{},
		marks:   map[i2p.Hash]uint32{},
	}
}

// New returns an empty state.
func New() *State { return &State{d: newData()} }

// Apply decodes and applies one log entry at raft index. The result is a
// deterministic value: nil, or an error that every replica computes alike
// (undecodable entries included). A failed entry leaves the state unchanged.
func (s *State) Apply(index uint64, entry []byte) error {
	c, err := Decode(entry)
	if err != nil {
		return err
	}
	return s.ApplyCommand(index, c)
}

// ApplyCommand applies an already decoded command (see Apply).
func (s *State) ApplyCommand(index uint64, c Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.d.apply(c); err != nil {
		return fmt.Errorf("%s: %w", c.Type(), err)
	}
	s.d.index = index
	s.changes.Add(1)
	return nil
}

// Each apply function validates everything before it changes anything.
func (d *data) apply(c Command) error {
	switch c := c.(type) {
	case *RouterPut:
		return d.routerPut(c)
	case *RouterRemove:
		return d.routerRemove(c)
	case *DestinationPut:
		return d.destinationPut(c)
	case *DestinationSet:
		return d.destinationSet(c)
	case *DestinationRemove:
		return d.destinationRemove(c)
	case *TunnelRecorded:
		return d.tunnelRecorded(c)
	case *TunnelExpired:
		delete(d.tunnels, c.Key)
		return nil
	case *TunnelsPruned:
		maps.DeleteFunc(d.tunnels, func(_ TunnelKey, t Tunnel) bool { return t.Expires < c.Before })
		return nil
	case *LeaseSetPublished:
		return d.leaseSetPublished(c)
	case *FrontendPut:
		return d.frontendPut(c)
	case *SecretRotated:
		return d.secretRotated(c)
	case *FrontendRemove:
		if _, ok := d.fronts[c.Name]; !ok {
			return fmt.Errorf("%w: frontend %s", ErrNotFound, shortName(c.Name))
		}
		delete(d.fronts, c.Name)
		return nil
	case *UnknownCommand:
		return nil // ignorable: written by a newer binary
	}
	return fmt.Errorf("%w: %T", ErrUnknownCommand, c)
}

func (d *data) routerPut(c *RouterPut) error {
	if err := ValidName(c.Name); err != nil {
		return err
	}
	if err := validAddr(c.Addr); err != nil {
		return err
	}
	if r, ok := d.routers[c.Name]; ok {
		if r.Addr == c.Addr {
			return nil
		}
		return fmt.Errorf("%w: router %s (at %s)", ErrExists, c.Name, r.Addr)
	}
	// Two routers at one address would be one router driven twice: both
	// links attach the same sessions and supersede each other by term.
	// Deterministic (sorted names, a pure comparison), so of two adds
	// racing through different agents exactly one wins on every replica.
	want := canonicalAddr(c.Addr)
	for _, name := range slices.Sorted(maps.Keys(d.routers)) {
		if canonicalAddr(d.routers[name].Addr) == want {
			return fmt.Errorf("%w: address %s is router %s's", ErrAddrInUse, c.Addr, name)
		}
	}
	d.routers[c.Name] = Router{Name: c.Name, Addr: c.Addr}
	return nil
}

// canonicalAddr spells a host:port one way for comparison: IP addresses
// in netip's form (so ::1 and 0:0::1 match), host names in lower case. It
// never resolves a name (Apply does no I/O).
func canonicalAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	} else {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
	}
	if p, err := strconv.Atoi(port); err == nil {
		port = strconv.Itoa(p)
	}
	return net.JoinHostPort(host, port)
}

func (d *data) frontendPut(c *FrontendPut) error {
	for _, n := range []string{c.Name, c.Router} {
		if err := ValidName(n); err != nil {
			return err
		}
	}
	if err := validAddr(c.Addr); err != nil {
		return err
	}
	f := Frontend{Name: c.Name, Addr: c.Addr, Router: c.Router}
	if old, ok := d.fronts[c.Name]; ok {
		if old == f {
			return nil
		}
		return fmt.Errorf("%w: frontend %s (at %s beside router %s)", ErrExists, old.Name, old.Addr, old.Router)
	}
	if other, ok := d.frontendOf(c.Router); ok {
		return fmt.Errorf("%w: router %s already has frontend %s", ErrExists, c.Router, other.Name)
	}
	d.fronts[c.Name] = f
	return nil
}

// frontendOf finds the frontend beside a router.
func (d *data) frontendOf(router string) (Frontend, bool) {
	for _, f := range d.fronts {
		if f.Router == router {
			return f, true
		}
	}
	return Frontend{}, false
}

func validAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("%w: address %q: want host:port", ErrInvalid, addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: address %q: bad port", ErrInvalid, addr)
	}
	return nil
}

func (d *data) routerRemove(c *RouterRemove) error {
	if _, ok := d.routers[c.Name]; !ok {
		return fmt.Errorf("%w: router %s", ErrNotFound, shortName(c.Name))
	}
	delete(d.routers, c.Name)
	maps.DeleteFunc(d.tunnels, func(k TunnelKey, _ Tunnel) bool { return k.Router == c.Name })
	return nil
}

func (d *data) destinationPut(c *DestinationPut) error {
	if err := ValidName(c.Name); err != nil {
		return err
	}
	dest, n, err := i2p.ParseDestination(c.Destination)
	if err != nil || n != len(c.Destination) {
		return fmt.Errorf("%w: destination bytes of %s", ErrInvalid, c.Name)
	}
	if len(c.SealedKeys) == 0 || len(c.SealedLeaseSetKey) == 0 || len(c.LeaseSetPublicKey) != 32 {
		return fmt.Errorf("%w: keys of %s", ErrInvalid, c.Name)
	}
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	if err := d.checkSealedUnder(c); err != nil {
		return err
	}
	h := dest.Hash()
	if old, ok := d.dests[c.Name]; ok {
		if old.hash == h && bytes.Equal(old.SealedKeys, c.SealedKeys) &&
			bytes.Equal(old.SealedLeaseSetKey, c.SealedLeaseSetKey) && old.Settings == c.Settings {
			return nil // the same command again
		}
		return fmt.Errorf("%w: destination %s", ErrExists, c.Name)
	}
	for _, o := range d.dests {
		if o.hash == h {
			return fmt.Errorf("%w: %s is already hosted as %s", ErrExists, h.B32(), o.Name)
		}
	}
	d.dests[c.Name] = &Destination{
		Name: c.Name, Destination: bytes.Clone(c.Destination), SealedKeys: bytes.Clone(c.SealedKeys),
		SealedLeaseSetKey: bytes.Clone(c.SealedLeaseSetKey), LeaseSetPublicKey: bytes.Clone(c.LeaseSetPublicKey),
		Settings: c.Settings, hash: h,
	}
	return nil
}

func (d *data) destinationSet(c *DestinationSet) error {
	dest, ok := d.dests[c.Name]
	if !ok {
		return fmt.Errorf("%w: destination %s", ErrNotFound, shortName(c.Name))
	}
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	nd := dest.clone()
	nd.Settings = c.Settings
	d.dests[c.Name] = nd
	return nil
}

func (d *data) destinationRemove(c *DestinationRemove) error {
	if _, ok := d.dests[c.Name]; !ok {
		return fmt.Errorf("%w: destination %s", ErrNotFound, shortName(c.Name))
	}
	delete(d.dests, c.Name)
	maps.DeleteFunc(d.tunnels, func(k TunnelKey, _ Tunnel) bool { return k.Destination == c.Name })
	return nil
}

func (d *data) tunnelRecorded(c *TunnelRecorded) error {
	t := c.Tunnel
	if _, ok := d.routers[t.Router]; !ok {
		return fmt.Errorf("%w: router %s", ErrNotFound, t.Router)
	}
	if _, ok := d.dests[t.Destination]; !ok {
		return fmt.Errorf("%w: destination %s", ErrNotFound, t.Destination)
	}
	if t.Direction != Inbound && t.Direction != Outbound {
		return fmt.Errorf("%w: %s", ErrInvalid, t.Direction)
	}
	if t.Expires == 0 || len(t.Hops) > MaxHops {
		return fmt.Errorf("%w: tunnel %d: expiry %d, %d hops", ErrInvalid, t.ID, t.Expires, len(t.Hops))
	}
	d.tunnels[t.TunnelKey] = t.clone()
	return nil
}

func (d *data) leaseSetPublished(c *LeaseSetPublished) error {
	dest, ok := d.dests[c.Destination]
	if !ok {
		return fmt.Errorf("%w: destination %s", ErrNotFound, c.Destination)
	}
	ls, err := i2p.ParseLeaseSet2(c.LeaseSet)
	if err != nil {
		return fmt.Errorf("%w: leaseset of %s: %w", ErrInvalid, c.Destination, err)
	}
	switch {
	case ls.Destination.Hash() != dest.hash:
		return fmt.Errorf("%w: leaseset of %s is for %s", ErrInvalid, c.Destination, ls.Destination.B32())
	case ls.Published != c.Published:
		return fmt.Errorf("%w: leaseset published %d, command says %d", ErrInvalid, ls.Published, c.Published)
	case len(ls.Leases) != len(c.Routers):
		return fmt.Errorf("%w: %d leases but %d routers named", ErrInvalid, len(ls.Leases), len(c.Routers))
	}
	for _, r := range c.Routers {
		if err := ValidName(r); err != nil {
			return err
		}
	}
	if err := ls.Verify(); err != nil {
		return fmt.Errorf("%w: leaseset of %s: %w", ErrInvalid, c.Destination, err)
	}
	if mark := d.marks[dest.hash]; c.Published <= mark {
		return fmt.Errorf("%w: %s published %d, mark %d", ErrStalePublish, c.Destination, c.Published, mark)
	}
	nd := dest.clone()
	nd.LeaseSet = &PublishedLeaseSet{Bytes: bytes.Clone(c.LeaseSet), Published: c.Published, Routers: slices.Clone(c.Routers)}
	d.dests[c.Destination] = nd
	d.marks[dest.hash] = c.Published
	return nil
}

// Index is the raft index of the last successfully applied entry.
func (s *State) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.index
}

// Routers returns every router, sorted by name.
func (s *State) Routers() []Router {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Collect(maps.Values(s.d.routers))
	slices.SortFunc(out, func(a, b Router) int { return cmpString(a.Name, b.Name) })
	return out
}

// Router returns one router.
func (s *State) Router(name string) (Router, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.d.routers[name]
	return r, ok
}

// Frontends returns every frontend, sorted by name.
func (s *State) Frontends() []Frontend {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Collect(maps.Values(s.d.fronts))
	slices.SortFunc(out, func(a, b Frontend) int { return cmpString(a.Name, b.Name) })
	return out
}

// Frontend returns one frontend.
func (s *State) Frontend(name string) (Frontend, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.d.fronts[name]
	return f, ok
}

// RouterFrontend returns the frontend beside a router (at most one).
func (s *State) RouterFrontend(router string) (Frontend, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.frontendOf(router)
}

// Destinations returns copies of every destination, sorted by name.
func (s *State) Destinations() []*Destination {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Destination, 0, len(s.d.dests))
	for _, d := range s.d.dests {
		out = append(out, d.clone())
	}
	slices.SortFunc(out, func(a, b *Destination) int { return cmpString(a.Name, b.Name) })
	return out
}

// Destination returns a copy of one destination.
func (s *State) Destination(name string) (*Destination, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.d.dests[name]
	if !ok {
		return nil, false
	}
	return d.clone(), true
}

// Tunnels returns the tunnels of one destination (all when dest is ""),
// sorted by destination, router, direction and id.
func (s *State) Tunnels(dest string) []Tunnel {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Tunnel
	for k, t := range s.d.tunnels {
		if dest == "" || k.Destination == dest {
			out = append(out, t.clone())
		}
	}
	slices.SortFunc(out, func(a, b Tunnel) int { return a.compare(b.TunnelKey) })
	return out
}

// PublishedMark is the highest published time recorded for a Destination
// hash (0 if none). It survives the destination's removal.
func (s *State) PublishedMark(h i2p.Hash) uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.marks[h]
}

package balancer

import (
	"errors"
	"fmt"
	"time"

	"github.com/imh-project/imh/i2p"
)

// LeaseSet limits.
const (
	// MaxExpires caps `expires` (seconds after published): tunnels live 10
	// minutes, and routers refuse LeaseSets expiring more than 12 minutes
	// ahead (i2p.MaxFutureSkew).
	MaxExpires = 660 * time.Second
	// MaxPublishedAhead is how far `published` may run ahead of the clock
	// (networkNow) when LeaseSets follow each other faster than once a
	// second; beyond it BuildLeaseSet refuses and the caller must wait.
	MaxPublishedAhead = 30 * time.Second
	// TunnelLifetime is how long an I2P tunnel lives: a lease ends this
	// long after its router built the tunnel, by that router's clock.
	TunnelLifetime = 10 * time.Minute
)

// Errors of LeaseSet assembly.
var (
	ErrNoLeases       = errors.New("balancer: no valid leases for a leaseset")
	ErrPublishTooSoon = errors.New("balancer: published would run too far ahead of the clock")
)

// LeaseSetParams is what one LeaseSet is built from.
type LeaseSetParams struct {
	Keys   *i2p.PrivateKeys
	EncKey *i2p.LeaseSetKey
	Leases []Lease
	Now    time.Time
	// HighWater is the newest `published` ever used for this destination:
	// the fsm's record, or the last one this leader built if newer. The
	// new LeaseSet's published is strictly greater (floodfills keep the
	// newest, so a smaller one would be ignored).
	HighWater uint32
}

// networkNow is the time, in Unix seconds, that the network has surely
// reached: the later of this agent's clock and what the routers' clocks
// say through the leases (a lease ending at E was built at E −
// TunnelLifetime). The high water comes from whichever leader published
// last, by its clock; a new leader whose clock is minutes behind would
// otherwise see its next `published` minutes "ahead" and publish nothing
// until its clock caught up, while the leases ran out.
func networkNow(now time.Time, leases []Lease) int64 {
	t := now.Unix()
	for _, l := range leases {
		t = max(t, int64(l.Lease2().End)-int64(TunnelLifetime/time.Second))
	}
	return t
}

// BuildLeaseSet assembles and signs the destination's LeaseSet2: the
// X25519 key, the leases (those ending after `published`, at most 16),
// published = max(now, HighWater+1) and expires = the latest lease end minus
// published, capped at MaxExpires.
func BuildLeaseSet(p LeaseSetParams) (*i2p.LeaseSet2, error) {
	if p.Keys == nil || p.EncKey == nil {
		return nil, fmt.Errorf("build leaseset: %w: missing keys", ErrNoLeases)
	}
	published := uint32(p.Now.Unix())
	if published <= p.HighWater {
		published = p.HighWater + 1
	}
	if ahead := time.Duration(int64(published)-networkNow(p.Now, p.Leases)) * time.Second; ahead > MaxPublishedAhead {
		return nil, fmt.Errorf("build leaseset: %w: %s ahead", ErrPublishTooSoon, ahead)
	}
	var leases []i2p.Lease2
	var last uint32
	for _, l := range p.Leases {
		l2 := l.Lease2()
		if l2.End <= published {
			continue
		}
		leases = append(leases, l2)
		last = max(last, l2.End)
	}
	if len(leases) == 0 {
		return nil, fmt.Errorf("build leaseset for %s: %w", p.Keys.Destination().B32(), ErrNoLeases)
	}
	if len(leases) > i2p.MaxLeases {
		leases = leases[:i2p.MaxLeases]
	}
	expires := min(last-published, uint32(MaxExpires/time.Second))
	ls := &i2p.LeaseSet2{
		Destination: p.Keys.Destination(),
		Published:   published,
		Expires:     uint16(expires),
		Options:     i2p.Mapping{},
		Keys:        []i2p.EncryptionKey{p.EncKey.EncryptionKey()},
		Leases:      leases,
	}
	if err := ls.Sign(p.Keys); err != nil {
		return nil, fmt.Errorf("sign leaseset for %s: %w", p.Keys.Destination().B32(), err)
	}
	return ls, nil
}

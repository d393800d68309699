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
	// when LeaseSets follow each other faster than once a second; beyond
	// it BuildLeaseSet refuses and the caller must wait.
	MaxPublishedAhead = 30 * time.Second
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
	if ahead := time.Duration(int64(published)-p.Now.Unix()) * time.Second; ahead > MaxPublishedAhead {
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

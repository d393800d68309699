package simnet

import (
	"errors"
	"fmt"
	"time"
)

// BandwidthClass is one of I2P's bandwidth capability letters with the
// profile the model gives peers of that class.
type BandwidthClass struct {
	Letter byte // K L M N O P X
	// Share is the fraction of peers in this class (shares are normalised).
	Share float64
	// Reliability is the mean probability that a peer of the class accepts
	// and forwards a tunnel build request; each peer gets this +/- 0.05.
	Reliability float64
	// Latency is the mean per-hop latency of a tunnel build through a peer
	// of the class; each peer's own mean is this x U[0.75, 1.25), and each
	// build samples the peer's mean x U[0.5, 1.5).
	Latency time.Duration
}

// DefaultClasses is a network dominated by mid-range routers, roughly like
// the live I2P network's capability statistics.
func DefaultClasses() []BandwidthClass {
	return []BandwidthClass{
		{Letter: 'K', Share: 0.04, Reliability: 0.50, Latency: 600 * time.Millisecond},
		{Letter: 'L', Share: 0.16, Reliability: 0.65, Latency: 400 * time.Millisecond},
		{Letter: 'M', Share: 0.20, Reliability: 0.75, Latency: 300 * time.Millisecond},
		{Letter: 'N', Share: 0.25, Reliability: 0.85, Latency: 200 * time.Millisecond},
		{Letter: 'O', Share: 0.20, Reliability: 0.90, Latency: 150 * time.Millisecond},
		{Letter: 'P', Share: 0.10, Reliability: 0.93, Latency: 120 * time.Millisecond},
		{Letter: 'X', Share: 0.05, Reliability: 0.95, Latency: 100 * time.Millisecond},
	}
}

// Config is the whole network model. Every random choice derives from Seed,
// so two networks with the same Config behave alike (see the package doc for
// what "alike" covers under concurrency).
type Config struct {
	Seed int64
	// Peers is the number of simulated I2P routers that carry tunnels.
	Peers int
	// Floodfills is how many of the peers are floodfills.
	Floodfills int
	// StoreRedundancy is how many floodfills closest to a destination store
	// its LeaseSet (I2P floods to 3).
	StoreRedundancy int
	// Unreachable is the fraction of peers without the R capability; they
	// are never in a fast tier.
	Unreachable float64
	// Classes are the bandwidth classes peers are drawn from.
	Classes []BandwidthClass

	// FastTierSize is the most peers a router's fast tier holds (I2P: 75).
	FastTierSize int
	// FastTierChurn peers of a router's fast tier are replaced every
	// ChurnInterval, from the next-best peers of its profile view.
	FastTierChurn int
	ChurnInterval time.Duration

	// TunnelLifetime is how long a built tunnel lives (I2P: 10 minutes).
	TunnelLifetime time.Duration
	// RouterLatency is the creating router's own share of a build's time.
	RouterLatency time.Duration
	// BuildTimeout is how long a build whose request a hop dropped takes to
	// fail (the creator hears nothing and times out).
	BuildTimeout time.Duration
	// DropShare is the fraction of failing hops that drop the request
	// silently (costing BuildTimeout) rather than reject it (the reply comes
	// back after the path's latency).
	DropShare float64
	// MaxHops is the longest tunnel that can be built (I2P: 7).
	MaxHops int

	// NetDBLatency is how long a store or a lookup at a floodfill takes.
	NetDBLatency time.Duration
	// HistoryLimit bounds the stored-LeaseSet history kept per destination
	// (the oldest entries go first).
	HistoryLimit int

	// SessionLifetime is how long a remote client's end-to-end session
	// stays bound to the router that last replied to it.
	SessionLifetime time.Duration
	// RepickInterval and RepickMessages: an i2pd client picks a new random
	// lease after this time or this many messages (i2pd: 30 s, 100).
	RepickInterval time.Duration
	RepickMessages int
	// LeaseEndThreshold: clients do not pick a lease that ends within this
	// time, and look the destination up again when no other lease is left
	// (i2pd's LEASE_ENDDATE_THRESHOLD, 51 s).
	LeaseEndThreshold time.Duration
	// RelookupFailures and RelookupInterval: a client whose messages failed
	// through RelookupFailures leases in a row, or through every live lease
	// of its cached LeaseSet, looks the destination up again, at most once
	// per RelookupInterval (Client).
	RelookupFailures int
	RelookupInterval time.Duration

	// Clock is the network's time; nil means RealClock.
	Clock Clock
}

// DefaultConfig is the model the daemons and tests start from.
func DefaultConfig() Config {
	return Config{
		Seed:              1,
		Peers:             2000,
		Floodfills:        100,
		StoreRedundancy:   3,
		Unreachable:       0.10,
		Classes:           DefaultClasses(),
		FastTierSize:      75,
		FastTierChurn:     2,
		ChurnInterval:     10 * time.Minute,
		TunnelLifetime:    10 * time.Minute,
		RouterLatency:     20 * time.Millisecond,
		BuildTimeout:      10 * time.Second,
		DropShare:         0.25,
		MaxHops:           7,
		NetDBLatency:      100 * time.Millisecond,
		HistoryLimit:      1000,
		SessionLifetime:   10 * time.Minute,
		RepickInterval:    30 * time.Second,
		RepickMessages:    100,
		LeaseEndThreshold: 51 * time.Second,
		RelookupFailures:  2,
		RelookupInterval:  time.Second,
		Clock:             nil,
	}
}

// ErrBadConfig is wrapped by every Validate failure.
var ErrBadConfig = errors.New("simnet: bad config")

// Validate checks that the model is usable.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Peers < 10:
		return bad("peers %d, want at least 10", c.Peers)
	case c.Floodfills < 1 || c.Floodfills > c.Peers:
		return bad("floodfills %d, want 1..peers", c.Floodfills)
	case c.StoreRedundancy < 1 || c.StoreRedundancy > c.Floodfills:
		return bad("store redundancy %d, want 1..floodfills", c.StoreRedundancy)
	case c.Unreachable < 0 || c.Unreachable >= 1:
		return bad("unreachable share %v, want [0,1)", c.Unreachable)
	case len(c.Classes) == 0:
		return bad("no bandwidth classes")
	case c.FastTierSize < 1:
		return bad("fast tier size %d", c.FastTierSize)
	case c.FastTierChurn < 0 || c.FastTierChurn > c.FastTierSize:
		return bad("fast tier churn %d", c.FastTierChurn)
	case c.ChurnInterval <= 0, c.TunnelLifetime <= 0, c.BuildTimeout <= 0, c.SessionLifetime <= 0, c.RepickInterval <= 0:
		return bad("durations must be positive")
	case c.RouterLatency < 0 || c.NetDBLatency < 0 || c.LeaseEndThreshold < 0:
		return bad("latencies must not be negative")
	case c.DropShare < 0 || c.DropShare > 1:
		return bad("drop share %v, want [0,1]", c.DropShare)
	case c.MaxHops < 1 || c.MaxHops > 16:
		return bad("max hops %d", c.MaxHops)
	case c.HistoryLimit < 1:
		return bad("history limit %d", c.HistoryLimit)
	case c.RepickMessages < 1:
		return bad("repick messages %d", c.RepickMessages)
	case c.RelookupFailures < 1 || c.RelookupInterval < 0:
		return bad("relookup after %d failures, at most every %v", c.RelookupFailures, c.RelookupInterval)
	}
	total := 0.0
	for _, cl := range c.Classes {
		if cl.Share < 0 || cl.Reliability < 0 || cl.Reliability > 1 || cl.Latency < 0 {
			return bad("bandwidth class %c: share, reliability or latency out of range", cl.Letter)
		}
		total += cl.Share
	}
	if !(total > 0) {
		return bad("bandwidth class shares sum to %v", total)
	}
	return nil
}

package balancer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/clock"
	"github.com/imh-project/imh/routerproto"
)

// Cluster is what the balancer needs from the Raft cluster (package cluster
// satisfies it; the balancer never imports cluster or raft).
type Cluster interface {
	// Apply proposes a command and returns once it is applied on this
	// node, or fails (not leader any more, timeout).
	Apply(ctx context.Context, cmd fsm.Command) error
	// State is the replicated state machine (read-only here).
	State() *fsm.State
	// LeadershipTerm is the Raft term this node's leadership began in, and
	// false when it does not lead: routers fence controllers by it.
	LeadershipTerm() (uint64, bool)
	// Open unseals one sealed field of the destination with hash dest; a
	// blob moved from another destination or field does not open.
	Open(sealed []byte, dest i2p.Hash, field fsm.SealedField) ([]byte, error)
}

// RouterConn is one control connection to a router: routerproto's Client
// through a thin adapter (see DialRouter), or a fake in tests. Methods may be
// called concurrently.
type RouterConn interface {
	// Capabilities are the extensions the router announced at handshake
	// (nil for a stock router) and its identity hash.
	Capabilities() *routerproto.Capabilities
	// CreateSession creates a session, or re-attaches to a managed one,
	// and returns its id.
	CreateSession(ctx context.Context, cfg *routerproto.SessionConfig) (uint16, error)
	// FastTier returns the router's fast tier.
	FastTier(ctx context.Context) ([]routerproto.Peer, error)
	// CreateTunnel builds a tunnel and returns the router's final answer.
	CreateTunnel(ctx context.Context, m *routerproto.CreateTunnel) (*routerproto.TunnelStatus, error)
	// TunnelPool lists a session's live tunnels.
	TunnelPool(ctx context.Context, session uint16, dir routerproto.Direction) ([]routerproto.TunnelInfo, error)
	// CreateLeaseSet2 hands a signed LeaseSet and its private keys over.
	CreateLeaseSet2(ctx context.Context, m *routerproto.CreateLeaseSet2) error
	// DestroySession ends a session (its destination was removed).
	DestroySession(ctx context.Context, session uint16) error
	// Send sends one payload from a session.
	Send(ctx context.Context, m *routerproto.SendMessageExpires) error
	// Events carries router-initiated messages: unsolicited TunnelStatus,
	// PayloadFrom, MessagePayload, LeaseSetStatus, NeedLeaseSet,
	// SessionStatus, Disconnect. It is closed when the connection ends.
	Events() <-chan routerproto.Message
	// RouterNow is the router's clock now: the local clock plus the offset
	// its latest SetDate showed. false while the router has sent no
	// SetDate (routerproto's Client has one from its handshake). The loop
	// keeps time by the routers' clocks (loop.now).
	RouterNow() (time.Time, bool)
	// Err says why the connection ended (after Events is closed).
	Err() error
	// Close ends the connection.
	Close() error
}

// Dialer opens a control connection to the router added as name, at addr.
// It must not send anything the router could abuse (LeaseSet keys above
// all) to a peer that has not proved it is that router: the name is
// passed so a TLS dialer can check the router's certificate.
type Dialer func(ctx context.Context, name, addr string) (RouterConn, error)

// Config holds the balancer's dependencies and tuning. Durations are in
// real time; tests run them under testing/synctest.
type Config struct {
	Cluster Cluster
	Dial    Dialer
	Logger  *slog.Logger
	// Clock is this agent's wall clock; nil is clock.Real(). The loop
	// does not decide by it alone: it runs on the routers' time, this
	// clock plus the median of the routers' offsets from it (loop.now).
	// Only a clock-skew test sets it (IMH_TEST_CLOCK_SKEW, clock.FromEnv), to
	// play a leader whose machine clock is wrong.
	Clock clock.Clock
	// Rand drives peer selection and jitter; nil seeds one from the clock
	// and crypto/rand.
	Rand Rand

	// Tick paces the loop when no event arrives.
	Tick time.Duration
	// ReplaceBefore: a tunnel with less life left than this is replaced
	// (its successor is built while it still serves).
	ReplaceBefore time.Duration
	// ReplaceJitter: an inbound tunnel is replaced up to this much earlier
	// than ReplaceBefore, by a keyed share of its own (ReplaceLead), so
	// that tunnels built together drift apart as a stock router's do.
	// Measured with observe/sim (issue 20, fifteen seeds): 8 s, once
	// StepPlan keeps tunnels built out of turn in the main wave (before
	// it, 6 s: the churn run drifted apart at 8 s).
	ReplaceJitter time.Duration
	// MinLeaseRemaining: a lease with less life left leaves the LeaseSet.
	MinLeaseRemaining time.Duration
	// RepublishBefore: the LeaseSet is republished this long before it
	// expires even if nothing changed.
	RepublishBefore time.Duration
	// Coalesce: a change that breaks nothing (a new lease, a lease to be
	// retired soon) waits this long for other changes, so that tunnels
	// replaced together give one publication. Changes that drop a dead
	// lease publish at once. The default is 0: i2pd asks for a LeaseSet on
	// each new inbound tunnel, paced only by its 20 s minimum interval, and
	// measured with observe/sim (issue 20, three seeds) a 5 s window made
	// imh's LeaseSets fewer and larger steps than one router's
	// (lease_remaining advantage 0.80/0.45/0.63 at 5 s, 0.46/0.37/0.36 at 0;
	// stores_per_10m 0.55/0.91/0.50 against 0.47/0.81/0.46).
	Coalesce time.Duration
	// MinPublishInterval is the least time between two LeaseSets that
	// repair nothing: a single router's cadence (i2pd publishes at most
	// every 20 s). A LeaseSet dropping a dead lease may follow the last
	// after a second.
	MinPublishInterval time.Duration
	// SettleFor and SettleEvery: for SettleFor after a failover switch a
	// fresh LeaseSet goes out every SettleEvery even if nothing changed. A
	// stock router that just became active often cannot publish at once
	// (its own tunnels may have run through the dead router) and i2pd
	// 2.45.1 never retries a failed publish; each fresh `published` is a
	// new try. 0 turns it off.
	SettleFor, SettleEvery time.Duration
	// PublishFanout is how many routers each LeaseSet is handed to for
	// publication (0 = all); a router that asks (NeedLeaseSet) always gets it.
	PublishFanout int
	// FastTierEvery is how often each router's fast tier is fetched.
	FastTierEvery time.Duration
	// OpTimeout bounds one request to a router (a tunnel build included)
	// and one fsm Apply.
	OpTimeout time.Duration
	// Backoff spaces tunnel builds after failures, per router, destination
	// and direction.
	Backoff Backoff
	// Reconnect spaces reconnection attempts to a router that is down.
	Reconnect Backoff
	// Gateways sizes and paces the gateway set.
	Gateways GatewayConfig
	// DialFrontend opens links to frontends (multi-client mode); nil: no
	// frontends are driven.
	DialFrontend FrontendDialer
	// FrontendKeyLifetime is how long a frontend's transient key is
	// certified (0: DefaultFrontendKeyLifetime).
	FrontendKeyLifetime time.Duration
	// NodeName names this agent to the frontends (in Assign).
	NodeName string
	// MaxEchoWorkers bounds the echo replies being built and sent at once
	// (the echo service). A payload that arrives while that many are in
	// flight is dropped unanswered and counted (echo_dropped in imh status).
	MaxEchoWorkers int
}

// DefaultConfig returns the tuning used by `imh agent`; the caller fills in
// Cluster, Dial and Logger.
func DefaultConfig() Config {
	return Config{
		Tick:               time.Second,
		ReplaceBefore:      90 * time.Second,
		ReplaceJitter:      8 * time.Second,
		MinLeaseRemaining:  DefaultMinLeaseRemaining,
		RepublishBefore:    2 * time.Minute,
		Coalesce:           0, // as i2pd: each new tunnel, paced by MinPublishInterval only
		MinPublishInterval: 20 * time.Second,
		SettleFor:          time.Minute,
		SettleEvery:        10 * time.Second,
		PublishFanout:      2,
		FastTierEvery:      time.Minute,
		OpTimeout:          30 * time.Second,
		Backoff:            DefaultBackoff(),
		Reconnect:          Backoff{Base: 250 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2},
		Gateways:           DefaultGatewayConfig(),
		MaxEchoWorkers:     DefaultMaxEchoWorkers,
	}
}

// DefaultMaxEchoWorkers is Config.MaxEchoWorkers by default.
const DefaultMaxEchoWorkers = 64

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("balancer: bad config")

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Cluster == nil || c.Dial == nil:
		return fmt.Errorf("%w: Cluster and Dial are required", ErrConfig)
	case c.Tick <= 0 || c.OpTimeout <= 0 || c.FastTierEvery <= 0:
		return fmt.Errorf("%w: Tick, OpTimeout and FastTierEvery must be positive", ErrConfig)
	case c.MinLeaseRemaining < 0 || c.ReplaceBefore <= c.MinLeaseRemaining || c.ReplaceJitter < 0:
		return fmt.Errorf("%w: need 0 <= MinLeaseRemaining < ReplaceBefore and ReplaceJitter >= 0", ErrConfig)
	case c.SettleFor < 0 || c.SettleEvery < 0 || (c.SettleFor > 0 && c.SettleEvery < time.Second):
		return fmt.Errorf("%w: SettleFor or SettleEvery out of range", ErrConfig)
	case c.MaxEchoWorkers <= 0:
		return fmt.Errorf("%w: MaxEchoWorkers must be positive", ErrConfig)
	case c.RepublishBefore <= 0 || c.Coalesce < 0 || c.PublishFanout < 0 || c.MinPublishInterval < 0:
		return fmt.Errorf("%w: RepublishBefore, Coalesce or PublishFanout out of range", ErrConfig)
	}
	if err := c.Backoff.Validate(); err != nil {
		return fmt.Errorf("%w: build backoff: %w", ErrConfig, err)
	}
	if err := c.Reconnect.Validate(); err != nil {
		return fmt.Errorf("%w: reconnect backoff: %w", ErrConfig, err)
	}
	if err := c.Gateways.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// hashes returns the peers' hashes.
func hashes(ps []routerproto.Peer) []i2p.Hash {
	out := make([]i2p.Hash, len(ps))
	for i, p := range ps {
		out[i] = p.Hash
	}
	return out
}

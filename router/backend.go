package router

import (
	"context"
	"errors"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// Backend is what a router needs from the network it lives on: its identity,
// its fast tier, tunnel builds, LeaseSet publication and lookup, and a way to
// be handed the messages that reach its inbound tunnels. The simulated
// network (router/simnet, adapted in simnetbackend.go) is one backend; a
// stock I2P router reached over I2CP (router/i2cpup) is the other. A backend
// that cannot offer something (a stock router has no fast tier and no
// explicit hops) says so in Features and returns ErrUnsupported, never a
// made-up answer.
type Backend interface {
	// Kind names the backend in the /status JSON: "simnet" or "i2cp".
	Kind() string
	// Hash is the router identity hash on its network.
	Hash() i2p.Hash
	// Features says which optional operations work.
	Features() Features
	// FastTier returns the router's current fast tier.
	FastTier(ctx context.Context) ([]Peer, error)
	// BuildTunnel builds one tunnel; it takes as long as the network's
	// build latency and may fail with ErrBuildFailed.
	BuildTunnel(ctx context.Context, req BuildRequest) (Tunnel, error)
	// Publish stores a LeaseSet2 (bytes without the store-type byte) at the
	// floodfills; nil means at least one floodfill stored it.
	Publish(ctx context.Context, ls []byte) error
	// Lookup fetches the LeaseSet2 of dest from the floodfills.
	Lookup(ctx context.Context, dest i2p.Hash) ([]byte, error)
	// Send sends a client message out of the router towards a destination.
	// Backends that cannot send return ErrUnsupported.
	Send(ctx context.Context, msg Outbound) error
	// SetDeliveryHandler installs the function called for every message that
	// reaches one of this router's inbound tunnels. It returns true iff the
	// router accepted the message (a live session for the destination and a
	// live inbound tunnel).
	SetDeliveryHandler(h func(Delivery) bool)
	// Close detaches the router from the network.
	Close() error
}

// SessionHooks is implemented by backends that need to know about sessions
// (an upstream I2CP router opens one upstream session per destination). The
// simulated network does not need it.
type SessionHooks interface {
	// SessionOpened is called before a session is reported created; an
	// error refuses the session.
	SessionOpened(ctx context.Context, s SessionInfo) error
	// SessionClosed is called when the session is destroyed.
	SessionClosed(dest i2p.Hash)
}

// SessionInfo describes a session to SessionHooks.
type SessionInfo struct {
	Dest    *i2p.Destination
	Options i2p.Mapping
	Managed bool
	// Config is the SessionConfig exactly as the client signed it, for a
	// backend that forwards it to an upstream router unchanged.
	Config *routerproto.SessionConfig
}

// LeaseSetPublisher is implemented by backends that publish a session's
// LeaseSet through the session itself (an upstream I2CP router needs the
// CreateLeaseSet2 with its private keys, not just the LeaseSet bytes). When
// a backend implements it, the router calls it instead of Publish.
type LeaseSetPublisher interface {
	PublishLeaseSet(ctx context.Context, dest i2p.Hash, m *routerproto.CreateLeaseSet2) error
}

// Features lists the optional capabilities of a backend.
type Features struct {
	FastTier     bool // FastTier answers
	ExplicitHops bool // BuildTunnel honours BuildRequest.Hops
	Send         bool // Send delivers into the network
	// UpstreamTunnels marks a backend whose network builds the session's
	// tunnels on its own (a stock router in front of which the adapter
	// sits): the router does not offer create-tunnel, explicit-hops or
	// send-via, offers need-leaseset instead, learns tunnels from the
	// backend (Router.ReportTunnel), accepts deliveries whose inbound
	// tunnel is unknown (TunnelID 0) and lets sessions send without an
	// outbound tunnel of their own (the upstream picks one).
	UpstreamTunnels bool
}

// RouterAttacher is implemented by backends that call back into the router
// (ReportTunnel, NeedLeaseSet). New calls AttachRouter once, before the
// router serves anyone.
type RouterAttacher interface {
	AttachRouter(r *Router)
}

// Errors callers test for.
var (
	// ErrUnsupported reports an operation the backend cannot perform.
	ErrUnsupported = errors.New("router: not supported by this backend")
	// ErrBuildFailed reports a tunnel build that the network refused.
	ErrBuildFailed = errors.New("router: tunnel build failed")
	// ErrBadBuildRequest reports a build the network cannot do as asked
	// (unknown or repeated hop, too many hops).
	ErrBadBuildRequest = errors.New("router: bad tunnel build request")
	// ErrPublishRejected reports a LeaseSet the floodfills refused (older
	// published, bad signature); retrying the same bytes cannot help.
	ErrPublishRejected = errors.New("router: leaseset rejected by floodfills")
	// ErrNotFound reports a lookup that found nothing.
	ErrNotFound = errors.New("router: not found")
)

// Peer is one router of the fast tier, with what a balancer needs to choose
// hops.
type Peer struct {
	Hash           i2p.Hash
	Caps           string
	BandwidthClass byte
	Reliability    float64       // per-hop build success probability
	Latency        time.Duration // mean per-hop build latency, 0 if unknown
	Floodfill      bool
}

// BuildRequest asks for one tunnel.
type BuildRequest struct {
	Inbound  bool
	HopCount int
	Hops     []i2p.Hash // nil: the router chooses
	Pool     string     // partitions router-chosen gateways per pool
}

// Tunnel is a built tunnel. For an inbound tunnel Gateway is its first hop
// (what a Lease names); ID is the tunnel id at the gateway.
type Tunnel struct {
	ID      uint32
	Inbound bool
	Gateway i2p.Hash
	Hops    []i2p.Hash
	Created time.Time
	Expires time.Time
}

// Delivery is a message that reached one of the router's inbound tunnels.
type Delivery struct {
	Dest i2p.Hash // the destination it is addressed to
	// TunnelID is the inbound tunnel it came through; 0 means unknown (a
	// stock upstream router does not say), accepted only from backends
	// with Features.UpstreamTunnels.
	TunnelID uint32
	Payload  []byte // I2CP payload (gzip format)
	// Reply, when set, sends an answer back to the sender through the
	// network; backends set it when the sender can be answered.
	Reply func(payload []byte) error
}

// Outbound is a client message leaving the router.
type Outbound struct {
	From i2p.Hash
	To   i2p.Hash
	// ToDest is the full target Destination when the client gave it (every
	// I2CP send does); a backend that must name the Destination to its own
	// network uses it instead of looking To up.
	ToDest   *i2p.Destination
	TunnelID uint32 // outbound tunnel to use; 0: router's choice
	Payload  []byte
}

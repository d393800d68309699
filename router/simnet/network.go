package simnet

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
)

// Errors callers test for. Across a Dial-ed link they keep their identity.
var (
	// ErrBuildFailed: a hop rejected or dropped the tunnel build request.
	ErrBuildFailed = errors.New("simnet: tunnel build failed")
	// ErrNoSuchRouter: no live router of that name is attached.
	ErrNoSuchRouter = errors.New("simnet: no such router")
	// ErrNameInUse: a live router of that name is already attached.
	ErrNameInUse = errors.New("simnet: router name in use")
	// ErrUnknownPeer: an explicit hop names no peer of the network.
	ErrUnknownPeer = errors.New("simnet: unknown peer")
	// ErrBadRequest: a build request that cannot be built as asked.
	ErrBadRequest = errors.New("simnet: bad request")
	// ErrLeaseSetRejected: the floodfills refused a LeaseSet (bad format or
	// signature, not newer than the stored one, expired).
	ErrLeaseSetRejected = errors.New("simnet: leaseset rejected")
	// ErrNotFound: no floodfill holds a valid LeaseSet of the destination.
	ErrNotFound = errors.New("simnet: leaseset not found")
	// ErrClosed: the link (router) is closed or its connection is gone.
	ErrClosed = errors.New("simnet: link closed")
)

// Tunnel is a built tunnel. For an inbound tunnel Gateway is Hops[0] (the
// peer remote senders deliver to; the router itself for a 0-hop tunnel) and
// ID is the tunnel id at the gateway: together they are the Lease. For an
// outbound tunnel Gateway is the router itself and Hops end at the endpoint.
type Tunnel struct {
	ID      uint32     `json:"id"`
	Inbound bool       `json:"inbound"`
	Gateway i2p.Hash   `json:"gateway"`
	Hops    []i2p.Hash `json:"hops"`
	Created time.Time  `json:"created"`
	Expires time.Time  `json:"expires"`
}

// Lease2 is the lease that names this (inbound) tunnel.
func (t Tunnel) Lease2() i2p.Lease2 {
	return i2p.Lease2{Gateway: t.Gateway, TunnelID: t.ID, End: uint32(t.Expires.Unix())}
}

// BuildRequest asks for one tunnel.
type BuildRequest struct {
	Inbound bool `json:"inbound"`
	// HopCount is the tunnel length (0..MaxHops) when Hops is nil.
	HopCount int `json:"hop_count"`
	// Hops are explicit hops in tunnel order (see Tunnel); nil lets the
	// router choose from its fast tier.
	Hops []i2p.Hash `json:"hops,omitempty"`
	// Pool partitions the gateway slice of router-chosen inbound tunnels
	// (e.g. the destination's b32): see GatewaySlice.
	Pool string `json:"pool,omitempty"`
}

// Delivery is a remote client's message arriving at an inbound tunnel of a
// router.
type Delivery struct {
	Dest     i2p.Hash `json:"dest"`
	TunnelID uint32   `json:"tunnel_id"`
	Gateway  i2p.Hash `json:"gateway"`
	Client   string   `json:"client"`
	Seq      uint64   `json:"seq"`
	Payload  []byte   `json:"payload"`
	// Reply: the client expects an answer (request/response traffic); the
	// network models the reply leaving through this router.
	Reply bool `json:"reply"`
}

// DeliveryHandler is called when a message reaches one of the router's
// inbound tunnels; it returns true iff the router has a live session for
// d.Dest and that tunnel is alive, i.e. it accepts the message.
type DeliveryHandler func(Delivery) bool

// Link is one simulated router's attachment to the network: in process from
// Network.Attach, across processes from Dial. Methods may be called
// concurrently.
type Link interface {
	Name() string
	// Hash is this router's identity hash (derived from seed and name).
	Hash() i2p.Hash
	// FastTier is up to FastTierSize peers from this router's own profile
	// view; it churns slowly (FastTierChurn per ChurnInterval).
	FastTier(ctx context.Context) ([]Peer, error)
	// BuildTunnel builds a tunnel, taking the modelled latency; it fails
	// with ErrBuildFailed as the hops' reliabilities say.
	BuildTunnel(ctx context.Context, req BuildRequest) (Tunnel, error)
	// Publish sends LeaseSet2 bytes (no store-type byte) to the floodfills
	// closest to the destination; ErrLeaseSetRejected unless the signature
	// verifies, the time is valid and `published` is strictly newer.
	Publish(ctx context.Context, ls []byte) error
	// Lookup asks the floodfills for a destination's LeaseSet2.
	Lookup(ctx context.Context, dest i2p.Hash) ([]byte, error)
	// SetDeliveryHandler installs the handler for deliveries to this
	// router's inbound tunnels (nil refuses all).
	SetDeliveryHandler(h func(Delivery) bool)
	// Send sends a payload of the router's destination from to the
	// endpoint (Endpoint, RemoteEndpoint) of to, binding that endpoint's
	// session with from to this router; ErrNoEndpoint for any other
	// destination.
	Send(ctx context.Context, from i2p.Hash, to *i2p.Destination, payload []byte) error
	// Close takes the router down: its tunnels die.
	Close() error
}

// Network is the whole simulated I2P network of one process.
type Network struct {
	cfg    Config
	clock  Clock
	start  time.Time
	peers  []Peer
	byHash map[i2p.Hash]int
	ffs    []int // floodfill peer indices
	db     *netDB
	logger *slog.Logger

	mu      sync.RWMutex
	links   map[string]*localLink // live routers by name
	tunnels map[leaseKey]*tunnelRec
	gen     map[string]int // attach generation per name
	sends   int            // send runs, for unique client names
	prunes  int

	statsMu sync.Mutex
	stats   map[string]*RouterStats

	sessions sessionTable // end-to-end sessions bound by replies

	epMu      sync.Mutex
	endpoints map[i2p.Hash]*Endpoint // attached endpoints by destination
}

type leaseKey struct {
	gw i2p.Hash
	id uint32
}

type tunnelRec struct {
	link *localLink
	t    Tunnel
}

// RouterStats counts what happened at one router name.
type RouterStats struct {
	BuildsOK     int `json:"builds_ok"`
	BuildsFailed int `json:"builds_failed"`
	Delivered    int `json:"delivered"`
	Refused      int `json:"refused"` // deliveries its handler did not accept
	// Sent and SendFailed count the router's own payloads to endpoints.
	Sent       int `json:"sent"`
	SendFailed int `json:"send_failed"`
}

// New builds the network from cfg (see Config.Validate).
func New(cfg Config) (*Network, error) {
	return NewWithLogger(cfg, nil)
}

// NewWithLogger is New with a logger (nil discards).
func NewWithLogger(cfg Config, logger *slog.Logger) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Network{
		cfg:     cfg,
		clock:   cfg.Clock,
		start:   cfg.Clock.Now(),
		peers:   makePeers(cfg),
		byHash:  make(map[i2p.Hash]int, cfg.Peers),
		logger:  logger.With("component", "simnet"),
		links:   make(map[string]*localLink),
		tunnels: make(map[leaseKey]*tunnelRec),
		gen:     make(map[string]int),
		stats:   make(map[string]*RouterStats),

		endpoints: make(map[i2p.Hash]*Endpoint),
	}
	for i, p := range n.peers {
		n.byHash[p.Hash] = i
		if p.Floodfill {
			n.ffs = append(n.ffs, i)
		}
	}
	n.db = newNetDB(n)
	return n, nil
}

// Config is the network's model (with its Clock filled in).
func (n *Network) Config() Config { return n.cfg }

// Clock is the network's clock; routers and balancers of the same process
// stamp LeaseSets with it.
func (n *Network) Clock() Clock { return n.clock }

// Peers returns a copy of the peer population.
func (n *Network) Peers() []Peer { return slices.Clone(n.peers) }

// Peer returns the peer with hash h.
func (n *Network) Peer(h i2p.Hash) (Peer, bool) {
	i, ok := n.byHash[h]
	if !ok {
		return Peer{}, false
	}
	return n.peers[i], true
}

// RouterHash is the identity hash of the router called name.
func (n *Network) RouterHash(name string) i2p.Hash {
	h := sha256.New()
	fmt.Fprintf(h, "imh-simnet-router\x00%d\x00%s", n.cfg.Seed, name)
	var out i2p.Hash
	h.Sum(out[:0])
	return out
}

// Routers lists the names of the live routers, sorted.
func (n *Network) Routers() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	names := make([]string, 0, len(n.links))
	for name := range n.links {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Stats returns the counters of every router name seen.
func (n *Network) Stats() map[string]RouterStats {
	n.statsMu.Lock()
	defer n.statsMu.Unlock()
	out := make(map[string]RouterStats, len(n.stats))
	for k, v := range n.stats {
		out[k] = *v
	}
	return out
}

// statsLocked needs statsMu.
func (n *Network) statsLocked(name string) *RouterStats {
	s := n.stats[name]
	if s == nil {
		s = &RouterStats{}
		n.stats[name] = s
	}
	return s
}

// Attach brings a router called name up on the network. Its fast tier and
// random choices derive from the seed and the name, so a router that
// re-attaches under the same name sees the same network.
func (n *Network) Attach(name string) (Link, error) {
	return n.attach(name)
}

func (n *Network) attach(name string) (*localLink, error) {
	if name == "" || strings.ContainsAny(name, "\x00\n") {
		return nil, fmt.Errorf("attach %q: %w: bad router name", name, ErrBadRequest)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.links[name]; ok {
		return nil, fmt.Errorf("attach %q: %w", name, ErrNameInUse)
	}
	n.gen[name]++
	l := &localLink{
		n:    n,
		name: name,
		hash: n.RouterHash(name),
		rng:  SeededRand(n.cfg.Seed, "router", name, itoa(int64(n.gen[name]))),
		tier: newFastTier(n.cfg.Seed, name, n.peers, n.cfg.FastTierSize),
	}
	n.links[name] = l
	n.statsMu.Lock()
	n.statsLocked(name)
	n.statsMu.Unlock()
	n.logger.Info("router attached", "router", name, "hash", l.hash.String())
	return l, nil
}

// detach is Close of a local link.
func (n *Network) detach(l *localLink) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.links[l.name] == l {
		delete(n.links, l.name)
	}
	n.logger.Info("router detached", "router", l.name)
}

// epoch is the fast-tier churn epoch at t.
func (n *Network) epoch(t time.Time) int64 {
	d := t.Sub(n.start)
	if d < 0 {
		return 0
	}
	return int64(d / n.cfg.ChurnInterval)
}

// register records a new inbound tunnel so deliveries can find it; it
// returns false if the lease key is taken (the caller draws another id).
func (n *Network) register(l *localLink, t Tunnel) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := leaseKey{t.Gateway, t.ID}
	if old, ok := n.tunnels[k]; ok && n.clock.Now().Before(old.t.Expires.Add(time.Hour)) {
		return false
	}
	n.tunnels[k] = &tunnelRec{link: l, t: t}
	n.prunes++
	if n.prunes >= 4096 {
		n.pruneLocked()
	}
	return true
}

// pruneLocked forgets tunnels that expired more than an hour ago; until then
// they are kept so that late deliveries fail as "expired".
func (n *Network) pruneLocked() {
	n.prunes = 0
	cutoff := n.clock.Now().Add(-time.Hour)
	for k, rec := range n.tunnels {
		if rec.t.Expires.Before(cutoff) {
			delete(n.tunnels, k)
		}
	}
}

func (n *Network) countBuild(name string, ok bool) {
	n.statsMu.Lock()
	defer n.statsMu.Unlock()
	s := n.statsLocked(name)
	if ok {
		s.BuildsOK++
	} else {
		s.BuildsFailed++
	}
}

// TunnelOwner names the router whose inbound tunnel a lease names (also
// after the tunnel expired or its router went down, for an hour).
func (n *Network) TunnelOwner(l i2p.Lease2) (string, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	rec, ok := n.tunnels[leaseKey{l.Gateway, l.TunnelID}]
	if !ok {
		return "", false
	}
	return rec.link.name, true
}

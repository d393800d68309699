// Package status defines the JSON shapes of `imh status` and the live view
// the leader's balancer offers to the cluster's HTTP API. It is a leaf shared
// by cluster (which serves the JSON) and balancer (which knows router health
// and per-destination live facts), so that neither imports the other. What
// a client reads off these shapes (Publication: is a LeaseSet out yet)
// lives here too, so the CLI, the demo and tests read them alike.
package status

// Status is the body of `imh status --json` (see docs/cli.md).
type Status struct {
	Leader       string        `json:"leader"`
	Term         uint64        `json:"term"`
	Node         string        `json:"node"`
	Peers        []Peer        `json:"peers"`
	Routers      []Router      `json:"routers"`
	Frontends    []Frontend    `json:"frontends"`
	Destinations []Destination `json:"destinations"`
}

// Peer is one Raft server as this agent sees it.
type Peer struct {
	Name     string `json:"name"`
	RaftAddr string `json:"raft_addr"`
	State    string `json:"state"` // leader|follower|candidate|left
	Voter    bool   `json:"voter"`
}

// Router states reported by the live view.
const (
	RouterUp      = "up"
	RouterDown    = "down"
	RouterUnknown = "unknown"
)

// Router is an operator-added router with the leader's live view of it.
type Router struct {
	Name         string   `json:"name"`
	Addr         string   `json:"addr"`
	State        string   `json:"state"`
	Capabilities []string `json:"capabilities"`
	// Error is why the leader cannot reach a router that is down (a
	// refused certificate, say); empty otherwise.
	Error string `json:"error,omitempty"`
}

// Destination is one hosted service: replicated facts plus the live view.
type Destination struct {
	Name                  string         `json:"name"`
	B32                   string         `json:"b32"`
	Policy                string         `json:"policy"`
	Service               string         `json:"service"`
	LeaseSet              string         `json:"leaseset"`
	Leases                int            `json:"leases"`
	Published             uint32         `json:"published"`
	LeasesByRouter        map[string]int `json:"leases_by_router"`
	GatewaySet            []string       `json:"gateway_set"`
	GatewayPolicyEnforced bool           `json:"gateway_policy_enforced"`
	ActiveRouter          string         `json:"active_router"`
	StandbyRouters        []string       `json:"standby_routers"`
	Switches              int            `json:"switches"`
	PayloadsByRouter      map[string]int `json:"payloads_by_router"`
	// UpstreamInbound is, per router that builds its own tunnels (an
	// adapter in front of a stock router), how many inbound tunnels the
	// router holds for the destination against how many it was asked for.
	UpstreamInbound map[string]InboundCount `json:"upstream_inbound"`
	// EchoDropped counts echo payloads dropped unanswered because the
	// leader had MaxEchoWorkers replies in flight.
	EchoDropped uint64 `json:"echo_dropped"`
	// Streams is the TCP service's traffic (zero for other services).
	Streams StreamsLive `json:"streams"`
	// Invisibility is what an observer of the netDB sees of the
	// destination's recent LeaseSets against one router; nil when the
	// leader has not published one yet or no leader's view could be had.
	Invisibility *Invisibility `json:"invisibility"`
}

// Invisibility is the leader's live measure of how much a destination
// looks like one router to an observer of the netDB: observe's features
// over the LeaseSets this leader published in the last window, each put
// against the range (5th to 95th percentile) a single stock router shows.
type Invisibility struct {
	// WindowMs is the window asked for (1 h); SpanMs the part of it the
	// leader's history covers (less for a new leader or destination).
	WindowMs int64 `json:"window_ms"`
	SpanMs   int64 `json:"span_ms"`
	// Stores is how many LeaseSets were published within the span.
	Stores int `json:"stores"`
	// Atypical counts the features outside one router's range.
	Atypical int                  `json:"atypical"`
	Features []InvisibilityFigure `json:"features"`
	// Error says why nothing could be measured (Features empty).
	Error string `json:"error,omitempty"`
}

// InvisibilityFigure is one feature's live value beside one router's
// range; Value is nil (and Verdict "unknown") while there is too little
// history for it.
type InvisibilityFigure struct {
	Name         string      `json:"name"`
	Unit         string      `json:"unit"`
	Value        *float64    `json:"value"`
	SingleRouter RouterRange `json:"single_router"`
	// Verdict is "typical" (within the range), "atypical" or "unknown".
	Verdict string `json:"verdict"`
}

// RouterRange is where a single stock router's values of a feature lie:
// 5th percentile, median, 95th percentile.
type RouterRange struct {
	Low    float64 `json:"low"`
	Median float64 `json:"median"`
	High   float64 `json:"high"`
}

// InboundCount is a router's live inbound tunnels of one destination
// (have) against the number asked for (want); have < want is a shortfall.
type InboundCount struct {
	Have int `json:"have"`
	Want int `json:"want"`
}

// StreamsLive are a TCP service's stream figures on the leader since it
// became leader: streams open now, accepted and refused (limits, no
// backend), payload bytes from clients (in) and to them (out), resent
// packets and packets no router could carry.
type StreamsLive struct {
	Open         int    `json:"open"`
	Accepted     uint64 `json:"accepted"`
	Refused      uint64 `json:"refused"`
	BytesIn      uint64 `json:"bytes_in"`
	BytesOut     uint64 `json:"bytes_out"`
	Resends      uint64 `json:"resends"`
	SendFailures uint64 `json:"send_failures"`
}

// RouterLive is the leader's live view of one router.
type RouterLive struct {
	State        string
	Capabilities []string
	Error        string // the last connection error while down
}

// DestinationLive is the leader's live view of one destination: what is not
// replicated because it is observation, not decision.
type DestinationLive struct {
	GatewaySet            []string
	GatewayPolicyEnforced bool
	ActiveRouter          string
	StandbyRouters        []string
	Switches              int
	PayloadsByRouter      map[string]int
	UpstreamInbound       map[string]InboundCount
	EchoDropped           uint64
	Streams               StreamsLive
	Invisibility          *Invisibility
}

// LiveView is implemented by the balancer running on the leader. The
// cluster's API asks it to fill the live fields of Status; on a follower the
// API forwards to the leader or reports RouterUnknown.
type LiveView interface {
	Router(name string) (RouterLive, bool)
	Frontend(name string) (FrontendLive, bool)
	Destination(name string) (DestinationLive, bool)
}

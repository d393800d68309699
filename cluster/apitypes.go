package cluster

import "github.com/imh-project/imh/internal/status"

// The JSON bodies of the HTTP API (see api.go for the endpoints). They are
// exported so that the CLI decodes exactly what the agent encodes.

// ErrorBody is the body of every non-2xx answer.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"` // no_leader, not_found, exists, invalid, internal, unauthenticated, forbidden, refused, disk_full
}

// Error codes in ErrorBody.Code.
const (
	CodeNoLeader = "no_leader"
	CodeNotFound = "not_found"
	CodeExists   = "exists"
	CodeInvalid  = "invalid"
	CodeInternal = "internal"
	// CodeUnauthenticated (401): no client certificate was presented.
	CodeUnauthenticated = "unauthenticated"
	// CodeForbidden (403): the certificate's role may not make this call.
	CodeForbidden = "forbidden"
	// CodeDiskFull (507): the leader's data dir is full or read-only
	// (ErrDataDirFull), so it could not log the write. Like any 5xx the
	// outcome is not certain (an earlier write may have been in flight
	// when leadership was lost); retry once space has been freed.
	CodeDiskFull = "disk_full"
)

// RouterInfo is one router as the API returns it.
type RouterInfo struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
	// Reachable is set only in the answer to POST /v1/routers: whether the
	// leader, which will dial the router, reached its address by TCP
	// within a second. A router that is not reachable yet is added all
	// the same (routers may come later); Unreachable says why.
	Reachable   *bool  `json:"reachable,omitempty"`
	Unreachable string `json:"unreachable,omitempty"`
}

// RouterList is the body of GET /v1/routers.
type RouterList struct {
	Routers []RouterInfo `json:"routers"`
}

// FrontendInfo is one frontend as the API returns it, and the body of
// POST /v1/frontends. Router names the router it sits beside.
type FrontendInfo struct {
	Name   string `json:"name"`
	Addr   string `json:"addr"`
	Router string `json:"router"`
}

// FrontendList is the body of GET /v1/frontends.
type FrontendList struct {
	Frontends []FrontendInfo `json:"frontends"`
}

// DestinationRequest is the body of POST /v1/destinations (create or, with
// KeyFile, import) and PATCH /v1/destinations/{name} (set: only the fields
// given change). KeyFile is the standard base64 of a private key file.
type DestinationRequest struct {
	Name     string  `json:"name,omitempty"`
	KeyFile  string  `json:"key_file,omitempty"`
	Inbound  *int    `json:"inbound,omitempty"`
	Outbound *int    `json:"outbound,omitempty"`
	Hops     *int    `json:"hops,omitempty"`
	Policy   *string `json:"policy,omitempty"`
	Service  *string `json:"service,omitempty"`
	// Frontends turns multi-client mode on or off (create: off when absent).
	Frontends *bool `json:"frontends,omitempty"`
}

// TunnelInfo is one recorded tunnel.
type TunnelInfo struct {
	Router    string   `json:"router"`
	Direction string   `json:"direction"`
	ID        uint32   `json:"id"`
	Gateway   string   `json:"gateway"` // hex router hash
	Hops      []string `json:"hops"`
	Expires   uint32   `json:"expires"`
}

// DestinationInfo is one destination as the API returns it. It never
// carries private keys, sealed or not.
type DestinationInfo struct {
	Name              string         `json:"name"`
	B32               string         `json:"b32"`
	Destination       string         `json:"destination"` // I2P base64
	LeaseSetPublicKey string         `json:"leaseset_public_key"`
	Inbound           int            `json:"inbound"`
	Outbound          int            `json:"outbound"`
	Hops              int            `json:"hops"`
	Policy            string         `json:"policy"`
	Service           string         `json:"service"`
	Frontends         bool           `json:"frontends"` // multi-client mode
	LeaseSet          string         `json:"leaseset"`
	Published         uint32         `json:"published"`
	Leases            int            `json:"leases"`
	LeasesByRouter    map[string]int `json:"leases_by_router"`
	Tunnels           []TunnelInfo   `json:"tunnels"`
	// Invisibility is the leader's live figures (as in imh status); only
	// GET /v1/destinations/{name} fills it, null elsewhere and while no
	// leader's view can be had.
	Invisibility *status.Invisibility `json:"invisibility"`
}

// LeaseSetInfo is the body of GET /v1/destinations/{name}/leaseset: the
// destination's current LeaseSet decoded, each lease with the router whose
// inbound tunnel it is. Published and Expires are I2P times (seconds); both
// are 0 and Leases is empty before the first publish.
type LeaseSetInfo struct {
	Name           string      `json:"name"`
	B32            string      `json:"b32"`
	Published      uint32      `json:"published"`
	Expires        uint32      `json:"expires"`
	SignatureValid bool        `json:"signature_valid"`
	Leases         []LeaseInfo `json:"leases"`
}

// LeaseInfo is one lease of a LeaseSetInfo. Gateway is the hex router hash.
type LeaseInfo struct {
	Router  string `json:"router"`
	Gateway string `json:"gateway"`
	Tunnel  uint32 `json:"tunnel"`
	End     uint32 `json:"end"`
}

// DestinationList is the body of GET /v1/destinations.
type DestinationList struct {
	Destinations []DestinationInfo `json:"destinations"`
}

// LiveBody is the leader's live view (GET /v1/live), which followers use to
// fill the live fields of their status.
type LiveBody struct {
	Routers map[string]status.RouterLive `json:"routers"`
	// Frontends is absent from an older leader's body: its frontends are
	// then unknown.
	Frontends    map[string]status.FrontendLive    `json:"frontends"`
	Destinations map[string]status.DestinationLive `json:"destinations"`
}

// PeerInfo is one raft server as `imh cluster peers` shows it. State is
// leader, follower, candidate, shutdown, or left (its agent did not
// answer); LastContactMs is how long ago that server last heard from the
// leader (0 on the leader, -1 when unknown); CommitIndex is 0 when unknown.
type PeerInfo struct {
	Name          string `json:"name"`
	RaftAddr      string `json:"raft_addr"`
	State         string `json:"state"`
	Voter         bool   `json:"voter"`
	LastContactMs int64  `json:"last_contact_ms"`
	CommitIndex   uint64 `json:"commit_index"`
}

// SelfInfo is the body of GET /v1/internal/self: PeerInfo and the agent's
// secrets (imh cluster secret status).
type SelfInfo struct {
	PeerInfo
	Secrets SecretAgent `json:"secrets"`
}

// PeersBody is the body of GET /v1/peers (imh cluster peers --json).
type PeersBody struct {
	Peers []PeerInfo `json:"peers"`
}

// JoinRequest is the body of POST /v1/join: the gossip address of an agent
// of the cluster this agent should join.
type JoinRequest struct {
	Addr string `json:"addr"`
}

// JoinResult answers POST /v1/join once this agent is a voter.
type JoinResult struct {
	Node      string `json:"node"`
	Leader    string `json:"leader"`
	Contacted int    `json:"contacted"`
	Fresh     bool   `json:"fresh"` // stale raft state of a removed agent was moved aside
}

// RemoveResult answers DELETE /v1/peers/{name}.
type RemoveResult struct {
	Removed  string `json:"removed"`
	Notified bool   `json:"notified"` // the removed agent was told (it was reachable)
}

// TransferRequest is the body of POST /v1/transfer-leader; an empty Name
// lets raft pick the most up-to-date voter.
type TransferRequest struct {
	Name string `json:"name,omitempty"`
}

// PromoteRequest is the body of POST /v1/promote.
type PromoteRequest struct {
	Name string `json:"name"`
}

// PromoteResult answers POST /v1/promote: Already when the server was a
// voter before, Voters the voter count after.
type PromoteResult struct {
	Promoted string `json:"promoted"`
	Already  bool   `json:"already"`
	Voters   int    `json:"voters"`
}

// TransferResult names the leader after a transfer.
type TransferResult struct {
	Leader string `json:"leader"`
}

// RestoreResult answers PUT /v1/snapshot.
type RestoreResult struct {
	Routers      int `json:"routers"`
	Frontends    int `json:"frontends"`
	Destinations int `json:"destinations"`
}

// StateHashBody answers GET /v1/state-hash (imh cluster state-hash --json):
// the raft index of the last entry this agent applied and the SHA-256 of
// its replicated state (fsm.State.StateHash). Agents at the same index have
// the same hash.
type StateHashBody struct {
	Node  string `json:"node"`
	Index uint64 `json:"index"`
	Hash  string `json:"hash"`
}

package cluster

import "github.com/imh-project/imh/internal/status"

// The JSON bodies of the HTTP API (see api.go for the endpoints). They are
// exported so that the CLI decodes exactly what the agent encodes.

// ErrorBody is the body of every non-2xx answer.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"` // no_leader, not_found, exists, invalid, internal
}

// Error codes in ErrorBody.Code.
const (
	CodeNoLeader = "no_leader"
	CodeNotFound = "not_found"
	CodeExists   = "exists"
	CodeInvalid  = "invalid"
	CodeInternal = "internal"
)

// RouterInfo is one router as the API returns it.
type RouterInfo struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// RouterList is the body of GET /v1/routers.
type RouterList struct {
	Routers []RouterInfo `json:"routers"`
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
	LeaseSet          string         `json:"leaseset"`
	Published         uint32         `json:"published"`
	Leases            int            `json:"leases"`
	LeasesByRouter    map[string]int `json:"leases_by_router"`
	Tunnels           []TunnelInfo   `json:"tunnels"`
}

// DestinationList is the body of GET /v1/destinations.
type DestinationList struct {
	Destinations []DestinationInfo `json:"destinations"`
}

// LiveBody is the leader's live view (GET /v1/live), which followers use to
// fill the live fields of their status.
type LiveBody struct {
	Routers      map[string]status.RouterLive      `json:"routers"`
	Destinations map[string]status.DestinationLive `json:"destinations"`
}

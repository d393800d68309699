package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/status"
)

// The typed calls, one per endpoint the CLI uses. Names are escaped into
// paths here so that no caller builds a URL.

// Status is GET /v1/status: the cluster as this agent sees it (stale reads
// allowed; live fields come from the leader).
func (c *Client) Status(ctx context.Context) (*status.Status, error) {
	var st status.Status
	return &st, c.call(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// StateHash is GET /v1/state-hash.
func (c *Client) StateHash(ctx context.Context) (cluster.StateHashBody, error) {
	var b cluster.StateHashBody
	return b, c.call(ctx, http.MethodGet, "/v1/state-hash", nil, &b)
}

// Peers is GET /v1/peers: the raft servers.
func (c *Client) Peers(ctx context.Context) ([]cluster.PeerInfo, error) {
	var b cluster.PeersBody
	return b.Peers, c.call(ctx, http.MethodGet, "/v1/peers", nil, &b)
}

// Join is POST /v1/join: the agent joins the cluster gossiping at addr.
func (c *Client) Join(ctx context.Context, addr string) (cluster.JoinResult, error) {
	var r cluster.JoinResult
	return r, c.call(ctx, http.MethodPost, "/v1/join", cluster.JoinRequest{Addr: addr}, &r)
}

// Promote is POST /v1/promote: the non-voter name becomes a voter.
func (c *Client) Promote(ctx context.Context, name string) (cluster.PromoteResult, error) {
	var r cluster.PromoteResult
	return r, c.call(ctx, http.MethodPost, "/v1/promote", cluster.PromoteRequest{Name: name}, &r)
}

// RemovePeer is DELETE /v1/peers/{name}.
func (c *Client) RemovePeer(ctx context.Context, name string) (cluster.RemoveResult, error) {
	var r cluster.RemoveResult
	return r, c.call(ctx, http.MethodDelete, "/v1/peers/"+url.PathEscape(name), nil, &r)
}

// TransferLeader is POST /v1/transfer-leader; an empty name lets raft pick.
func (c *Client) TransferLeader(ctx context.Context, name string) (cluster.TransferResult, error) {
	var r cluster.TransferResult
	return r, c.call(ctx, http.MethodPost, "/v1/transfer-leader", cluster.TransferRequest{Name: name}, &r)
}

// Snapshot is GET /v1/snapshot: the leader's state as a snapshot file
// (cluster.SnapshotBody reads it).
func (c *Client) Snapshot(ctx context.Context) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/v1/snapshot", nil, "", MaxSnapshotAnswer)
}

// Restore is PUT /v1/snapshot: the whole state replaced by snapshot.
func (c *Client) Restore(ctx context.Context, snapshot []byte) (cluster.RestoreResult, error) {
	var r cluster.RestoreResult
	raw, err := c.do(ctx, http.MethodPut, "/v1/snapshot", snapshot, "", MaxJSONAnswer)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("agent at %s: %w: %w", c.addr, ErrMalformed, err)
	}
	return r, nil
}

// SecretRotate is POST /v1/secret/rotate.
func (c *Client) SecretRotate(ctx context.Context) (cluster.SecretRotateResult, error) {
	var r cluster.SecretRotateResult
	return r, c.call(ctx, http.MethodPost, "/v1/secret/rotate", nil, &r)
}

// SecretStatus is GET /v1/secret.
func (c *Client) SecretStatus(ctx context.Context) (cluster.SecretStatus, error) {
	var s cluster.SecretStatus
	return s, c.call(ctx, http.MethodGet, "/v1/secret", nil, &s)
}

// AddRouter is POST /v1/routers; the answer says whether the leader
// reached the router.
func (c *Client) AddRouter(ctx context.Context, r cluster.RouterInfo) (cluster.RouterInfo, error) {
	var out cluster.RouterInfo
	return out, c.call(ctx, http.MethodPost, "/v1/routers", r, &out)
}

// RemoveRouter is DELETE /v1/routers/{name}.
func (c *Client) RemoveRouter(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/v1/routers/"+url.PathEscape(name), nil, nil)
}

// AddFrontend is POST /v1/frontends.
func (c *Client) AddFrontend(ctx context.Context, f cluster.FrontendInfo) (cluster.FrontendInfo, error) {
	var out cluster.FrontendInfo
	return out, c.call(ctx, http.MethodPost, "/v1/frontends", f, &out)
}

// Frontends is GET /v1/frontends.
func (c *Client) Frontends(ctx context.Context) ([]cluster.FrontendInfo, error) {
	var l cluster.FrontendList
	return l.Frontends, c.call(ctx, http.MethodGet, "/v1/frontends", nil, &l)
}

// RemoveFrontend is DELETE /v1/frontends/{name}.
func (c *Client) RemoveFrontend(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/v1/frontends/"+url.PathEscape(name), nil, nil)
}

// CreateDestination is POST /v1/destinations (create, or import with
// req.KeyFile).
func (c *Client) CreateDestination(ctx context.Context, req cluster.DestinationRequest) (cluster.DestinationInfo, error) {
	var d cluster.DestinationInfo
	return d, c.call(ctx, http.MethodPost, "/v1/destinations", req, &d)
}

// SetDestination is PATCH /v1/destinations/{name}: only the fields given
// in req change.
func (c *Client) SetDestination(ctx context.Context, name string, req cluster.DestinationRequest) (cluster.DestinationInfo, error) {
	var d cluster.DestinationInfo
	return d, c.call(ctx, http.MethodPatch, "/v1/destinations/"+url.PathEscape(name), req, &d)
}

// Destinations is GET /v1/destinations.
func (c *Client) Destinations(ctx context.Context) ([]cluster.DestinationInfo, error) {
	var l cluster.DestinationList
	return l.Destinations, c.call(ctx, http.MethodGet, "/v1/destinations", nil, &l)
}

// Destination is GET /v1/destinations/{name}.
func (c *Client) Destination(ctx context.Context, name string) (cluster.DestinationInfo, error) {
	var d cluster.DestinationInfo
	return d, c.call(ctx, http.MethodGet, "/v1/destinations/"+url.PathEscape(name), nil, &d)
}

// RemoveDestination is DELETE /v1/destinations/{name}.
func (c *Client) RemoveDestination(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/v1/destinations/"+url.PathEscape(name), nil, nil)
}

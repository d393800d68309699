package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/console"
	"github.com/imh-project/imh/internal/status"
)

// The HTTP API, served by every agent (loopback by default). Reads are
// answered from the local replica (stale reads allowed); writes are applied
// on the leader, and a follower forwards them there.
//
//	GET    /v1/status                 status.Status (imh status)
//	GET    /v1/live                   LiveBody, leader only
//	GET    /v1/routers                RouterList
//	GET    /v1/state-hash             StateHashBody
//	POST   /v1/routers                RouterInfo -> RouterInfo
//	DELETE /v1/routers/{name}
//	GET    /v1/frontends              FrontendList
//	POST   /v1/frontends              FrontendInfo -> FrontendInfo
//	DELETE /v1/frontends/{name}
//	GET    /v1/destinations           DestinationList
//	GET    /v1/destinations/{name}    DestinationInfo
//	GET    /v1/destinations/{name}/leaseset  LeaseSetInfo (the current LeaseSet, decoded)
//	POST   /v1/destinations           DestinationRequest (create, or import with key_file) -> DestinationInfo
//	PATCH  /v1/destinations/{name}    DestinationRequest (set) -> DestinationInfo
//	DELETE /v1/destinations/{name}
//	POST   /v1/internal/destination-put   fsm-encoded DestinationPut, sealed by a follower -> DestinationInfo
//	POST   /v1/secret/rotate          -> SecretRotateResult (leader; rotate.go)
//	GET    /v1/secret                 SecretStatus (rotate.go)
//	GET    /ui/                       the web console (internal/console), read-only
//
// GET /v1/routers and GET /v1/destinations/{name} take ?consistent=1: a
// follower forwards the read to the leader, which answers after a raft
// Barrier (so it still leads and has applied every write acknowledged before
// the read began): a linearizable read instead of the local, possibly stale one.
//
// Errors are ErrorBody with 400 (invalid), 404, 409 (exists, stale or refused), 503
// (no leader) or 500.
const (
	maxBody        = 1 << 20
	hdrForwardedBy = "X-Imh-Forwarded-By"
	liveTimeout    = time.Second
)

var errBadRequest = errors.New("bad request")

func (c *Cluster) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", c.handleStatus)
	mux.HandleFunc("GET /v1/live", c.handleLive)
	mux.HandleFunc("GET /v1/routers", c.handleRouterList)
	mux.HandleFunc("GET /v1/state-hash", c.handleStateHash)
	mux.HandleFunc("POST /v1/routers", c.write(c.routerAdd))
	mux.HandleFunc("DELETE /v1/routers/{name}", c.write(c.applyName(func(n string) fsm.Command { return &fsm.RouterRemove{Name: n} })))
	mux.HandleFunc("GET /v1/frontends", c.handleFrontendList)
	mux.HandleFunc("POST /v1/frontends", c.write(applyBody(c, func(fi FrontendInfo) fsm.Command {
		return &fsm.FrontendPut{Name: fi.Name, Addr: fi.Addr, Router: fi.Router}
	})))
	mux.HandleFunc("DELETE /v1/frontends/{name}", c.write(c.applyName(func(n string) fsm.Command { return &fsm.FrontendRemove{Name: n} })))
	mux.HandleFunc("GET /v1/destinations", c.handleDestList)
	mux.HandleFunc("GET /v1/destinations/{name}", c.handleDestShow)
	mux.HandleFunc("GET /v1/destinations/{name}/leaseset", c.handleDestLeaseSet)
	mux.HandleFunc("POST /v1/destinations", c.write(c.destCreate))
	mux.HandleFunc("PATCH /v1/destinations/{name}", c.write(c.destSet))
	mux.HandleFunc("DELETE /v1/destinations/{name}", c.write(c.applyName(func(n string) fsm.Command { return &fsm.DestinationRemove{Name: n} })))
	mux.HandleFunc("POST /v1/internal/destination-put", c.write(c.internalDestinationPut))
	c.registerOps(mux)
	c.registerSecret(mux)
	if c.cfg.Metrics != nil {
		mux.Handle("GET /metrics", c.cfg.Metrics)
	}
	mux.Handle("GET "+console.Prefix, console.Handler())
	return jsonErrors(mux)
}

// jsonErrors answers what no route takes (an unknown path, 404; a method
// the path does not take, 405, Allow header kept) with the documented
// ErrorBody instead of net/http's plain text.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern == "" {
			h.ServeHTTP(&errorBodyWriter{ResponseWriter: w, path: r.URL.Path, method: r.Method}, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// errorBodyWriter turns the error status net/http's mux writes into an
// ErrorBody and drops the mux's text.
type errorBodyWriter struct {
	http.ResponseWriter
	path, method string
	wrote        bool
}

func (e *errorBodyWriter) WriteHeader(code int) {
	if e.wrote {
		return
	}
	e.wrote = true
	body := ErrorBody{Error: fmt.Sprintf("no such API path: %.100q", e.path), Code: CodeNotFound}
	switch {
	case code == http.StatusMethodNotAllowed:
		body = ErrorBody{Error: fmt.Sprintf("method %.10s not allowed on %.100q (allowed: %s)", e.method, e.path, e.Header().Get("Allow")), Code: CodeInvalid}
	case code < 400:
		e.ResponseWriter.WriteHeader(code) // a redirect (path cleaning): pass it on
		return
	}
	e.Header().Del("X-Content-Type-Options")
	writeJSON(e.ResponseWriter, code, body)
}

func (e *errorBodyWriter) Write(b []byte) (int, error) {
	if !e.wrote {
		e.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code, name := http.StatusInternalServerError, CodeInternal
	switch {
	case errors.Is(err, fsm.ErrInvalid), errors.Is(err, fsm.ErrMalformed), errors.Is(err, fsm.ErrVersion),
		errors.Is(err, fsm.ErrUnknownCommand), errors.Is(err, errBadRequest):
		code, name = http.StatusBadRequest, CodeInvalid
	case errors.Is(err, fsm.ErrNotFound):
		code, name = http.StatusNotFound, CodeNotFound
	case errors.Is(err, fsm.ErrExists), errors.Is(err, fsm.ErrStalePublish):
		code, name = http.StatusConflict, CodeExists
	case errors.Is(err, errRefused):
		code, name = http.StatusConflict, CodeRefused
	case errors.Is(err, ErrDataDirFull):
		code, name = http.StatusInsufficientStorage, CodeDiskFull
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotLeader), errors.Is(err, ErrLeadershipLost):
		code, name = http.StatusServiceUnavailable, CodeNoLeader
	}
	writeJSON(w, code, ErrorBody{Error: err.Error(), Code: name})
}

// writeFunc handles one write on the leader and returns the response body.
type writeFunc func(ctx context.Context, r *http.Request, body []byte) (any, error)

// write wraps a writeFunc: it reads the body once, runs the write, and if
// this agent is not the leader forwards the original request to it.
func (c *Cluster) write(f writeFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(body) > maxBody {
			writeError(w, fmt.Errorf("%w: body unreadable or over %d bytes", errBadRequest, maxBody))
			return
		}
		resp, err := f(r.Context(), r, body)
		var fa *forwardAs
		switch {
		case errors.As(err, &fa):
			if fa.handedOver {
				r.Header.Del(hdrForwardedBy) // this agent led until just now: one more hop is right
			}
			c.forward(w, r, fa.method, fa.path, fa.body)
		case errors.Is(err, ErrNotLeader):
			c.forward(w, r, r.Method, r.URL.RequestURI(), body)
		case err != nil:
			writeError(w, err)
		case resp == nil:
			writeJSON(w, http.StatusOK, struct{}{})
		default:
			writeJSON(w, http.StatusOK, resp)
		}
	}
}

// forwardAs is returned by a write on a follower that must reach the
// leader as a different request than the one received (a destination's
// keys travel sealed between agents, never in the clear).
type forwardAs struct {
	method, path string
	body         []byte
	handedOver   bool // this agent handed leadership over to serve the request
}

func (f *forwardAs) Error() string { return "forward to the leader as " + f.method + " " + f.path }
func (f *forwardAs) Unwrap() error { return ErrNotLeader }

// forward sends a write to the leader and copies its answer back.
func (c *Cluster) forward(w http.ResponseWriter, r *http.Request, method, uri string, body []byte) {
	if by := r.Header.Get(hdrForwardedBy); by != "" {
		writeError(w, fmt.Errorf("%w: forwarded by %s but this agent is not the leader (election under way?)", ErrNoLeader, by))
		return
	}
	leader := c.Leader()
	if leader == "" || leader == c.cfg.NodeName {
		writeError(w, fmt.Errorf("%w: no leader elected (is a majority of agents up?)", ErrNoLeader))
		return
	}
	addr := c.httpAddrOf(leader)
	if addr == "" {
		writeError(w, fmt.Errorf("%w: the API address of leader %s is not known yet", ErrNoLeader, leader))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), method, c.apiURL(addr, uri), bytes.NewReader(body))
	if err != nil {
		writeError(w, fmt.Errorf("forward to %s: %w", leader, err))
		return
	}
	req.Header.Set(hdrForwardedBy, c.cfg.NodeName)
	resp, err := c.client.Do(req)
	if err != nil {
		writeError(w, fmt.Errorf("%w: forward to leader %s at %s: %w", ErrNoLeader, leader, addr, err))
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, maxSnapshot))
}

// httpAddrOf returns the API address of a node: from gossip, from the
// static peers of the config, or the last one gossip knew for it (a leader
// that raft follows while gossip lost it, in a gossip partition).
func (c *Cluster) httpAddrOf(node string) string {
	for _, m := range c.members() {
		if m.Name == node {
			return m.Meta.HTTPAddr
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.staticHTTP[node]; a != "" {
		return a
	}
	return c.lastHTTP[node]
}

func decodeBody(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: json body: %w", errBadRequest, err)
	}
	return nil
}

// applyBody is a write that decodes the JSON body as a T, applies the
// command made from it and answers with the body (router and frontend add).
func applyBody[T any](c *Cluster, cmd func(T) fsm.Command) writeFunc {
	return func(ctx context.Context, _ *http.Request, body []byte) (any, error) {
		var in T
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		if err := c.Apply(ctx, cmd(in)); err != nil {
			return nil, err
		}
		return in, nil
	}
}

// applyName is a write that applies the command made from the {name} of
// the path (the removals) and answers {}.
func (c *Cluster) applyName(cmd func(name string) fsm.Command) writeFunc {
	return func(ctx context.Context, r *http.Request, _ []byte) (any, error) {
		return nil, c.Apply(ctx, cmd(r.PathValue("name")))
	}
}

// routerDialTimeout bounds the reachability check of router add.
const routerDialTimeout = time.Second

// routerAdd applies the RouterPut, then dials the router's address from
// the leader (the agent that will connect to it) and says whether it
// answered. The check never refuses: a router may start later.
func (c *Cluster) routerAdd(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var in RouterInfo
	if err := decodeBody(body, &in); err != nil {
		return nil, err
	}
	if err := c.Apply(ctx, &fsm.RouterPut{Name: in.Name, Addr: in.Addr}); err != nil {
		return nil, err
	}
	out := RouterInfo{Name: in.Name, Addr: in.Addr}
	reachable := true
	d := net.Dialer{Timeout: routerDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", in.Addr)
	if err != nil {
		reachable = false
		out.Unreachable = err.Error()
	} else {
		_ = conn.Close()
	}
	out.Reachable = &reachable
	return out, nil
}

func (c *Cluster) handleRouterList(w http.ResponseWriter, r *http.Request) {
	if c.consistentRead(w, r) {
		return
	}
	list := RouterList{Routers: []RouterInfo{}}
	for _, r := range c.state.Routers() {
		list.Routers = append(list.Routers, RouterInfo{Name: r.Name, Addr: r.Addr})
	}
	writeJSON(w, http.StatusOK, list)
}

func (c *Cluster) handleFrontendList(w http.ResponseWriter, _ *http.Request) {
	list := FrontendList{Frontends: []FrontendInfo{}}
	for _, f := range c.state.Frontends() {
		list.Frontends = append(list.Frontends, FrontendInfo{Name: f.Name, Addr: f.Addr, Router: f.Router})
	}
	writeJSON(w, http.StatusOK, list)
}

// settingsFrom applies the fields given in req on top of s.
func settingsFrom(s fsm.Settings, req DestinationRequest) (fsm.Settings, error) {
	for _, f := range []struct {
		v   *int
		dst *uint8
		n   string
	}{{req.Inbound, &s.Inbound, "inbound"}, {req.Outbound, &s.Outbound, "outbound"}, {req.Hops, &s.Hops, "hops"}} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 || *f.v > 255 {
			return s, fmt.Errorf("%w: %s %d", fsm.ErrInvalid, f.n, *f.v)
		}
		*f.dst = uint8(*f.v)
	}
	if req.Policy != nil {
		p, err := fsm.ParsePolicy(*req.Policy)
		if err != nil {
			return s, err
		}
		s.Policy = p
	}
	if req.Service != nil {
		v, addr, err := fsm.ParseService(*req.Service)
		if err != nil {
			return s, err
		}
		s.Service, s.ServiceAddr = v, addr
	}
	if req.Frontends != nil {
		s.Frontends = *req.Frontends
	}
	return s, s.Validate()
}

// destCreate handles create (new keys) and import (key_file). Keys are
// generated and sealed here, at the edge, never inside the fsm.
func (c *Cluster) destCreate(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req DestinationRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	if err := fsm.ValidName(req.Name); err != nil {
		return nil, err
	}
	settings, err := settingsFrom(fsm.DefaultSettings(), req)
	if err != nil {
		return nil, err
	}
	keys, err := keysFrom(req.KeyFile)
	if err != nil {
		return nil, err
	}
	put, err := c.sealedPut(req.Name, keys, settings)
	if err != nil {
		return nil, err
	}
	return c.applyPut(ctx, put)
}

// applyPut applies a sealed DestinationPut; on a follower it hands the
// sealed command to the leader (internal endpoint), so private keys cross
// between agents only sealed.
func (c *Cluster) applyPut(ctx context.Context, put *fsm.DestinationPut) (any, error) {
	err := c.Apply(ctx, put)
	if errors.Is(err, ErrNotLeader) {
		entry, eerr := fsm.Encode(put)
		if eerr != nil {
			return nil, eerr
		}
		return nil, &forwardAs{method: http.MethodPost, path: "/v1/internal/destination-put", body: entry}
	}
	if err != nil {
		return nil, err
	}
	return c.appliedInfo(put.Name, func() (*DestinationInfo, error) { return putInfo(put) })
}

// appliedInfo answers a write that was applied: the destination as it is
// now, or, when a concurrent remove got in between (the local state no
// longer has it), what the write itself made. An applied write must never
// answer 404: the client would take an acknowledged write for a failed one
// (the chaos test's porcupine check caught that).
func (c *Cluster) appliedInfo(name string, fallback func() (*DestinationInfo, error)) (*DestinationInfo, error) {
	info, err := c.destInfo(name)
	if errors.Is(err, fsm.ErrNotFound) {
		return fallback()
	}
	return info, err
}

// putInfo is the destination a DestinationPut creates, before any tunnel
// or LeaseSet.
func putInfo(put *fsm.DestinationPut) (*DestinationInfo, error) {
	d, _, err := i2p.ParseDestination(put.Destination)
	if err != nil {
		return nil, err
	}
	st := put.Settings
	return &DestinationInfo{
		Name: put.Name, B32: d.B32(), Destination: i2p.Base64.EncodeToString(put.Destination),
		LeaseSetPublicKey: i2p.Base64.EncodeToString(put.LeaseSetPublicKey),
		Inbound:           int(st.Inbound), Outbound: int(st.Outbound), Hops: int(st.Hops),
		Policy: st.Policy.String(), Service: st.ServiceSpec(), Frontends: st.Frontends,
		LeasesByRouter: map[string]int{}, Tunnels: []TunnelInfo{},
	}, nil
}

// internalDestinationPut applies a DestinationPut sealed by another agent.
// It checks that the blobs open under this cluster's secret and match the
// Destination, so an agent started with a wrong secret cannot store keys
// nobody can use.
func (c *Cluster) internalDestinationPut(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	cmd, err := fsm.Decode(body)
	if err != nil {
		return nil, err
	}
	put, ok := cmd.(*fsm.DestinationPut)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a destination put", errBadRequest, cmd.Type())
	}
	pd, n, err := i2p.ParseDestination(put.Destination)
	if err != nil || n != len(put.Destination) {
		return nil, fmt.Errorf("%w: destination bytes of %s", errBadRequest, put.Name)
	}
	active := c.keys.activeID()
	for _, blob := range [][]byte{put.SealedKeys, put.SealedLeaseSetKey} {
		if id, ok := fsm.SealedKeyID(blob); ok && id != active {
			return nil, fmt.Errorf("%w: keys sealed under key %s, but the cluster seals under %s (an agent with another --secret-file, or a rotation under way: retry)", errBadRequest, id, active)
		}
	}
	raw, err := c.keys.Open(put.SealedKeys, pd.Hash(), fsm.FieldKeys)
	if err != nil {
		return nil, fmt.Errorf("%w: sealed keys: %w (agents with different secrets?)", errBadRequest, err)
	}
	keys, err := i2p.ParsePrivateKeys(raw)
	clear(raw)
	if err != nil || !bytes.Equal(keys.Destination().Bytes(), put.Destination) {
		return nil, fmt.Errorf("%w: sealed keys do not match the destination", errBadRequest)
	}
	lsk, err := c.keys.Open(put.SealedLeaseSetKey, pd.Hash(), fsm.FieldLeaseSetKey)
	if err != nil {
		return nil, fmt.Errorf("%w: sealed leaseset key: %w (agents with different secrets?)", errBadRequest, err)
	}
	k, err := i2p.ParseLeaseSetKey(lsk)
	clear(lsk)
	if err != nil || !bytes.Equal(k.Public(), put.LeaseSetPublicKey) {
		return nil, fmt.Errorf("%w: sealed leaseset key does not match its public key", errBadRequest)
	}
	return c.applyPut(ctx, put)
}

func keysFrom(keyFile string) (*i2p.PrivateKeys, error) {
	if keyFile == "" {
		k, err := i2p.NewPrivateKeys(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate keys: %w", err)
		}
		return k, nil
	}
	raw, err := base64.StdEncoding.DecodeString(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: key_file is not base64", errBadRequest)
	}
	k, err := i2p.ParsePrivateKeys(raw)
	clear(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: key file: %w", fsm.ErrInvalid, err)
	}
	if !k.CanSign() {
		return nil, fmt.Errorf("%w: key file of %s: only Ed25519 keys without offline signatures can be hosted", fsm.ErrInvalid, k.Destination().B32())
	}
	return k, nil
}

func (c *Cluster) sealedPut(name string, keys *i2p.PrivateKeys, settings fsm.Settings) (*fsm.DestinationPut, error) {
	raw, err := keys.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode keys: %w", err)
	}
	defer clear(raw)
	h := keys.Destination().Hash()
	sealedKeys, err := c.keys.Seal(raw, h, fsm.FieldKeys)
	if err != nil {
		return nil, err
	}
	lsk, err := i2p.NewLeaseSetKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate leaseset key: %w", err)
	}
	sealedLSK, err := c.keys.Seal(lsk.Private(), h, fsm.FieldLeaseSetKey)
	if err != nil {
		return nil, err
	}
	return &fsm.DestinationPut{
		Name: name, Destination: keys.Destination().Bytes(), SealedKeys: sealedKeys,
		SealedLeaseSetKey: sealedLSK, LeaseSetPublicKey: lsk.Public(), Settings: settings,
	}, nil
}

func (c *Cluster) destSet(ctx context.Context, r *http.Request, body []byte) (any, error) {
	name := r.PathValue("name")
	var req DestinationRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	if req.KeyFile != "" {
		return nil, fmt.Errorf("%w: set cannot change keys (remove and import instead)", errBadRequest)
	}
	d, ok := c.state.Destination(name)
	if !ok {
		// The local replica may lag: let the leader decide.
		d = &fsm.Destination{Settings: fsm.DefaultSettings()}
	}
	settings, err := settingsFrom(d.Settings, req)
	if err != nil {
		return nil, err
	}
	if err := c.Apply(ctx, &fsm.DestinationSet{Name: name, Settings: settings}); err != nil {
		return nil, err
	}
	return c.appliedInfo(name, func() (*DestinationInfo, error) {
		if !ok {
			return &DestinationInfo{Name: name, LeasesByRouter: map[string]int{}, Tunnels: []TunnelInfo{}}, nil
		}
		prev := *d
		prev.Settings = settings
		info := destinationInfo(&prev, nil)
		return &info, nil
	})
}

func (c *Cluster) destInfo(name string) (*DestinationInfo, error) {
	d, ok := c.state.Destination(name)
	if !ok {
		return nil, fmt.Errorf("%w: destination %s", fsm.ErrNotFound, name)
	}
	info := destinationInfo(d, c.state.Tunnels(name))
	return &info, nil
}

func destinationInfo(d *fsm.Destination, tunnels []fsm.Tunnel) DestinationInfo {
	info := DestinationInfo{
		Name: d.Name, B32: d.Hash().B32(), Destination: i2p.Base64.EncodeToString(d.Destination),
		LeaseSetPublicKey: i2p.Base64.EncodeToString(d.LeaseSetPublicKey),
		Inbound:           int(d.Settings.Inbound), Outbound: int(d.Settings.Outbound), Hops: int(d.Settings.Hops),
		Policy: d.Settings.Policy.String(), Service: d.Settings.ServiceSpec(), Frontends: d.Settings.Frontends,
		LeasesByRouter: map[string]int{}, Tunnels: []TunnelInfo{},
	}
	if ls := d.LeaseSet; ls != nil {
		info.LeaseSet = i2p.Base64.EncodeToString(ls.Bytes)
		info.Published = ls.Published
		info.Leases = len(ls.Routers)
		for _, r := range ls.Routers {
			info.LeasesByRouter[r]++
		}
	}
	for _, t := range tunnels {
		ti := TunnelInfo{Router: t.Router, Direction: t.Direction.String(), ID: t.ID, Gateway: t.Gateway.String(), Expires: t.Expires, Hops: []string{}}
		for _, h := range t.Hops {
			ti.Hops = append(ti.Hops, h.String())
		}
		info.Tunnels = append(info.Tunnels, ti)
	}
	return info
}

func (c *Cluster) handleDestList(w http.ResponseWriter, _ *http.Request) {
	list := DestinationList{Destinations: []DestinationInfo{}}
	for _, d := range c.state.Destinations() {
		list.Destinations = append(list.Destinations, destinationInfo(d, c.state.Tunnels(d.Name)))
	}
	writeJSON(w, http.StatusOK, list)
}

func (c *Cluster) handleDestShow(w http.ResponseWriter, r *http.Request) {
	if c.consistentRead(w, r) {
		return
	}
	info, err := c.destInfo(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	// The figures are the leader's observation: asked of it as imh status
	// asks, and left null when it cannot answer.
	if lv := c.liveSource(r.Context()); lv != nil {
		if v, ok := lv.Destination(info.Name); ok {
			info.Invisibility = v.Invisibility
		}
	}
	writeJSON(w, http.StatusOK, info)
}

// handleDestLeaseSet serves the destination's current LeaseSet decoded,
// each lease with the router whose tunnel it is (from the replicated
// publish), for the console and for scripts that would otherwise decode the
// base64 of imh status themselves. Before the first publish the list is
// empty.
func (c *Cluster) handleDestLeaseSet(w http.ResponseWriter, r *http.Request) {
	d, ok := c.state.Destination(r.PathValue("name"))
	if !ok {
		writeError(w, fmt.Errorf("%w: destination %s", fsm.ErrNotFound, r.PathValue("name")))
		return
	}
	info, err := leaseSetInfo(d)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func leaseSetInfo(d *fsm.Destination) (LeaseSetInfo, error) {
	info := LeaseSetInfo{Name: d.Name, B32: d.Hash().B32(), Leases: []LeaseInfo{}}
	if d.LeaseSet == nil {
		return info, nil
	}
	ls, err := i2p.ParseLeaseSet2(d.LeaseSet.Bytes)
	if err != nil { // the fsm parsed it before storing it
		return info, fmt.Errorf("leaseset of %s: %w", d.Name, err)
	}
	info.Published, info.Expires = ls.Published, ls.ExpiresAt()
	info.SignatureValid = ls.Verify() == nil
	for i, l := range ls.Leases {
		li := LeaseInfo{Gateway: l.Gateway.String(), Tunnel: l.TunnelID, End: l.End}
		if i < len(d.LeaseSet.Routers) {
			li.Router = d.LeaseSet.Routers[i]
		}
		info.Leases = append(info.Leases, li)
	}
	return info, nil
}

func (c *Cluster) isLeader() bool { return c.r().State() == raft.Leader }

// handleLive serves the leader's live view to followers.
func (c *Cluster) handleLive(w http.ResponseWriter, _ *http.Request) {
	lv := c.liveView()
	if !c.isLeader() || lv == nil {
		writeError(w, fmt.Errorf("%w: no live view on %s", ErrNotLeader, c.cfg.NodeName))
		return
	}
	body := LiveBody{Routers: map[string]status.RouterLive{}, Frontends: map[string]status.FrontendLive{}, Destinations: map[string]status.DestinationLive{}}
	for _, r := range c.state.Routers() {
		if v, ok := lv.Router(r.Name); ok {
			body.Routers[r.Name] = v
		}
	}
	for _, f := range c.state.Frontends() {
		if v, ok := lv.Frontend(f.Name); ok {
			body.Frontends[f.Name] = v
		}
	}
	for _, d := range c.state.Destinations() {
		if v, ok := lv.Destination(d.Name); ok {
			body.Destinations[d.Name] = v
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// fetchLive asks the leader for its live view (followers only).
func (c *Cluster) fetchLive(ctx context.Context, leader string) (*LiveBody, error) {
	addr := c.httpAddrOf(leader)
	if addr == "" {
		return nil, fmt.Errorf("%w: API address of %s unknown", ErrNoLeader, leader)
	}
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL(addr, "/v1/live"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("live view from %s: %w", leader, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("live view from %s: %s", leader, resp.Status)
	}
	var body LiveBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&body); err != nil {
		return nil, fmt.Errorf("live view from %s: %w", leader, err)
	}
	return &body, nil
}

// liveSource returns a LiveView for the status: the local one on the
// leader, the leader's over HTTP on a follower, or nil (all unknown).
func (c *Cluster) liveSource(ctx context.Context) status.LiveView {
	if c.isLeader() {
		return c.liveView()
	}
	leader := c.Leader()
	if leader == "" {
		return nil
	}
	body, err := c.fetchLive(ctx, leader)
	if err != nil {
		c.log.Debug("status without live view", "err", err)
		return nil
	}
	return body
}

// Router implements status.LiveView over a fetched LiveBody.
func (b *LiveBody) Router(name string) (status.RouterLive, bool) {
	v, ok := b.Routers[name]
	return v, ok
}

// Frontend implements status.LiveView over a fetched LiveBody.
func (b *LiveBody) Frontend(name string) (status.FrontendLive, bool) {
	v, ok := b.Frontends[name]
	return v, ok
}

// Destination implements status.LiveView over a fetched LiveBody.
func (b *LiveBody) Destination(name string) (status.DestinationLive, bool) {
	v, ok := b.Destinations[name]
	return v, ok
}

// Status builds the body of imh status from the local replica and the
// leader's live view.
func (c *Cluster) Status(ctx context.Context) status.Status {
	leader := c.Leader()
	st := status.Status{
		Leader: leader, Term: c.r().CurrentTerm(), Node: c.cfg.NodeName,
		Peers: []status.Peer{}, Routers: []status.Router{}, Frontends: []status.Frontend{}, Destinations: []status.Destination{},
	}
	self := strings.ToLower(c.r().State().String())
	alive := map[string]bool{}
	for _, m := range c.members() {
		alive[m.Name] = true
	}
	conf, err := c.configuration()
	if err != nil {
		c.log.Warn("status: peers unknown", "err", err)
	}
	for _, s := range conf.Servers {
		p := status.Peer{Name: string(s.ID), RaftAddr: string(s.Address), State: "follower", Voter: s.Suffrage == raft.Voter}
		switch {
		case string(s.ID) == c.cfg.NodeName:
			p.State = self
		case string(s.ID) == leader:
			p.State = "leader"
		case c.ml != nil && !alive[p.Name]:
			p.State = "left" // not an alive gossip member: stopped, dead or unreachable
		}
		st.Peers = append(st.Peers, p)
	}
	lv := c.liveSource(ctx)
	for _, r := range c.state.Routers() {
		sr := status.Router{Name: r.Name, Addr: r.Addr, State: status.RouterUnknown, Capabilities: []string{}}
		if lv != nil {
			if v, ok := lv.Router(r.Name); ok {
				sr.State, sr.Error = v.State, v.Error
				if v.Capabilities != nil {
					sr.Capabilities = v.Capabilities
				}
			}
		}
		st.Routers = append(st.Routers, sr)
	}
	for _, f := range c.state.Frontends() {
		st.Frontends = append(st.Frontends, statusFrontend(f, lv))
	}
	for _, d := range c.state.Destinations() {
		st.Destinations = append(st.Destinations, statusDestination(d, lv))
	}
	return st
}

// statusFrontend is f with the leader's live view of it: unknown without
// one, up or down with the destinations it last reported.
func statusFrontend(f fsm.Frontend, lv status.LiveView) status.Frontend {
	sf := status.Frontend{Name: f.Name, Addr: f.Addr, Router: f.Router, State: status.RouterUnknown, Destinations: []status.FrontendDestLive{}}
	if lv == nil {
		return sf
	}
	if v, ok := lv.Frontend(f.Name); ok {
		sf.State, sf.Error = v.State, v.Error
		if v.Destinations != nil {
			sf.Destinations = v.Destinations
		}
	}
	return sf
}

func statusDestination(d *fsm.Destination, lv status.LiveView) status.Destination {
	sd := status.Destination{
		Name: d.Name, B32: d.Hash().B32(), Policy: d.Settings.Policy.String(), Service: d.Settings.ServiceSpec(),
		LeasesByRouter: map[string]int{}, GatewaySet: []string{}, StandbyRouters: []string{}, PayloadsByRouter: map[string]int{},
		UpstreamInbound: map[string]status.InboundCount{},
	}
	if ls := d.LeaseSet; ls != nil {
		sd.LeaseSet = i2p.Base64.EncodeToString(ls.Bytes)
		sd.Leases = len(ls.Routers)
		sd.Published = ls.Published
		for _, r := range ls.Routers {
			sd.LeasesByRouter[r]++
		}
	}
	if lv == nil {
		return sd
	}
	if v, ok := lv.Destination(d.Name); ok {
		sd.GatewayPolicyEnforced = v.GatewayPolicyEnforced
		sd.ActiveRouter = v.ActiveRouter
		sd.Switches = v.Switches
		sd.EchoDropped = v.EchoDropped
		sd.Streams = v.Streams
		sd.Invisibility = v.Invisibility
		if v.GatewaySet != nil {
			sd.GatewaySet = v.GatewaySet
		}
		if v.StandbyRouters != nil {
			sd.StandbyRouters = v.StandbyRouters
		}
		if v.PayloadsByRouter != nil {
			sd.PayloadsByRouter = v.PayloadsByRouter
		}
		if v.UpstreamInbound != nil {
			sd.UpstreamInbound = v.UpstreamInbound
		}
	}
	return sd
}

func (c *Cluster) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.Status(r.Context()))
}

func (c *Cluster) handleStateHash(w http.ResponseWriter, _ *http.Request) {
	index, hash := c.state.StateHash()
	writeJSON(w, http.StatusOK, StateHashBody{Node: c.cfg.NodeName, Index: index, Hash: hash})
}

// consistentRead prepares a read that asked for ?consistent=1: on a
// follower it forwards the request to the leader and reports true (the
// answer is written); on the leader it runs a Barrier and reports false when
// the local state may be read, true after writing the error (503) when the
// Barrier failed (leadership lost, no quorum). A read without the parameter
// is left alone (false).
func (c *Cluster) consistentRead(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Query().Get("consistent") == "" {
		return false
	}
	if !c.isLeader() {
		c.forward(w, r, r.Method, r.URL.RequestURI(), nil)
		return true
	}
	if err := c.r().Barrier(barrierTimeout).Error(); err != nil {
		writeError(w, fmt.Errorf("%w: consistent read on %s: %w", ErrNoLeader, c.cfg.NodeName, err))
		return true
	}
	return false
}

package router

import (
	"context"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/imh-project/imh/routerproto"
)

// Status is the router's GET /status JSON (CLI.md).
type Status struct {
	Name      string          `json:"name"`
	Hash      string          `json:"hash"`
	Backend   string          `json:"backend"`
	Sessions  []SessionStatus `json:"sessions"`
	Tunnels   []TunnelStatus  `json:"tunnels"`
	FastTier  int             `json:"fast_tier"`
	Builds    BuildCounts     `json:"builds"`
	Delivered uint64          `json:"delivered"`
}

// SessionStatus is one session in Status.
type SessionStatus struct {
	ID              uint16 `json:"id"`
	B32             string `json:"b32"`
	Managed         bool   `json:"managed"`
	Term            uint64 `json:"term"`
	ControlAttached bool   `json:"control_attached"`
	DataAttached    int    `json:"data_attached"`
	StaleRefused    uint64 `json:"stale_refused"`
	// Queued is how many payloads wait for a controller (detached managed
	// session); QueueDropped counts those dropped because the queue was full.
	Queued       int    `json:"queued"`
	QueueDropped uint64 `json:"queue_dropped"`
}

// TunnelStatus is one live tunnel in Status.
type TunnelStatus struct {
	ID        uint32   `json:"id"`
	Direction string   `json:"direction"` // inbound|outbound
	Gateway   string   `json:"gateway"`   // hex router hash
	Hops      []string `json:"hops"`      // hex router hashes, travel order
	Expires   int64    `json:"expires"`   // seconds since epoch
}

// BuildCounts counts tunnel builds since start.
type BuildCounts struct {
	OK     uint64 `json:"ok"`
	Failed uint64 `json:"failed"`
}

// Status returns a snapshot for /status. The fast tier size is asked of the
// backend (bounded by ctx); 0 if it has none.
func (r *Router) Status(ctx context.Context) Status {
	st := Status{Name: r.cfg.Name, Hash: r.be.Hash().String(), Backend: r.be.Kind(), Sessions: []SessionStatus{}, Tunnels: []TunnelStatus{}}
	if r.be.Features().FastTier {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if peers, err := r.be.FastTier(ctx); err == nil {
			st.FastTier = len(peers)
		}
		cancel()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st.Builds = BuildCounts{OK: r.buildsOK, Failed: r.buildsFailed}
	st.Delivered = r.delivered
	now := r.now()
	for _, s := range r.sessions {
		st.Sessions = append(st.Sessions, SessionStatus{
			ID: s.id, B32: s.dest.B32(), Managed: s.managed, Term: s.term,
			ControlAttached: s.ctrl != nil, DataAttached: len(s.data), StaleRefused: s.staleRefused,
			Queued: s.queue.len(), QueueDropped: s.queue.dropped,
		})
		for _, inbound := range []bool{true, false} {
			for _, t := range s.liveTunnels(inbound, now) {
				st.Tunnels = append(st.Tunnels, tunnelStatus(t))
			}
		}
	}
	slices.SortFunc(st.Sessions, func(a, b SessionStatus) int { return strings.Compare(a.B32, b.B32) })
	slices.SortFunc(st.Tunnels, func(a, b TunnelStatus) int {
		if c := strings.Compare(a.Direction, b.Direction); c != 0 {
			return c
		}
		return int(a.Expires - b.Expires)
	})
	return st
}

func tunnelStatus(t Tunnel) TunnelStatus {
	ts := TunnelStatus{ID: t.ID, Direction: "outbound", Gateway: t.Gateway.String(), Hops: []string{}, Expires: t.Expires.Unix()}
	if t.Inbound {
		ts.Direction = "inbound"
	}
	for _, h := range t.Hops {
		ts.Hops = append(ts.Hops, h.String())
	}
	return ts
}

// ServerConfig returns a routerproto server configuration for this router:
// it as the Handler, its capabilities and hash announced.
func (r *Router) ServerConfig() routerproto.ServerConfig {
	cfg := routerproto.DefaultServerConfig()
	cfg.Handler = r
	cfg.Capabilities = r.Capabilities()
	cfg.RouterHash = r.be.Hash()
	cfg.Logger = r.log
	cfg.Now = r.now
	return cfg
}

// Serve serves routerproto on ln until ctx ends; then it closes the router.
func (r *Router) Serve(ctx context.Context, ln net.Listener) error {
	srv, err := routerproto.NewServer(r.ServerConfig())
	if err != nil {
		return err
	}
	err = srv.Serve(ctx, ln)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err
}

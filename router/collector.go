package router

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
)

// imh_router_*: `imh router serve`.
var (
	mRtrSessions     = metrics.Gauge("router_sessions", "sessions on the router", "dest")
	mRtrControl      = metrics.Gauge("router_session_control_attached", "1 if a balancer controls the session", "dest")
	mRtrData         = metrics.Gauge("router_session_data_attachments", "frontends data-attached to the session", "dest")
	mRtrQueued       = metrics.Gauge("router_queued_payloads", "payloads waiting for a controller", "dest")
	mRtrDropped      = metrics.Counter("router_queue_dropped_total", "payloads dropped because the session's queue was full", "dest")
	mRtrStale        = metrics.Counter("router_stale_refused_total", "attaches and commands refused for an outdated raft term", "dest")
	mRtrTunnels      = metrics.Gauge("router_tunnels", "live tunnels", "direction")
	mRtrFastTier     = metrics.Gauge("router_fast_tier_peers", "peers in the backend's fast tier (0 if it has none)")
	mRtrBuilds       = metrics.Counter("router_tunnel_builds_total", "tunnel builds since start", "result")
	mRtrDelivered    = metrics.Counter("router_payloads_delivered_total", "payloads delivered to sessions since start")
	mRtrRefusedConns = metrics.Counter("router_refused_connections_total", "connections closed because a connection cap was reached")
)

// routerFamilies are the router collector's metrics.
var routerFamilies = []metrics.Family{mRtrSessions, mRtrControl, mRtrData, mRtrQueued, mRtrDropped, mRtrStale, mRtrTunnels,
	mRtrFastTier, mRtrBuilds, mRtrDelivered, mRtrRefusedConns}

// NewCollector exports the router's figures (imh_router_*) on GET
// /metrics from one Status per scrape (bounded by metrics.ScrapeTimeout):
// sessions per destination, tunnels, builds, deliveries. refused is the
// listener's count of connections closed at its cap (netlimit).
func NewCollector(r *Router, refused func() uint64) prometheus.Collector {
	return metrics.Collector{
		Families: routerFamilies,
		Emit: func(ch chan<- prometheus.Metric) {
			ctx, cancel := context.WithTimeout(context.Background(), metrics.ScrapeTimeout)
			st := r.Status(ctx)
			cancel()
			emitRouter(ch, st, refused())
		},
	}
}

// emitRouter writes one router status; refused is the listener's count of
// connections it closed at its cap.
func emitRouter(ch chan<- prometheus.Metric, st Status, refused uint64) {
	perDest := map[string]*SessionStatus{}
	counts := map[string]int{}
	for i := range st.Sessions {
		s := &st.Sessions[i]
		counts[s.B32]++
		if p := perDest[s.B32]; p != nil {
			p.ControlAttached = p.ControlAttached || s.ControlAttached
			p.DataAttached += s.DataAttached
			p.Queued += s.Queued
			p.QueueDropped += s.QueueDropped
			p.StaleRefused += s.StaleRefused
			continue
		}
		c := *s
		perDest[s.B32] = &c
	}
	for dest, s := range perDest {
		metrics.Emit(ch, mRtrSessions, float64(counts[dest]), dest)
		metrics.Emit(ch, mRtrControl, metrics.Bool(s.ControlAttached), dest)
		metrics.Emit(ch, mRtrData, float64(s.DataAttached), dest)
		metrics.Emit(ch, mRtrQueued, float64(s.Queued), dest)
		metrics.Emit(ch, mRtrDropped, float64(s.QueueDropped), dest)
		metrics.Emit(ch, mRtrStale, float64(s.StaleRefused), dest)
	}
	tunnels := map[string]int{"inbound": 0, "outbound": 0}
	for _, t := range st.Tunnels {
		tunnels[t.Direction]++
	}
	for dir, n := range tunnels {
		metrics.Emit(ch, mRtrTunnels, float64(n), dir)
	}
	metrics.Emit(ch, mRtrFastTier, float64(st.FastTier))
	metrics.Emit(ch, mRtrBuilds, float64(st.Builds.OK), "ok")
	metrics.Emit(ch, mRtrBuilds, float64(st.Builds.Failed), "failed")
	metrics.Emit(ch, mRtrDelivered, float64(st.Delivered))
	metrics.Emit(ch, mRtrRefusedConns, float64(refused))
}

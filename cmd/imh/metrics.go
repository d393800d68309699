package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/balancer"
	"github.com/imh-project/imh/frontend"
	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/simnet"
)

// The collectors of GET /metrics (docs/monitoring.md lists every metric).
// Each reads its component's status or snapshot at scrape time: nothing is
// updated for metrics between scrapes beyond the counters the components
// keep anyway. Labels are names an operator chose (dest, router) or small
// enums (direction, result): bounded.

// metricsHandler is GET /metrics for a daemon: the Go and process
// collectors, cs, and more gatherers (raft's, on an agent).
func metricsHandler(reg *prometheus.Registry, more ...prometheus.Gatherer) http.Handler {
	return metrics.Handler(append([]prometheus.Gatherer{reg}, more...)...)
}

// Agent: the balancer (leader only; followers export imh_balancer_leading 0).
var (
	mBalLeading       = metrics.Gauge("balancer_leading", "1 if this agent runs the balancer loop (it leads), else 0")
	mBalRouterUp      = metrics.Gauge("balancer_router_up", "1 if the leader's control connection to the router is up, else 0", "router")
	mBalRouterDowns   = metrics.Counter("balancer_router_downs_total", "times the leader saw the router go down", "router")
	mBalLeases        = metrics.Gauge("balancer_leases", "leases in the destination's current LeaseSet", "dest")
	mBalLeaseGoal     = metrics.Gauge("balancer_lease_goal", "leases the LeaseSet should carry with the routers that are up", "dest")
	mBalLSPublished   = metrics.Gauge("balancer_leaseset_published_timestamp_seconds", "when the current LeaseSet was signed (unix seconds)", "dest")
	mBalLSAge         = metrics.Gauge("balancer_leaseset_age_seconds", "seconds since the current LeaseSet was signed", "dest")
	mBalLSPublishes   = metrics.Counter("balancer_leaseset_publishes_total", "LeaseSets built, signed and recorded in the cluster", "dest")
	mBalSwitches      = metrics.Counter("balancer_failover_switches_total", "failover policy: changes of the active router", "dest")
	mBalActive        = metrics.Gauge("balancer_active_router", "failover policy: 1 for the router whose leases are published", "dest", "router")
	mBalGatewaySet    = metrics.Gauge("balancer_gateway_set_size", "peers in the gateway set all inbound gateways come from (one router's fast-tier slice)", "dest")
	mBalGatewaysInUse = metrics.Gauge("balancer_gateways_in_use", "distinct gateways of the live inbound tunnels", "dest")
	mBalGatewayChurn  = metrics.Counter("balancer_gateway_changes_total", "peers that joined a non-empty gateway set (churn)", "dest")
	mBalRouterLeases  = metrics.Gauge("balancer_router_leases", "the router's leases in the current LeaseSet", "dest", "router")
	mBalTunnels       = metrics.Gauge("balancer_tunnels", "live tunnels of the destination on the router", "dest", "router", "direction")
	mBalPending       = metrics.Gauge("balancer_tunnel_builds_pending", "tunnel builds in flight", "dest", "router")
	mBalBuilds        = metrics.Counter("balancer_tunnel_builds_total", "tunnel builds that succeeded", "dest", "router")
	mBalBuildFailures = metrics.Counter("balancer_tunnel_build_failures_total", "tunnel builds that failed or timed out", "dest", "router")
	mBalHandOvers     = metrics.Counter("balancer_leaseset_handovers_total", "LeaseSets handed to the router for publication", "dest", "router")
	mBalPayloads      = metrics.Counter("balancer_payloads_total", "payloads the router delivered to the leader", "dest", "router")
	mBalPayloadBytes  = metrics.Counter("balancer_payload_bytes_total", "bytes of those payloads", "dest", "router")
	mBalStreamsOpen   = metrics.Gauge("balancer_streams_open", "single-client mode: streams open on the leader", "dest")
	mBalStreams       = metrics.Counter("balancer_streams_total", "single-client mode: streams accepted or refused on the leader", "dest", "result")
	mBalStreamBytes   = metrics.Counter("balancer_stream_bytes_total", "single-client mode: stream payload bytes from clients (in) and to them (out)", "dest", "direction")
)

// balancerFamilies are the balancer collector's metrics.
var balancerFamilies = []metrics.Family{mBalLeading, mBalRouterUp, mBalRouterDowns, mBalLeases, mBalLeaseGoal, mBalLSPublished, mBalLSAge,
	mBalLSPublishes, mBalSwitches, mBalActive, mBalGatewaySet, mBalGatewaysInUse, mBalGatewayChurn, mBalRouterLeases,
	mBalTunnels, mBalPending, mBalBuilds, mBalBuildFailures, mBalHandOvers, mBalPayloads, mBalPayloadBytes,
	mBalStreamsOpen, mBalStreams, mBalStreamBytes}

func balancerCollector(b *balancer.Balancer) prometheus.Collector {
	return metrics.Collector{
		Families: balancerFamilies,
		Emit: func(ch chan<- prometheus.Metric) {
			ctx, cancel := context.WithTimeout(context.Background(), metrics.ScrapeTimeout)
			m := b.Metrics(ctx)
			cancel()
			emitBalancer(ch, m, time.Now())
		},
	}
}

// emitBalancer writes one balancer snapshot's samples; apart from the
// scrape's wait for the loop, this is the whole cost of the balancer's
// metrics (BenchmarkMetricsScrape measures it at 100 routers).
func emitBalancer(ch chan<- prometheus.Metric, m balancer.Metrics, now time.Time) {
	metrics.Emit(ch, mBalLeading, metrics.Bool(m.Leading))
	for name, r := range m.Routers {
		metrics.Emit(ch, mBalRouterUp, metrics.Bool(r.Up), name)
		metrics.Emit(ch, mBalRouterDowns, float64(r.Downs), name)
	}
	for dest, d := range m.Dests {
		metrics.Emit(ch, mBalLeases, float64(d.Leases), dest)
		metrics.Emit(ch, mBalLeaseGoal, float64(d.LeaseGoal), dest)
		if !d.Published.IsZero() {
			metrics.Emit(ch, mBalLSPublished, float64(d.Published.Unix()), dest)
			metrics.Emit(ch, mBalLSAge, now.Sub(d.Published).Seconds(), dest)
		}
		metrics.Emit(ch, mBalLSPublishes, float64(d.Counters.Publishes), dest)
		metrics.Emit(ch, mBalSwitches, float64(d.Counters.Switches), dest)
		if d.Policy == balancer.PolicyFailover && d.ActiveRouter != "" {
			metrics.Emit(ch, mBalActive, 1, dest, d.ActiveRouter)
		}
		metrics.Emit(ch, mBalGatewaySet, float64(d.GatewaySet), dest)
		metrics.Emit(ch, mBalGatewaysInUse, float64(d.GatewaysInUse), dest)
		metrics.Emit(ch, mBalGatewayChurn, float64(d.Counters.GatewayChanges), dest)
		for router, r := range d.ByRouter {
			metrics.Emit(ch, mBalRouterLeases, float64(r.Leases), dest, router)
			metrics.Emit(ch, mBalTunnels, float64(r.InboundTunnels), dest, router, "inbound")
			metrics.Emit(ch, mBalTunnels, float64(r.OutboundTunnels), dest, router, "outbound")
			metrics.Emit(ch, mBalPending, float64(r.PendingBuilds), dest, router)
			metrics.Emit(ch, mBalBuilds, float64(r.Counters.TunnelBuilds), dest, router)
			metrics.Emit(ch, mBalBuildFailures, float64(r.Counters.TunnelBuildFailures), dest, router)
			metrics.Emit(ch, mBalHandOvers, float64(r.Counters.HandOvers), dest, router)
			metrics.Emit(ch, mBalPayloads, float64(r.Counters.Payloads), dest, router)
			metrics.Emit(ch, mBalPayloadBytes, float64(r.Counters.PayloadBytes), dest, router)
		}
		s := d.Streams
		metrics.Emit(ch, mBalStreamsOpen, float64(s.Open), dest)
		metrics.Emit(ch, mBalStreams, float64(s.Accepted), dest, "accepted")
		metrics.Emit(ch, mBalStreams, float64(s.Refused), dest, "refused")
		metrics.Emit(ch, mBalStreamBytes, float64(s.BytesIn), dest, "in")
		metrics.Emit(ch, mBalStreamBytes, float64(s.BytesOut), dest, "out")
	}
}

// Router: `imh router serve`.
var (
	mRtrSessions      = metrics.Gauge("router_sessions", "sessions on the router", "dest")
	mRtrControl       = metrics.Gauge("router_session_control_attached", "1 if a balancer controls the session", "dest")
	mRtrData          = metrics.Gauge("router_session_data_attachments", "frontends data-attached to the session", "dest")
	mRtrQueued        = metrics.Gauge("router_queued_payloads", "payloads waiting for a controller", "dest")
	mRtrDropped       = metrics.Counter("router_queue_dropped_total", "payloads dropped because the session's queue was full", "dest")
	mRtrStale         = metrics.Counter("router_stale_refused_total", "attaches and commands refused for an outdated raft term", "dest")
	mRtrTunnels       = metrics.Gauge("router_tunnels", "live tunnels", "direction")
	mRtrFastTier      = metrics.Gauge("router_fast_tier_peers", "peers in the backend's fast tier (0 if it has none)")
	mRtrBuilds        = metrics.Counter("router_tunnel_builds_total", "tunnel builds since start", "result")
	mRtrDelivered     = metrics.Counter("router_payloads_delivered_total", "payloads delivered to sessions since start")
	mRtrRefusedConns  = metrics.Counter("router_refused_connections_total", "connections closed because a connection cap was reached")
	mFrontRefusedConn = metrics.Counter("frontend_refused_connections_total", "connections closed because a connection cap was reached")
)

// refusedCounter is what netlimit.Listener offers.
type refusedCounter interface{ Refused() uint64 }

// routerFamilies are the router collector's metrics.
var routerFamilies = []metrics.Family{mRtrSessions, mRtrControl, mRtrData, mRtrQueued, mRtrDropped, mRtrStale, mRtrTunnels,
	mRtrFastTier, mRtrBuilds, mRtrDelivered, mRtrRefusedConns}

func routerCollector(r *router.Router, ln refusedCounter) prometheus.Collector {
	return metrics.Collector{
		Families: routerFamilies,
		Emit: func(ch chan<- prometheus.Metric) {
			ctx, cancel := context.WithTimeout(context.Background(), metrics.ScrapeTimeout)
			st := r.Status(ctx)
			cancel()
			emitRouter(ch, st, ln.Refused())
		},
	}
}

// emitRouter writes one router status; refused is the listener's count of
// connections it closed at its cap.
func emitRouter(ch chan<- prometheus.Metric, st router.Status, refused uint64) {
	perDest := map[string]*router.SessionStatus{}
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

// Simnet: `imh simnet serve`.
var (
	mSimPeers      = metrics.Gauge("simnet_peers", "simulated peers")
	mSimFloodfills = metrics.Gauge("simnet_floodfills", "simulated floodfills")
	mSimRouters    = metrics.Gauge("simnet_routers", "routers (imh router serve) connected to the network")
	mSimTunnels    = metrics.Gauge("simnet_inbound_tunnels", "live inbound tunnels in the network")
	mSimBuilds     = metrics.Counter("simnet_tunnel_builds_total", "tunnel builds per router", "router", "result")
	mSimDelivered  = metrics.Counter("simnet_deliveries_total", "deliveries through the router's leases, by whether its handler accepted them", "router", "result")
	mSimSent       = metrics.Counter("simnet_router_sends_total", "the router's own payloads to endpoints", "router", "result")
	mSimStores     = metrics.Counter("simnet_leaseset_stores_total", "LeaseSet stores the floodfills accepted", "dest")
	mSimRejected   = metrics.Counter("simnet_leaseset_rejected_total", "LeaseSet stores the floodfills refused", "dest")
	mSimLookups    = metrics.Counter("simnet_leaseset_lookups_total", "LeaseSet lookups", "dest")
)

// simnetFamilies are the simnet collector's metrics.
var simnetFamilies = []metrics.Family{mSimPeers, mSimFloodfills, mSimRouters, mSimTunnels, mSimBuilds, mSimDelivered, mSimSent,
	mSimStores, mSimRejected, mSimLookups}

func simnetCollector(n *simnet.Network) prometheus.Collector {
	return metrics.Collector{
		Families: simnetFamilies,
		Emit:     func(ch chan<- prometheus.Metric) { emitSimnet(ch, n.Status()) },
	}
}

// emitSimnet writes one network status.
func emitSimnet(ch chan<- prometheus.Metric, st simnet.Status) {
	metrics.Emit(ch, mSimPeers, float64(st.Peers))
	metrics.Emit(ch, mSimFloodfills, float64(st.Floodfills))
	metrics.Emit(ch, mSimRouters, float64(len(st.Routers)))
	metrics.Emit(ch, mSimTunnels, float64(st.Tunnels))
	for name, s := range st.RouterStats {
		metrics.Emit(ch, mSimBuilds, float64(s.BuildsOK), name, "ok")
		metrics.Emit(ch, mSimBuilds, float64(s.BuildsFailed), name, "failed")
		metrics.Emit(ch, mSimDelivered, float64(s.Delivered), name, "accepted")
		metrics.Emit(ch, mSimDelivered, float64(s.Refused), name, "refused")
		metrics.Emit(ch, mSimSent, float64(s.Sent), name, "ok")
		metrics.Emit(ch, mSimSent, float64(s.SendFailed), name, "failed")
	}
	for dest, d := range st.Destinations {
		metrics.Emit(ch, mSimStores, float64(d.Stores), dest)
		metrics.Emit(ch, mSimRejected, float64(d.Rejected), dest)
		metrics.Emit(ch, mSimLookups, float64(d.Lookups), dest)
	}
}

// Frontend: `imh frontend serve`.
var (
	mFrontAttached  = metrics.Gauge("frontend_attached", "1 if the frontend is data-attached to the destination's session on its router", "dest")
	mFrontActive    = metrics.Gauge("frontend_active", "1 if the leader assigned the destination to this frontend", "dest")
	mFrontBackendUp = metrics.Gauge("frontend_backend_up", "1 if the destination's backend service answered", "dest")
	mFrontKeyExpiry = metrics.Gauge("frontend_key_expiry_timestamp_seconds", "when the transient signing key expires (unix seconds)", "dest")
	mFrontOpen      = metrics.Gauge("frontend_streams_open", "streams open", "dest")
	mFrontStreams   = metrics.Counter("frontend_streams_total", "streams accepted or refused", "dest", "result")
	mFrontBytes     = metrics.Counter("frontend_stream_bytes_total", "stream payload bytes from clients (in) and to them (out)", "dest", "direction")
	mFrontErrors    = metrics.Counter("frontend_errors_total", "stream and backend errors", "dest")
)

// frontendFamilies are the frontend collector's metrics.
var frontendFamilies = []metrics.Family{mFrontAttached, mFrontActive, mFrontBackendUp, mFrontKeyExpiry, mFrontOpen, mFrontStreams,
	mFrontBytes, mFrontErrors, mFrontRefusedConn}

func frontendCollector(fe *frontend.Frontend, ln refusedCounter) prometheus.Collector {
	return metrics.Collector{
		Families: frontendFamilies,
		Emit:     func(ch chan<- prometheus.Metric) { emitFrontend(ch, fe.Status(), ln.Refused()) },
	}
}

// emitFrontend writes one frontend status; refused is the listener's count
// of connections it closed at its cap.
func emitFrontend(ch chan<- prometheus.Metric, st frontend.Status, refused uint64) {
	for _, d := range st.Dests {
		metrics.Emit(ch, mFrontAttached, metrics.Bool(d.Attached), d.Name)
		metrics.Emit(ch, mFrontActive, metrics.Bool(d.Active), d.Name)
		metrics.Emit(ch, mFrontBackendUp, metrics.Bool(d.BackendUp), d.Name)
		if !d.KeyExpires.IsZero() {
			metrics.Emit(ch, mFrontKeyExpiry, float64(d.KeyExpires.Unix()), d.Name)
		}
		metrics.Emit(ch, mFrontOpen, float64(d.Open), d.Name)
		metrics.Emit(ch, mFrontStreams, float64(d.Accepted), d.Name, "accepted")
		metrics.Emit(ch, mFrontStreams, float64(d.Refused), d.Name, "refused")
		metrics.Emit(ch, mFrontBytes, float64(d.BytesIn), d.Name, "in")
		metrics.Emit(ch, mFrontBytes, float64(d.BytesOut), d.Name, "out")
		metrics.Emit(ch, mFrontErrors, float64(d.Errors), d.Name)
	}
	metrics.Emit(ch, mFrontRefusedConn, float64(refused))
}

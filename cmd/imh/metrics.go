package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/balancer"
	"github.com/imh-project/imh/cluster"
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

// scrapeTimeout bounds what one collector may wait for (the balancer loop).
const scrapeTimeout = 5 * time.Second

// family is one metric's descriptor and type.
type family struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

func newFamily(typ prometheus.ValueType, name, help string, labels ...string) family {
	return family{prometheus.NewDesc(metrics.Namespace+"_"+name, help, labels, nil), typ}
}

func gaugeF(name, help string, labels ...string) family {
	return newFamily(prometheus.GaugeValue, name, help, labels...)
}

func counterF(name, help string, labels ...string) family {
	return newFamily(prometheus.CounterValue, name, help, labels...)
}

// emit sends one sample of f.
func emit(ch chan<- prometheus.Metric, f family, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(f.desc, f.typ, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// collector adapts a list of families and a collect function.
type collector struct {
	fams    []family
	collect func(ch chan<- prometheus.Metric)
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.fams {
		ch <- f.desc
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// metricsHandler is GET /metrics for a daemon: the Go and process
// collectors, cs, and more gatherers (raft's, on an agent).
func metricsHandler(reg *prometheus.Registry, more ...prometheus.Gatherer) http.Handler {
	return metrics.Handler(append([]prometheus.Gatherer{reg}, more...)...)
}

// Agent: raft and membership as this agent sees them.
var (
	mClusterLeader      = gaugeF("cluster_leader", "1 if this agent is the raft leader, else 0")
	mClusterKnownLeader = gaugeF("cluster_known_leader", "1 if this agent knows a leader, else 0")
	mClusterTerm        = gaugeF("cluster_term", "current raft term")
	mClusterLastIndex   = gaugeF("cluster_last_index", "last raft log index stored here")
	mClusterCommitIndex = gaugeF("cluster_commit_index", "raft commit index")
	mClusterApplied     = gaugeF("cluster_applied_index", "last raft index applied to the state")
	mClusterLastContact = gaugeF("cluster_last_contact_seconds", "seconds since a follower last heard from the leader (0 on the leader)")
	mClusterVoters      = gaugeF("cluster_voters", "voters in the raft configuration")
	mClusterServers     = gaugeF("cluster_servers", "servers (voters and non-voters) in the raft configuration")
)

// clusterFamilies are the cluster collector's metrics.
var clusterFamilies = []family{mClusterLeader, mClusterKnownLeader, mClusterTerm, mClusterLastIndex, mClusterCommitIndex,
	mClusterApplied, mClusterLastContact, mClusterVoters, mClusterServers}

func clusterCollector(c *cluster.Cluster) prometheus.Collector {
	return collector{
		fams:    clusterFamilies,
		collect: func(ch chan<- prometheus.Metric) { emitCluster(ch, c.RaftFigures(), time.Now()) },
	}
}

// emitCluster writes one reading of raft's figures.
func emitCluster(ch chan<- prometheus.Metric, f cluster.RaftFigures, now time.Time) {
	emit(ch, mClusterLeader, b2f(f.Leader))
	emit(ch, mClusterKnownLeader, b2f(f.KnownLeader))
	emit(ch, mClusterTerm, float64(f.Term))
	emit(ch, mClusterLastIndex, float64(f.LastIndex))
	emit(ch, mClusterCommitIndex, float64(f.CommitIndex))
	emit(ch, mClusterApplied, float64(f.Applied))
	contact := 0.0
	if !f.Leader && !f.LastContact.IsZero() {
		contact = now.Sub(f.LastContact).Seconds()
	}
	emit(ch, mClusterLastContact, contact)
	emit(ch, mClusterVoters, float64(f.Voters))
	emit(ch, mClusterServers, float64(f.Servers))
}

// Agent: the balancer (leader only; followers export imh_balancer_leading 0).
var (
	mBalLeading       = gaugeF("balancer_leading", "1 if this agent runs the balancer loop (it leads), else 0")
	mBalRouterUp      = gaugeF("balancer_router_up", "1 if the leader's control connection to the router is up, else 0", "router")
	mBalRouterDowns   = counterF("balancer_router_downs_total", "times the leader saw the router go down", "router")
	mBalLeases        = gaugeF("balancer_leases", "leases in the destination's current LeaseSet", "dest")
	mBalLeaseGoal     = gaugeF("balancer_lease_goal", "leases the LeaseSet should carry with the routers that are up", "dest")
	mBalLSPublished   = gaugeF("balancer_leaseset_published_timestamp_seconds", "when the current LeaseSet was signed (unix seconds)", "dest")
	mBalLSAge         = gaugeF("balancer_leaseset_age_seconds", "seconds since the current LeaseSet was signed", "dest")
	mBalLSPublishes   = counterF("balancer_leaseset_publishes_total", "LeaseSets built, signed and recorded in the cluster", "dest")
	mBalSwitches      = counterF("balancer_failover_switches_total", "failover policy: changes of the active router", "dest")
	mBalActive        = gaugeF("balancer_active_router", "failover policy: 1 for the router whose leases are published", "dest", "router")
	mBalGatewaySet    = gaugeF("balancer_gateway_set_size", "peers in the gateway set all inbound gateways come from (one router's fast-tier slice)", "dest")
	mBalGatewaysInUse = gaugeF("balancer_gateways_in_use", "distinct gateways of the live inbound tunnels", "dest")
	mBalGatewayChurn  = counterF("balancer_gateway_changes_total", "peers that joined a non-empty gateway set (churn)", "dest")
	mBalRouterLeases  = gaugeF("balancer_router_leases", "the router's leases in the current LeaseSet", "dest", "router")
	mBalTunnels       = gaugeF("balancer_tunnels", "live tunnels of the destination on the router", "dest", "router", "direction")
	mBalPending       = gaugeF("balancer_tunnel_builds_pending", "tunnel builds in flight", "dest", "router")
	mBalBuilds        = counterF("balancer_tunnel_builds_total", "tunnel builds that succeeded", "dest", "router")
	mBalBuildFailures = counterF("balancer_tunnel_build_failures_total", "tunnel builds that failed or timed out", "dest", "router")
	mBalHandOvers     = counterF("balancer_leaseset_handovers_total", "LeaseSets handed to the router for publication", "dest", "router")
	mBalPayloads      = counterF("balancer_payloads_total", "payloads the router delivered to the leader", "dest", "router")
	mBalPayloadBytes  = counterF("balancer_payload_bytes_total", "bytes of those payloads", "dest", "router")
	mBalStreamsOpen   = gaugeF("balancer_streams_open", "single-client mode: streams open on the leader", "dest")
	mBalStreams       = counterF("balancer_streams_total", "single-client mode: streams accepted or refused on the leader", "dest", "result")
	mBalStreamBytes   = counterF("balancer_stream_bytes_total", "single-client mode: stream payload bytes from clients (in) and to them (out)", "dest", "direction")
)

// balancerFamilies are the balancer collector's metrics.
var balancerFamilies = []family{mBalLeading, mBalRouterUp, mBalRouterDowns, mBalLeases, mBalLeaseGoal, mBalLSPublished, mBalLSAge,
	mBalLSPublishes, mBalSwitches, mBalActive, mBalGatewaySet, mBalGatewaysInUse, mBalGatewayChurn, mBalRouterLeases,
	mBalTunnels, mBalPending, mBalBuilds, mBalBuildFailures, mBalHandOvers, mBalPayloads, mBalPayloadBytes,
	mBalStreamsOpen, mBalStreams, mBalStreamBytes}

func balancerCollector(b *balancer.Balancer) prometheus.Collector {
	return collector{
		fams: balancerFamilies,
		collect: func(ch chan<- prometheus.Metric) {
			ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
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
	emit(ch, mBalLeading, b2f(m.Leading))
	for name, r := range m.Routers {
		emit(ch, mBalRouterUp, b2f(r.Up), name)
		emit(ch, mBalRouterDowns, float64(r.Downs), name)
	}
	for dest, d := range m.Dests {
		emit(ch, mBalLeases, float64(d.Leases), dest)
		emit(ch, mBalLeaseGoal, float64(d.LeaseGoal), dest)
		if !d.Published.IsZero() {
			emit(ch, mBalLSPublished, float64(d.Published.Unix()), dest)
			emit(ch, mBalLSAge, now.Sub(d.Published).Seconds(), dest)
		}
		emit(ch, mBalLSPublishes, float64(d.Counters.Publishes), dest)
		emit(ch, mBalSwitches, float64(d.Counters.Switches), dest)
		if d.Policy == balancer.PolicyFailover && d.ActiveRouter != "" {
			emit(ch, mBalActive, 1, dest, d.ActiveRouter)
		}
		emit(ch, mBalGatewaySet, float64(d.GatewaySet), dest)
		emit(ch, mBalGatewaysInUse, float64(d.GatewaysInUse), dest)
		emit(ch, mBalGatewayChurn, float64(d.Counters.GatewayChanges), dest)
		for router, r := range d.ByRouter {
			emit(ch, mBalRouterLeases, float64(r.Leases), dest, router)
			emit(ch, mBalTunnels, float64(r.InboundTunnels), dest, router, "inbound")
			emit(ch, mBalTunnels, float64(r.OutboundTunnels), dest, router, "outbound")
			emit(ch, mBalPending, float64(r.PendingBuilds), dest, router)
			emit(ch, mBalBuilds, float64(r.Counters.TunnelBuilds), dest, router)
			emit(ch, mBalBuildFailures, float64(r.Counters.TunnelBuildFailures), dest, router)
			emit(ch, mBalHandOvers, float64(r.Counters.HandOvers), dest, router)
			emit(ch, mBalPayloads, float64(r.Counters.Payloads), dest, router)
			emit(ch, mBalPayloadBytes, float64(r.Counters.PayloadBytes), dest, router)
		}
		s := d.Streams
		emit(ch, mBalStreamsOpen, float64(s.Open), dest)
		emit(ch, mBalStreams, float64(s.Accepted), dest, "accepted")
		emit(ch, mBalStreams, float64(s.Refused), dest, "refused")
		emit(ch, mBalStreamBytes, float64(s.BytesIn), dest, "in")
		emit(ch, mBalStreamBytes, float64(s.BytesOut), dest, "out")
	}
}

// Router: `imh router serve`.
var (
	mRtrSessions      = gaugeF("router_sessions", "sessions on the router", "dest")
	mRtrControl       = gaugeF("router_session_control_attached", "1 if a balancer controls the session", "dest")
	mRtrData          = gaugeF("router_session_data_attachments", "frontends data-attached to the session", "dest")
	mRtrQueued        = gaugeF("router_queued_payloads", "payloads waiting for a controller", "dest")
	mRtrDropped       = counterF("router_queue_dropped_total", "payloads dropped because the session's queue was full", "dest")
	mRtrStale         = counterF("router_stale_refused_total", "attaches and commands refused for an outdated raft term", "dest")
	mRtrTunnels       = gaugeF("router_tunnels", "live tunnels", "direction")
	mRtrFastTier      = gaugeF("router_fast_tier_peers", "peers in the backend's fast tier (0 if it has none)")
	mRtrBuilds        = counterF("router_tunnel_builds_total", "tunnel builds since start", "result")
	mRtrDelivered     = counterF("router_payloads_delivered_total", "payloads delivered to sessions since start")
	mRtrRefusedConns  = counterF("router_refused_connections_total", "connections closed because a connection cap was reached")
	mFrontRefusedConn = counterF("frontend_refused_connections_total", "connections closed because a connection cap was reached")
)

// refusedCounter is what netlimit.Listener offers.
type refusedCounter interface{ Refused() uint64 }

// routerFamilies are the router collector's metrics.
var routerFamilies = []family{mRtrSessions, mRtrControl, mRtrData, mRtrQueued, mRtrDropped, mRtrStale, mRtrTunnels,
	mRtrFastTier, mRtrBuilds, mRtrDelivered, mRtrRefusedConns}

func routerCollector(r *router.Router, ln refusedCounter) prometheus.Collector {
	return collector{
		fams: routerFamilies,
		collect: func(ch chan<- prometheus.Metric) {
			ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
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
		emit(ch, mRtrSessions, float64(counts[dest]), dest)
		emit(ch, mRtrControl, b2f(s.ControlAttached), dest)
		emit(ch, mRtrData, float64(s.DataAttached), dest)
		emit(ch, mRtrQueued, float64(s.Queued), dest)
		emit(ch, mRtrDropped, float64(s.QueueDropped), dest)
		emit(ch, mRtrStale, float64(s.StaleRefused), dest)
	}
	tunnels := map[string]int{"inbound": 0, "outbound": 0}
	for _, t := range st.Tunnels {
		tunnels[t.Direction]++
	}
	for dir, n := range tunnels {
		emit(ch, mRtrTunnels, float64(n), dir)
	}
	emit(ch, mRtrFastTier, float64(st.FastTier))
	emit(ch, mRtrBuilds, float64(st.Builds.OK), "ok")
	emit(ch, mRtrBuilds, float64(st.Builds.Failed), "failed")
	emit(ch, mRtrDelivered, float64(st.Delivered))
	emit(ch, mRtrRefusedConns, float64(refused))
}

// Simnet: `imh simnet serve`.
var (
	mSimPeers      = gaugeF("simnet_peers", "simulated peers")
	mSimFloodfills = gaugeF("simnet_floodfills", "simulated floodfills")
	mSimRouters    = gaugeF("simnet_routers", "routers (imh router serve) connected to the network")
	mSimTunnels    = gaugeF("simnet_inbound_tunnels", "live inbound tunnels in the network")
	mSimBuilds     = counterF("simnet_tunnel_builds_total", "tunnel builds per router", "router", "result")
	mSimDelivered  = counterF("simnet_deliveries_total", "deliveries through the router's leases, by whether its handler accepted them", "router", "result")
	mSimSent       = counterF("simnet_router_sends_total", "the router's own payloads to endpoints", "router", "result")
	mSimStores     = counterF("simnet_leaseset_stores_total", "LeaseSet stores the floodfills accepted", "dest")
	mSimRejected   = counterF("simnet_leaseset_rejected_total", "LeaseSet stores the floodfills refused", "dest")
	mSimLookups    = counterF("simnet_leaseset_lookups_total", "LeaseSet lookups", "dest")
)

// simnetFamilies are the simnet collector's metrics.
var simnetFamilies = []family{mSimPeers, mSimFloodfills, mSimRouters, mSimTunnels, mSimBuilds, mSimDelivered, mSimSent,
	mSimStores, mSimRejected, mSimLookups}

func simnetCollector(n *simnet.Network) prometheus.Collector {
	return collector{
		fams:    simnetFamilies,
		collect: func(ch chan<- prometheus.Metric) { emitSimnet(ch, n.Status()) },
	}
}

// emitSimnet writes one network status.
func emitSimnet(ch chan<- prometheus.Metric, st simnet.Status) {
	emit(ch, mSimPeers, float64(st.Peers))
	emit(ch, mSimFloodfills, float64(st.Floodfills))
	emit(ch, mSimRouters, float64(len(st.Routers)))
	emit(ch, mSimTunnels, float64(st.Tunnels))
	for name, s := range st.RouterStats {
		emit(ch, mSimBuilds, float64(s.BuildsOK), name, "ok")
		emit(ch, mSimBuilds, float64(s.BuildsFailed), name, "failed")
		emit(ch, mSimDelivered, float64(s.Delivered), name, "accepted")
		emit(ch, mSimDelivered, float64(s.Refused), name, "refused")
		emit(ch, mSimSent, float64(s.Sent), name, "ok")
		emit(ch, mSimSent, float64(s.SendFailed), name, "failed")
	}
	for dest, d := range st.Destinations {
		emit(ch, mSimStores, float64(d.Stores), dest)
		emit(ch, mSimRejected, float64(d.Rejected), dest)
		emit(ch, mSimLookups, float64(d.Lookups), dest)
	}
}

// Frontend: `imh frontend serve`.
var (
	mFrontAttached  = gaugeF("frontend_attached", "1 if the frontend is data-attached to the destination's session on its router", "dest")
	mFrontActive    = gaugeF("frontend_active", "1 if the leader assigned the destination to this frontend", "dest")
	mFrontBackendUp = gaugeF("frontend_backend_up", "1 if the destination's backend service answered", "dest")
	mFrontKeyExpiry = gaugeF("frontend_key_expiry_timestamp_seconds", "when the transient signing key expires (unix seconds)", "dest")
	mFrontOpen      = gaugeF("frontend_streams_open", "streams open", "dest")
	mFrontStreams   = counterF("frontend_streams_total", "streams accepted or refused", "dest", "result")
	mFrontBytes     = counterF("frontend_stream_bytes_total", "stream payload bytes from clients (in) and to them (out)", "dest", "direction")
	mFrontErrors    = counterF("frontend_errors_total", "stream and backend errors", "dest")
)

// frontendFamilies are the frontend collector's metrics.
var frontendFamilies = []family{mFrontAttached, mFrontActive, mFrontBackendUp, mFrontKeyExpiry, mFrontOpen, mFrontStreams,
	mFrontBytes, mFrontErrors, mFrontRefusedConn}

func frontendCollector(fe *frontend.Frontend, ln refusedCounter) prometheus.Collector {
	return collector{
		fams:    frontendFamilies,
		collect: func(ch chan<- prometheus.Metric) { emitFrontend(ch, fe.Status(), ln.Refused()) },
	}
}

// emitFrontend writes one frontend status; refused is the listener's count
// of connections it closed at its cap.
func emitFrontend(ch chan<- prometheus.Metric, st frontend.Status, refused uint64) {
	for _, d := range st.Dests {
		emit(ch, mFrontAttached, b2f(d.Attached), d.Name)
		emit(ch, mFrontActive, b2f(d.Active), d.Name)
		emit(ch, mFrontBackendUp, b2f(d.BackendUp), d.Name)
		if !d.KeyExpires.IsZero() {
			emit(ch, mFrontKeyExpiry, float64(d.KeyExpires.Unix()), d.Name)
		}
		emit(ch, mFrontOpen, float64(d.Open), d.Name)
		emit(ch, mFrontStreams, float64(d.Accepted), d.Name, "accepted")
		emit(ch, mFrontStreams, float64(d.Refused), d.Name, "refused")
		emit(ch, mFrontBytes, float64(d.BytesIn), d.Name, "in")
		emit(ch, mFrontBytes, float64(d.BytesOut), d.Name, "out")
		emit(ch, mFrontErrors, float64(d.Errors), d.Name)
	}
	emit(ch, mFrontRefusedConn, float64(refused))
}

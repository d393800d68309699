package balancer

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
)

// imh_balancer_*: the balancer (leader only; followers export imh_balancer_leading 0).
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

// NewCollector exports the balancer's figures (imh_balancer_*) on GET
// /metrics from one Metrics snapshot of the loop per scrape (bounded by
// metrics.ScrapeTimeout): leases against their goal, LeaseSet age,
// gateway set and churn, tunnels and builds per router, streams.
func NewCollector(b *Balancer) prometheus.Collector {
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
func emitBalancer(ch chan<- prometheus.Metric, m Metrics, now time.Time) {
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
		if d.Policy == PolicyFailover && d.ActiveRouter != "" {
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

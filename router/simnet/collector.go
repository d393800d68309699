package simnet

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
)

// imh_simnet_*: `imh simnet serve`.
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

// NewCollector exports the simulated network's figures (imh_simnet_*) on
// GET /metrics of `imh simnet serve`, from one Status per scrape: builds,
// deliveries and sends per router, LeaseSet stores and lookups per
// destination — what an experiment measures.
func NewCollector(n *Network) prometheus.Collector {
	return metrics.Collector{
		Families: simnetFamilies,
		Emit:     func(ch chan<- prometheus.Metric) { emitSimnet(ch, n.Status()) },
	}
}

// emitSimnet writes one network status.
func emitSimnet(ch chan<- prometheus.Metric, st Status) {
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

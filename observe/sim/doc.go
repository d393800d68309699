// Package sim is the whole-system run of issue 20 at simulated time: one
// destination served by a single stock router, by imh over N routers, or by
// N routers merged naively, on a deterministic discrete-event simulation of
// the I2P network, so that a day of LeaseSets takes seconds. Every
// LeaseSet2 a floodfill stores is recorded, signed, in observe's History
// format, for `imh leaseset analyze`.
//
// The imh runs execute the balancer's own decisions (balancer.GatewaySet,
// PlanInbound, the LeasePolicy, InboundShare, TunnelsToBuild, StepPlan,
// DecidePublish, BuildLeaseSet, with balancer.DefaultConfig's pacing)
// rather than a copy, so that what is measured here is what a cluster
// does. What the sim leaves out is what an observer of the netDB cannot
// see: outbound tunnels, traffic, Raft, the control connections (a request
// is answered at once).
//
// The network is router/simnet's model (peers, bandwidth classes,
// reliabilities, latencies, fast tiers of 75 that churn 2 peers every 10
// minutes, proposal 140's gateway slices), read through a simnet.Network on
// a manual clock; tunnel builds are drawn here from the same per-hop
// reliabilities and latencies (a dropped request fails after 10 s) and
// tunnels live 10 minutes. A floodfill stores a LeaseSet when its
// `published` is newer than the one it holds, NetDBLatency after it was
// sent.
//
// The single router is a stock i2pd-like pool: it asks for a replacement
// 90 s before a tunnel ends, publishes at most its quantity of leases from
// tunnels with more than 60 s left, and publishes when that set changes,
// at most every 20 s.
package sim

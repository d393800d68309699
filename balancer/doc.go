// Package balancer is the Raft leader's control loop for invisible
// multihoming (I2P proposal 140): it drives every router of every hosted
// destination through routerproto, keeps each router's tunnel plan, merges
// the live inbound tunnels of all routers into ONE LeaseSet2 that looks like
// a single router's, signs it, hands it to the routers for publication, and
// records its decisions through fsm commands.
//
// The package is split so that the decisions can be tested without I/O:
//   - lease selection (LeasePolicy: Spread, or Failover with one router's
//     leases at a time) picks at most 16 leases from the live inbound
//     tunnels, stable across republishes;
//   - the gateway-set policy (GatewaySet, PlanInbound, PlanOutbound) draws
//     the inbound gateways of ALL routers from one slice of one router's
//     fast tier, cut by a key only the destination's holder can derive, as
//     a single router cuts its pool's slice, and the other hops from the union of the routers' fast tiers;
//   - LeaseSet assembly (BuildLeaseSet) stamps a monotonic `published`;
//   - Backoff spaces out retries after tunnel-build failures.
//
// The loop itself (Balancer.Run, started by the cluster as leader work)
// wires these to routers and the fsm: one goroutine owns all decisions,
// helper goroutines keep one connection per router and run requests, and a
// step after every batch of events brings sessions, fast tiers, tunnel
// plans, gateway sets and the LeaseSet in line. A new leader re-attaches
// with its term, adopts the recorded tunnels (checked against each router's
// pool) and its predecessor's gateways, and publishes only on change. It
// imports neither cluster nor raft: it declares the small interfaces it
// needs (Cluster, RouterConn) and the cluster satisfies them.
//
// The loop runs on the routers' time, not on the agent's clock alone: its
// "now" for every decision is Config.Clock plus the median of the
// connected routers' clock offsets from it, which each router's SetDate
// gives (routers with no SetDate yet, or more than MaxRouterOffset off, are
// left out; with none, the agent's clock). The routers end tunnels and
// leases by their clocks, so a leader whose clock is minutes wrong still
// replaces tunnels, retires leases and republishes before they end, and
// stamps `published` in the network's time. A SessionConfig's date and a
// message's expiration, which one router checks, are by that router's
// clock. Timers and time.Since on local readings (the tick, timeouts, the
// frontends' freshness) only measure durations and keep the local clock;
// the fsm reads no clock (the leader stamps its commands). See loop.now.
package balancer

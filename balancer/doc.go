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
package balancer

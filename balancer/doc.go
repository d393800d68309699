// Package balancer is the Raft leader's control loop for invisible
// multihoming (I2P proposal 140): it drives every router of every hosted
// destination through routerproto, keeps each router's tunnel plan, merges
// the live inbound tunnels of all routers into ONE LeaseSet2 that looks like
// a single router's, signs it, hands it to the routers for publication, and
// records its decisions through fsm commands.
//
// The package is split so that the decisions can be tested without I/O:
//   - lease selection (LeasePolicy: Spread now, Failover later) picks at most
//     16 leases from the live inbound tunnels, stable across republishes;
//   - the gateway-set policy (GatewaySet, PlanInbound, PlanOutbound) draws
//     the inbound gateways of ALL routers from one slice sized like a single
//     router's, and the other hops from the union of the routers' fast tiers;
//   - LeaseSet assembly (BuildLeaseSet) stamps a monotonic `published`;
//   - Backoff spaces out retries after tunnel-build failures.
//
// The loop itself (Balancer.Run) only wires these to routers and the fsm.
// It imports neither cluster nor raft: it declares the small interfaces it
// needs and the cluster satisfies them.
package balancer

// Package simnet is a simulated I2P network, deterministic from a seed, on
// which imh routers build tunnels, publish LeaseSets and receive messages
// from remote clients. It runs in process (Network.Attach, one shared
// Clock, possibly scaled or under testing/synctest) or as the `imh simnet
// serve` daemon that router processes reach with Dial (real time).
//
// # The model (Config, DefaultConfig)
//
// Peers: 2,000 simulated routers (Peers). Each has an identity hash, a
// bandwidth class drawn from DefaultClasses (K 4%, L 16%, M 20%, N 25%,
// O 20%, P 10%, X 5%), a reliability (the class's 0.50 .. 0.95 +/- 0.05:
// the probability that it accepts and forwards a tunnel build), a mean
// per-hop latency (the class's 600 .. 100 ms x U[0.75, 1.25)), and
// capabilities "<class>[f](R|U)". 10% are unreachable (Unreachable) and never
// in a fast tier; 100 reachable peers are floodfills (Floodfills).
//
// Fast tier: each router (identified by name; its hash is SHA-256 of seed
// and name) ranks the reachable peers by its own profile view — capacity
// (reliability² / (latency + 50 ms)) times a per-router perception factor
// U[0.6, 1.4) — and its fast tier is the best 75 (FastTierSize). Every 10
// minutes (ChurnInterval) 2 members (FastTierChurn) are replaced by peers
// from the next-best part of its view (3x the tier's size deep).
//
// Tunnel builds: a tunnel of h hops (0..7, MaxHops) either names its hops
// (honoured as given, in tunnel order) or lets the router choose them from
// its fast tier; a router-chosen inbound tunnel's gateway comes from the
// pool's GatewaySlice (proposal 140: the whole tier at 1 hop, half at 2, a
// quarter at 3+, the slices partitioned per pool by hash). Each hop accepts
// with its reliability, so a build succeeds with the product of the hops'
// reliabilities. A build takes RouterLatency (20 ms) plus, per hop, the
// peer's mean latency x U[0.5, 1.5); a failing hop rejects (the answer still
// comes after the path's latency) or, with probability DropShare (0.25),
// drops the request and the build fails after BuildTimeout (10 s). 0-hop
// tunnels always succeed; their gateway is the router itself. Tunnels live
// TunnelLifetime (10 minutes); an expired tunnel accepts nothing.
//
// Floodfills: a LeaseSet2 (bytes without the store-type byte) is stored by
// the StoreRedundancy (3) floodfills closest (XOR) to SHA-256 of the
// destination hash, only if it parses, its signature verifies
// (i2p.LeaseSet2.Verify), its time is valid (i2p TimeStatus ok) and its
// `published` is strictly newer than the stored one. Flooding between them is
// instant and loss-free, so they share one copy. Stores, rejections and
// lookups are counted per destination with the history of what was stored
// (I2P base64 and the time, at most HistoryLimit entries). A store and a
// lookup each take NetDBLatency (100 ms). An expired LeaseSet is not served.
//
// Remote clients (Client, Network.Send): a client looks the destination up,
// caches the LeaseSet, picks a lease and sends through it; a lease that ends
// within LeaseEndThreshold (51 s, as i2pd) is not picked. It looks up again
// when the LeaseSet expires or has no live lease, and, as i2pd's and Java
// I2P's senders do when leases stop answering, when its leases fail: a lease
// a message was lost through (no_tunnel, router_down, expired) is not picked
// again while another live one is left, and after RelookupFailures (2)
// such losses in a row, or once every live lease has failed, the client
// looks up again (at most once per RelookupInterval, 1 s) and takes the
// LeaseSet if it was published later. A client learns each loss at once
// (a real streaming sender when its resend timer fires). While its messages
// are delivered it does not look up. The message is delivered
// if the lease's tunnel exists, has not expired, its router is up and that
// router's DeliveryHandler accepts it (a live session of the destination on
// that tunnel) and can decrypt it; otherwise it fails with a Reason. In
// request/response traffic the reply leaves through the router that received
// the message, which binds the client's end-to-end session to that router
// for SessionLifetime (10 minutes, refreshed by every reply); a message that
// then reaches another router of the destination fails with
// session_bound_elsewhere, as measured on i2pd 2.45.1 (TESTNET.md). i2pd
// clients re-pick a random live lease every RepickInterval (30 s) or
// RepickMessages (100); java clients keep their lease while it is in the
// LeaseSet and live. Message transit time is not modelled: a message is
// resolved when it is sent.
//
// Endpoints (Network.AttachEndpoint in process, DialEndpoint across
// processes; both are EndpointLinks): a remote I2P client with its own
// Destination, for two-way traffic such as streaming. Endpoint.Send looks
// the destination up, caches and picks leases exactly as a Client of its
// Behaviour does, and delivers the caller's payload bytes unchanged; a lost
// payload returns a *NotDeliveredError with the Reason (counted in the
// destination's traffic as a Client's would be), and the caller
// retransmits. A router answers with Link.Send(from, to, payload): the
// payload reaches the endpoint of to immediately (no transit time, as for
// deliveries), is handed to its handler in order on the endpoint's own
// goroutine (at most InboxSize waiting; beyond that the router's Send fails
// with ErrNotDelivered), and binds the endpoint's session with from to that
// router for SessionLifetime, refreshed by every send: this is the same
// binding table a modelled reply fills for a Client, so a later
// Endpoint.Send through another router's lease fails with
// session_bound_elsewhere exactly as a Client's message would. Routers send
// only to endpoints: router-to-router traffic is not modelled (ErrNoEndpoint).
// Routers count their sends in RouterStats.Sent and SendFailed.
//
// # Determinism
//
// The peers, every router's profile view and fast tier at a given time, and
// the sequence of build outcomes, tunnel ids and hop choices of each router
// (and of each client's lease choices) derive only from the seed and the
// router's (or client's) name, so the same calls in the same order per
// router give the same results. Concurrency between routers does not change
// any router's own sequence.
package simnet

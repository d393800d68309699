// Package i2pdnet builds a private I2P network of stock i2pd 2.45.1 routers
// inside a network namespace of its own, for integration tests and for humans
// (scripts/testnet). It follows /work/shared/TESTNET.md ("Several routers"):
//
//   - one uniquely named namespace per network, imh-<pid>-<random>, whose only
//     interface is its own lo carrying 198.18.0.1..N (i2pd 2.45.1 does not
//     treat 198.18.0.0/15 as reserved, so routers there can talk to each other;
//     other releases behave differently, hence the version check);
//   - before any router starts, `ip route` inside the namespace must show no
//     default route and lo must be its only link: nothing started in there can
//     reach anything outside;
//   - bootstrap without reseed servers: each router starts once to write its
//     keys and router.info, stops, and every router.info goes into seed.zip,
//     which all routers reseed from on their second start;
//   - teardown (Net.Close) kills every process in the namespace, deletes the
//     namespace and the network's files, and runs on success, on failure, and
//     on SIGINT/SIGTERM of the test process. CleanupStale removes what a
//     crashed run (e.g. a go test timeout panic) left behind.
//
// Reaching the routers. The test process itself stays outside the namespace
// and never sends a packet to 198.18.x from there. Two ways in are offered:
//
//   - Net.Exec builds a command run by `ip netns exec NS`: i2pd, imh and any
//     other process a test starts for the network run that way;
//   - Net.DialContext (and Net.HTTPClient, Net.Console built on it) opens a
//     socket from a dedicated, locked OS thread that has entered the namespace
//     with setns(2); the thread's namespace is verified (inode of
//     /proc/thread-self/ns/net) before the socket is created, so a failed
//     switch can never send a packet from the host namespace. Only addresses
//     of this network's routers are accepted. A socket keeps the namespace it
//     was created in, so the connection works from any goroutine afterwards.
//
// Net.Listen opens a listener the same way (on the namespace's 127.0.0.1 or
// a router's address): a server in the test process that the processes
// inside connect to, such as a service backend.
//
// The second way needs no curl or other tool inside the namespace and lets
// tests parse console pages in-process (Net.LeaseSets, Net.Transports).
package i2pdnet

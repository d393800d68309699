// Package cluster runs one imh agent's replica of the balancer cluster: a
// hashicorp/raft node (TCP transport, raft-boltdb log, file snapshots) whose
// FSM is package fsm, a memberlist gossip member through which agents find
// each other and bootstrap, the leadership hook that starts exactly one
// "leader work" function on the leader (the balancer), and the HTTP API that
// the operator CLI talks to on every agent (reads served locally, writes
// forwarded to the leader).
//
// One cluster secret (imh keygen) is the root of every key: the memberlist
// encryption key and the key that seals destination private keys are derived
// from it with HKDF-SHA256 under different labels. Neither the secret nor
// anything derived from it is ever written to the data dir; private keys are
// stored there (in the raft log and snapshots) only sealed.
//
// Membership changes only by decision: the leader adds alive gossip members
// as voters, but removes a server only on `imh cluster remove` (or, when
// Config.DeadMemberCleanup is set, after a long absence). Stopping an agent
// never shrinks the configuration; a stopping leader hands leadership over
// first. A removed agent keeps its raft state until the operator rejoins it,
// which moves that state aside (rejoin.go). ops.go serves the operations
// (peers, join, remove, transfer-leader, snapshot save/restore) and
// recover.go rewrites a stopped agent's configuration after a lost majority.
//
// RunAgent (agent.go) is `imh agent` once its flags are read: the cluster,
// its GET /metrics, and the Extensions (the balancer, wired by cmd/imh so
// that cluster never imports balancer) whose leader works run side by side.
package cluster

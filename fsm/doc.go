// Package fsm is imh's replicated state: the operators' decisions (routers,
// destinations and their settings) and the leader's decisions (tunnels
// recorded, LeaseSets published), changed only by versioned binary commands.
//
// The package is pure: no raft, no clock, no I/O, no randomness. Every input
// an Apply needs (time stamps, generated keys, nonces) travels inside the
// command, stamped by the leader before it is proposed, so every replica that
// applies the same log reaches byte-identical state. Private keys are stored
// only as sealed blobs: sealing happens at the edge (the cluster's API on the
// leader), never here.
//
// The cluster package adapts State to raft's FSM interface.
package fsm

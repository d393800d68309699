package cluster

import (
	"context"
	"time"
)

// SetDeadMemberCleanupFloor lowers the floor of DeadMemberCleanup for this
// config only (MinDeadMemberCleanup for every other).
func (c *Config) SetDeadMemberCleanupFloor(d time.Duration) { c.deadMemberCleanupFloor = d }

// SetFSMApplyHook makes the raft FSM call f before it applies each command
// (f may block: a slow FSM holds every Apply waiting on it).
func (c *Cluster) SetFSMApplyHook(f func()) { c.fsm.hook.Store(&f) }

// RaftLastIndex is the last index in this node's raft log: it grows when
// the node answers the leader's AppendEntries.
func (c *Cluster) RaftLastIndex() uint64 { return c.r().LastIndex() }

// TransferTo hands this leader's leadership to the named voter.
func (c *Cluster) TransferTo(name string) error {
	_, err := c.transfer(context.Background(), name)
	return err
}

// AppliedInfo exposes appliedInfo: what an applied write answers.
func (c *Cluster) AppliedInfo(name string) (*DestinationInfo, error) {
	return c.appliedInfo(name, func() (*DestinationInfo, error) {
		return &DestinationInfo{Name: name, Policy: "from-the-write"}, nil
	})
}

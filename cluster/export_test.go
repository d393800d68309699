package cluster

import (
	"context"
	"time"
)

// SetMinDeadMemberCleanup lowers the floor of Config.DeadMemberCleanup for
// a test and returns the function that puts it back.
func SetMinDeadMemberCleanup(d time.Duration) (restore func()) {
	old := minDeadMemberCleanup
	minDeadMemberCleanup = d
	return func() { minDeadMemberCleanup = old }
}

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

package cluster

import (
	"time"

	"github.com/hashicorp/raft"
)

// RaftFigures are this agent's raft figures for a metrics scrape, read from
// raft at call time (raft's own timings come through go-metrics; see
// internal/metrics).
type RaftFigures struct {
	Leader      bool // this agent leads
	KnownLeader bool // some leader is known
	Term        uint64
	LastIndex   uint64
	CommitIndex uint64
	Applied     uint64
	// LastContact is when a leader was last heard from (zero on the leader,
	// and before any contact).
	LastContact time.Time
	Voters      int
	Servers     int
}

// RaftFigures reads the figures from raft.
func (c *Cluster) RaftFigures() RaftFigures {
	r := c.r()
	_, id := r.LeaderWithID()
	f := RaftFigures{
		Leader: r.State() == raft.Leader, KnownLeader: id != "", Term: r.CurrentTerm(),
		LastIndex: r.LastIndex(), CommitIndex: r.CommitIndex(), Applied: r.AppliedIndex(),
	}
	if !f.Leader {
		f.LastContact = r.LastContact()
	}
	if fut := r.GetConfiguration(); fut.Error() == nil {
		for _, s := range fut.Configuration().Servers {
			f.Servers++
			if s.Suffrage == raft.Voter {
				f.Voters++
			}
		}
	}
	return f
}

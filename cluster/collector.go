package cluster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
)

// imh_cluster_*: raft and membership as this agent sees them.
var (
	mClusterLeader      = metrics.Gauge("cluster_leader", "1 if this agent is the raft leader, else 0")
	mClusterKnownLeader = metrics.Gauge("cluster_known_leader", "1 if this agent knows a leader, else 0")
	mClusterTerm        = metrics.Gauge("cluster_term", "current raft term")
	mClusterLastIndex   = metrics.Gauge("cluster_last_index", "last raft log index stored here")
	mClusterCommitIndex = metrics.Gauge("cluster_commit_index", "raft commit index")
	mClusterApplied     = metrics.Gauge("cluster_applied_index", "last raft index applied to the state")
	mClusterLastContact = metrics.Gauge("cluster_last_contact_seconds", "seconds since a follower last heard from the leader (0 on the leader)")
	mClusterVoters      = metrics.Gauge("cluster_voters", "voters in the raft configuration")
	mClusterServers     = metrics.Gauge("cluster_servers", "servers (voters and non-voters) in the raft configuration")
)

// clusterFamilies are the cluster collector's metrics.
var clusterFamilies = []metrics.Family{mClusterLeader, mClusterKnownLeader, mClusterTerm, mClusterLastIndex, mClusterCommitIndex,
	mClusterApplied, mClusterLastContact, mClusterVoters, mClusterServers}

// NewCollector exports the agent's raft figures (imh_cluster_*) on GET
// /metrics, read from raft at scrape time: an operator alerts on a
// follower that lost contact or a cluster that lost its leader.
func NewCollector(c *Cluster) prometheus.Collector {
	return metrics.Collector{
		Families: clusterFamilies,
		Emit:     func(ch chan<- prometheus.Metric) { emitCluster(ch, c.RaftFigures(), time.Now()) },
	}
}

// emitCluster writes one reading of raft's figures.
func emitCluster(ch chan<- prometheus.Metric, f RaftFigures, now time.Time) {
	metrics.Emit(ch, mClusterLeader, metrics.Bool(f.Leader))
	metrics.Emit(ch, mClusterKnownLeader, metrics.Bool(f.KnownLeader))
	metrics.Emit(ch, mClusterTerm, float64(f.Term))
	metrics.Emit(ch, mClusterLastIndex, float64(f.LastIndex))
	metrics.Emit(ch, mClusterCommitIndex, float64(f.CommitIndex))
	metrics.Emit(ch, mClusterApplied, float64(f.Applied))
	contact := 0.0
	if !f.Leader && !f.LastContact.IsZero() {
		contact = now.Sub(f.LastContact).Seconds()
	}
	metrics.Emit(ch, mClusterLastContact, contact)
	metrics.Emit(ch, mClusterVoters, float64(f.Voters))
	metrics.Emit(ch, mClusterServers, float64(f.Servers))
}

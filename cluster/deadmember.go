package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// removeHoldFor is how long the leader refuses to re-add a server it just
// removed while that server still gossips its old raft state: long enough
// for the removed agent to learn of its removal (and gossip Removed), short
// enough that an agent removed while it was down rejoins when restarted.
const removeHoldFor = 30 * time.Second

// removeHold remembers servers removed by this leader recently.
type removeHold struct {
	mu sync.Mutex
	at map[string]time.Time
}

func newRemoveHold() *removeHold { return &removeHold{at: map[string]time.Time{}} }

func (h *removeHold) add(name string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.at[name] = now
}

// held reports whether name was removed less than removeHoldFor ago.
func (h *removeHold) held(name string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.at[name]
	if ok && now.Sub(t) >= removeHoldFor {
		delete(h.at, name)
		return false
	}
	return ok
}

// deadTracker is the leader's memory of when each voter was first seen
// missing from gossip. It is leader-local and starts empty on every new
// leadership, so a server is removed only after one leader has watched it
// stay gone for the whole period: never on a single failed probe.
type deadTracker struct {
	mu    sync.Mutex
	since map[raft.ServerID]time.Time
}

func newDeadTracker() *deadTracker { return &deadTracker{since: map[raft.ServerID]time.Time{}} }

func (d *deadTracker) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.since)
}

// toRemove updates the tracker with the servers alive now and returns at
// most one server to remove: a voter other than self, gone for at least
// after, whose removal leaves at least MinCleanupVoters voters. after <= 0
// disables removal.
func (d *deadTracker) toRemove(now time.Time, servers []raft.Server, alive map[string]bool, self raft.ServerID, after time.Duration) (raft.Server, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	inConf := map[raft.ServerID]bool{}
	voters := 0
	for _, s := range servers {
		inConf[s.ID] = true
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	for id := range d.since {
		if !inConf[id] {
			delete(d.since, id)
		}
	}
	var pick raft.Server
	found := false
	for _, s := range servers {
		if s.ID == self || alive[string(s.ID)] {
			delete(d.since, s.ID)
			continue
		}
		first, ok := d.since[s.ID]
		if !ok {
			d.since[s.ID] = now
			continue
		}
		if found || after <= 0 || now.Sub(first) < after {
			continue
		}
		if s.Suffrage == raft.Voter && voters-1 < MinCleanupVoters {
			continue
		}
		pick, found = s, true
	}
	return pick, found
}

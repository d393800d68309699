package cluster

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func servers(names ...string) []raft.Server {
	var out []raft.Server
	for _, n := range names {
		out = append(out, raft.Server{ID: raft.ServerID(n), Address: raft.ServerAddress(n + ":1"), Suffrage: raft.Voter})
	}
	return out
}

func aliveSet(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// TestDeadTracker walks the leader's dead-member cleanup through time:
// nothing is removed on first sight, nor before the period, nor when it is
// off, nor below MinCleanupVoters, nor self; a server that comes back
// starts from zero.
func TestDeadTracker(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	const after = 2 * time.Minute
	type step struct {
		at      time.Duration // since t0
		servers []raft.Server
		alive   map[string]bool
		after   time.Duration
		want    string // "" = nothing removed
	}
	five := servers("n1", "n2", "n3", "n4", "n5")
	three := servers("n1", "n2", "n3")
	tests := []struct {
		name  string
		steps []step
	}{
		{"removed after the period, not before", []step{
			{0, five, aliveSet("n1", "n2", "n3", "n4"), after, ""},
			{time.Minute, five, aliveSet("n1", "n2", "n3", "n4"), after, ""},
			{after - time.Second, five, aliveSet("n1", "n2", "n3", "n4"), after, ""},
			{after, five, aliveSet("n1", "n2", "n3", "n4"), after, "n5"},
		}},
		{"a single failed probe is nothing", []step{
			{0, five, aliveSet("n1", "n2", "n3", "n4"), after, ""},
			{time.Second, five, aliveSet("n1", "n2", "n3", "n4", "n5"), after, ""},
			{after + time.Second, five, aliveSet("n1", "n2", "n3", "n4"), after, ""},
			{2*after + time.Second, five, aliveSet("n1", "n2", "n3", "n4"), after, "n5"},
		}},
		{"off", []step{
			{0, five, aliveSet("n1", "n2", "n3"), 0, ""},
			{time.Hour, five, aliveSet("n1", "n2", "n3"), 0, ""},
		}},
		{"never below three voters", []step{
			{0, three, aliveSet("n1", "n2"), after, ""},
			{time.Hour, three, aliveSet("n1", "n2"), after, ""},
		}},
		{"one at a time", []step{
			{0, five, aliveSet("n1", "n2", "n3"), after, ""},
			{time.Hour, five, aliveSet("n1", "n2", "n3"), after, "n4"},
			{time.Hour + time.Second, servers("n1", "n2", "n3", "n5"), aliveSet("n1", "n2", "n3"), after, "n5"},
		}},
		{"never self", []step{
			{0, five, aliveSet("n2", "n3", "n4", "n5"), after, ""},
			{time.Hour, five, aliveSet("n2", "n3", "n4", "n5"), after, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeadTracker()
			for i, s := range tt.steps {
				got, ok := d.toRemove(t0.Add(s.at), s.servers, s.alive, "n1", s.after)
				if name := string(got.ID); (ok && name != s.want) || (!ok && s.want != "") {
					t.Fatalf("step %d: removed %q (%v), want %q", i, name, ok, s.want)
				}
			}
		})
	}
}

func TestRemoveHold(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	h := newRemoveHold()
	if h.held("n3", t0) {
		t.Fatal("held before any removal")
	}
	h.add("n3", t0)
	for _, tt := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {removeHoldFor - time.Millisecond, true}, {removeHoldFor, false}, {0, false}} {
		if got := h.held("n3", t0.Add(tt.at)); got != tt.want {
			t.Errorf("held at +%v = %v, want %v", tt.at, got, tt.want)
		}
	}
}

//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/imh-project/imh/internal/eventually"
)

// TestClusterRestartNoLateElection: a SIGKILLed leader restarted on its
// data dir rejoins as a follower and the cluster then stays on one term:
// no election follows within the next 50 s (issue 9's report: a
// restarted agent triggered another election about 40 s later).
func TestClusterRestartNoLateElection(t *testing.T) {
	clusterPool.join(t)
	tc := startTestCluster(t, 3)
	old := tc.waitLeader(30 * time.Second)
	old.proc.Kill()
	nl := tc.waitLeader(30 * time.Second)
	tc.start(old)
	st, err := nl.status()
	if err != nil {
		t.Fatal(err)
	}
	term := st.Term
	eventually.True(t, 30*time.Second, old.name+" follows "+nl.name, func() bool {
		s, err := old.status()
		return err == nil && s.Leader == nl.name && s.Term == term
	})
	restarted := time.Now()
	for time.Since(restarted) < 50*time.Second {
		for _, a := range tc.agents {
			s, err := a.status()
			if err != nil {
				continue
			}
			if s.Term != term || (s.Leader != "" && s.Leader != nl.name) {
				t.Fatalf("%.1fs after %s rejoined: %s reports term %d leader %q, want term %d leader %s",
					time.Since(restarted).Seconds(), old.name, a.name, s.Term, s.Leader, term, nl.name)
			}
		}
		time.Sleep(200 * time.Millisecond) // pacing: watching 50 s that nothing changes
	}
}

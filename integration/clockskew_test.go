//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
)

// clockSkew is the skewed agent's IMH_TEST_CLOCK_SKEW: five minutes slow,
// far beyond balancer.MaxPublishedAhead (30 s), so a leader that trusted
// only its own clock would refuse to publish for minutes.
const clockSkew = -5 * time.Minute

// skewedPublishBound bounds the time from a router's SIGKILL under the
// skewed leader to a newer LeaseSet of that leader at the floodfills.
// Measured: 0.13-0.15 s; the goal is within the loop's 1 s tick, and the
// bound leaves room for 2 noisy cores.
const skewedPublishBound = 10 * time.Second

// TestClockSkewLeader (issue 19): an agent whose clock is five minutes
// slow (IMH_TEST_CLOCK_SKEW, test only) becomes leader after the leader's
// SIGKILL (or, if the third agent won that election, by `imh cluster
// transfer-leader`). The high water of `published` was set by a leader
// with a right clock, so the skewed leader must still publish a strictly
// newer LeaseSet, at once rather than once its clock catches up
// (balancer.networkNow), and the floodfills must store it. A router's
// SIGKILL right after the takeover makes it publish (unchanged leases
// would not). The skewed leader runs its loop on the routers' time (their
// SetDate offsets, balancer loop.now) and must say so in its log. Before
// that, with networkNow reverted to the plain clock, the test failed:
// "published would run too far ahead of the clock: 4m44s ahead"; since,
// the routers' time alone lets it publish, and the unit test
// balancer.TestBuildLeaseSetClockBehind guards networkNow.
func TestClockSkewLeader(t *testing.T) {
	clusterPool.join(t)
	e := startBalancerEnvN(t, []string{"r1", "r2"})
	e.waitStoredLeases(t, 90*time.Second, "a LeaseSet with leases of both routers", func(_ *i2p.LeaseSet2, by map[string]int) bool {
		return by["r1"] > 0 && by["r2"] > 0
	})
	leader := e.tc.waitLeader(30 * time.Second)
	skewed := e.tc.follower()
	restartSkewed(t, e.tc, skewed, leader)

	before := publishedOf(t, leader)
	stored := balancerStoredLeaseSet(t, e.n, e.b32).Published
	leader.proc.Kill()
	killed := time.Now()
	next := e.tc.waitLeader(30 * time.Second)
	if next != skewed {
		t.Logf("%s won the election after the SIGKILL; transferring leadership to %s", next.name, skewed.name)
		imhOK(t, "cluster", "transfer-leader", skewed.name, "--http-addr", next.httpAddr)
		eventually.True(t, 10*time.Second, skewed.name+" leading", func() bool { return e.tc.leader() == skewed })
		// The third agent may have published with its right clock:
		// the skewed leader must go past that too.
		before = max(before, publishedOf(t, skewed))
		stored = max(stored, balancerStoredLeaseSet(t, e.n, e.b32).Published)
	}
	// A leader that takes over unchanged leases republishes only when
	// they change or the LeaseSet nears its end. Make them change now:
	// r2 dies, and its leases must leave the LeaseSet at once.
	e.router("r2").p.Kill()
	cut := time.Now()

	// The stored LeaseSet must be the skewed leader's own (its log names
	// each one it published), not one the third agent published before
	// the transfer.
	var ls *i2p.LeaseSet2
	if !eventually.Within(skewedPublishBound, func() bool {
		ls = balancerStoredLeaseSet(t, e.n, e.b32)
		return ls != nil && ls.Published > stored && ls.Published > before && loggedPublish(skewed.proc.Log(), ls.Published)
	}) {
		t.Fatalf("no newer LeaseSet of the skewed leader stored within %s of r2's SIGKILL (published before: %d, stored: %d, now: %d); its last build error: %s; its balancer's last words:\n%s",
			skewedPublishBound, before, stored, publishedOf(t, skewed), lastLine(skewed.proc.Log(), "build leaseset"), balancerLines(skewed.proc.Log(), 40))
	}
	took := time.Since(cut)
	after := publishedOf(t, skewed)
	if after < ls.Published {
		t.Errorf("dest show: published %d, older than the stored %d", after, ls.Published)
	}
	ahead := time.Unix(int64(ls.Published), 0).Sub(time.Now().Add(clockSkew))
	t.Logf("skewed leader %s: published %d -> %d (%s ahead of its clock), stored %s after r2's SIGKILL (%s after the leader's)",
		skewed.name, before, ls.Published, ahead.Round(time.Second), took.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	if err := ls.Verify(); err != nil {
		t.Fatalf("stored LeaseSet does not verify: %v", err)
	}
	if line := lastLine(skewed.proc.Log(), `msg="running on the routers' time"`); line == "(none)" {
		t.Errorf("%s does not say it runs on the routers' time; log tail:\n%s", skewed.name, skewed.proc.LogTail(20))
	} else {
		t.Logf("%s: %s", skewed.name, line)
	}
	checkStoredHistory(t, e.n, e.b32)
}

// balancerLines returns the last n lines of an agent's log that are not
// raft's or gossip's (heartbeats to a killed agent fill a log tail).
func balancerLines(log string, n int) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if l != "" && !strings.Contains(l, "component=raft") && !strings.Contains(l, "component=gossip") {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}

// restartSkewed restarts the follower a with IMH_TEST_CLOCK_SKEW set and
// waits until it follows leader again and says its clock is skewed.
func restartSkewed(t *testing.T, tc *testCluster, a, leader *clusterAgent) {
	t.Helper()
	if err := a.proc.Stop(); err != nil {
		t.Fatalf("stop %s: %v", a.name, err)
	}
	a.env = append(a.env, "IMH_TEST_CLOCK_SKEW="+clockSkew.String())
	tc.start(a)
	eventually.True(t, 30*time.Second, a.name+" following "+leader.name+" again", func() bool {
		st, err := a.status()
		return err == nil && st.Leader == leader.name
	})
	if !strings.Contains(a.proc.Log(), "balancer clock skewed for a test") {
		t.Fatalf("%s does not log its skewed clock; log tail:\n%s", a.name, a.proc.LogTail(20))
	}
}

// publishedOf is the destination web's `published` as a's replica knows
// it (`imh dest show web --json`).
func publishedOf(t *testing.T, a *clusterAgent) uint32 {
	t.Helper()
	var d cluster.DestinationInfo
	out := imhOK(t, "dest", "show", "web", "--json", "--http-addr", a.httpAddr)
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("dest show --json: %v: %s", err, out)
	}
	return d.Published
}

// loggedPublish reports whether an agent's log says it published web's
// LeaseSet with the given `published`.
func loggedPublish(log string, published uint32) bool {
	want := fmt.Sprintf(" published=%d ", published)
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="leaseset published"`) && strings.Contains(line, " dest=web ") && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

// lastLine is the last line of log containing s, or "(none)".
func lastLine(log, s string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return "(none)"
}

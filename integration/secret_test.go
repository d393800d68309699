//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
)

// secretStatus is `imh cluster secret status --json` through agent a.
func secretStatus(t *testing.T, a *clusterAgent) cluster.SecretStatus {
	t.Helper()
	var st cluster.SecretStatus
	if err := json.Unmarshal([]byte(balancerIMH(t, "cluster", "secret", "status", "--json", "--http-addr="+a.httpAddr)), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// useSecrets makes the agent's next start use the secret file current and,
// when previous is not "", --previous-secret-file previous (flags, or the
// environment for the agent configured by file and environment).
func (a *clusterAgent) useSecrets(current, previous string) {
	if i := slices.Index(a.args, "--secret-file"); i >= 0 {
		a.args[i+1] = current
		if j := slices.Index(a.args, "--previous-secret-file"); j >= 0 {
			a.args = slices.Delete(a.args, j, j+2)
		}
		if previous != "" {
			a.args = append(a.args, "--previous-secret-file", previous)
		}
		return
	}
	a.env = slices.DeleteFunc(a.env, func(kv string) bool {
		return strings.HasPrefix(kv, "IMH_SECRET=") || strings.HasPrefix(kv, "IMH_SECRET_FILE=") || strings.HasPrefix(kv, "IMH_PREVIOUS_SECRET_FILE=")
	})
	a.env = append(a.env, "IMH_SECRET=", "IMH_SECRET_FILE="+current, "IMH_PREVIOUS_SECRET_FILE="+previous)
}

// restartCaughtUp stops the agent with SIGTERM, starts it again and waits
// until it names a leader and holds the destinations the leader holds.
func (tc *testCluster) restartCaughtUp(t *testing.T, a *clusterAgent) {
	t.Helper()
	if err := a.proc.Stop(); err != nil {
		t.Fatalf("stop %s: %v", a.name, err)
	}
	tc.start(a)
	eventually.True(t, 30*time.Second, a.name+" back and caught up", func() bool {
		l := tc.leader()
		if l == nil {
			return false
		}
		s, err := a.status()
		ls, lerr := l.status()
		return err == nil && lerr == nil && s.Leader == l.name && len(s.Destinations) == len(ls.Destinations)
	})
}

// routerSessions lists "router/session id" of every session on the routers.
func (e *balancerEnv) routerSessions(t *testing.T) []string {
	var out []string
	for _, r := range e.n.routers {
		for _, s := range r.status(t).Sessions {
			out = append(out, fmt.Sprintf("%s/%d", r.name, s.ID))
		}
	}
	slices.Sort(out)
	return out
}

// TestSecretRotationProcesses rotates the cluster secret on a running
// cluster of 3 agents with 2 routers and a published destination, by the
// procedure of docs/security.md: every agent restarted with the new secret
// beside the old (--previous-secret-file), `imh cluster secret rotate`,
// every agent restarted with the new secret only. No router session is
// dropped (the routers' session ids never change), the destination's keys
// keep opening (after a leader SIGKILL following the rotation the new
// leader controls every router and publishes a new LeaseSet), and gossip
// works with the new key alone (every agent sees the 3 members after all
// restarted without the old secret).
func TestSecretRotationProcesses(t *testing.T) {
	clusterPool.join(t)
	e := startBalancerEnvN(t, []string{"r1", "r2"})
	e.waitStoredLeases(t, 90*time.Second, "6 leases, 3 per router", func(ls *i2p.LeaseSet2, by map[string]int) bool {
		return len(ls.Leases) == 6 && by["r1"] == 3 && by["r2"] == 3
	})
	sessions := e.routerSessions(t)
	if len(sessions) != 2 {
		t.Fatalf("sessions %v, want one per router", sessions)
	}
	checkSessions := func(when string) {
		t.Helper()
		if got := e.routerSessions(t); !slices.Equal(got, sessions) {
			t.Fatalf("%s: router sessions %v, want %v (a session was dropped)", when, got, sessions)
		}
	}

	oldFile := e.tc.secretFile
	newFile := filepath.Join(t.TempDir(), "secret.new")
	out := imhOK(t, "keygen")
	if err := os.WriteFile(newFile, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	oldS, _ := cluster.ParseSecret(readFile(t, oldFile))
	newS, _ := cluster.ParseSecret(out)
	oldID, newID := oldS.KeyID().String(), newS.KeyID().String()

	// A rotation before any agent holds the new secret changes nothing
	// (the leader's --secret-file is still the old one).
	var res cluster.SecretRotateResult
	leader := e.tc.waitLeader(30 * time.Second)
	if err := json.Unmarshal([]byte(balancerIMH(t, "cluster", "secret", "rotate", "--json", "--http-addr="+leader.httpAddr)), &res); err != nil || res.KeyID != oldID {
		t.Fatalf("rotate before step 1: %+v", res)
	}

	// Step 1: the new secret beside the old one, agent by agent.
	for i, a := range e.tc.agents {
		a.useSecrets(newFile, oldFile)
		e.tc.restartCaughtUp(t, a)
		checkSessions(fmt.Sprintf("step 1, %s restarted", a.name))
		if i == 0 { // two agents lack the new secret: refused, exit 1
			balancerIMH(t, "cluster", "transfer-leader", a.name, "--http-addr="+a.httpAddr)
			_, stderr, code := runIMH(t, "cluster", "secret", "rotate", "--http-addr="+a.httpAddr)
			if code != 1 || !strings.Contains(stderr, "does not hold the new secret") {
				t.Fatalf("rotate with agents lacking the new secret: exit %d: %s", code, stderr)
			}
			t.Logf("rotate with 2 agents lacking the new secret: exit %d %s", code, strings.TrimSpace(stderr))
			checkSessions("after the refused rotation")
		}
	}
	for _, p := range secretStatus(t, e.tc.agents[0]).Agents {
		if p.SealingKey != oldID || !slices.Equal(p.KeyIDs, []string{newID, oldID}) {
			t.Fatalf("before the rotation %s seals under %s and holds %v", p.Name, p.SealingKey, p.KeyIDs)
		}
	}

	// Step 2: the rotation.
	res = cluster.SecretRotateResult{}
	if err := json.Unmarshal([]byte(balancerIMH(t, "cluster", "secret", "rotate", "--json", "--http-addr="+e.tc.agents[2].httpAddr)), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.KeyID != newID || res.Resealed != 1 || len(res.Agents) != 3 {
		t.Fatalf("rotate: %+v", res)
	}
	eventually.True(t, 10*time.Second, "every agent sealing under the new key", func() bool {
		for _, p := range secretStatus(t, e.tc.agents[0]).Agents {
			if p.SealingKey != newID {
				return false
			}
		}
		return true
	})
	checkSessions("after the rotation")
	t.Logf("rotated: %+v", res)

	// The keys open on another agent: SIGKILL the leader; the new one
	// takes control of every router (a signed re-attach) and publishes a
	// new LeaseSet when asked for fewer tunnels.
	killed := e.tc.waitLeader(30 * time.Second)
	st, _ := killed.status()
	killed.proc.Kill()
	var term uint64
	eventually.True(t, 30*time.Second, "a new leader controlling every router", func() bool {
		next := e.tc.leader()
		if next == nil || next == killed {
			return false
		}
		s, err := next.status()
		if err != nil || s.Term <= st.Term {
			return false
		}
		term = s.Term
		return e.controlledBy(t, term)
	})
	before := balancerStoredLeaseSet(t, e.n, e.b32)
	balancerIMH(t, "dest", "set", "web", "--inbound", "2", "--http-addr="+e.tc.waitLeader(30*time.Second).httpAddr)
	e.waitStoredLeases(t, 90*time.Second, "a new LeaseSet with 2 leases per router", func(ls *i2p.LeaseSet2, by map[string]int) bool {
		return ls.Published > before.Published && len(ls.Leases) == 4 && by["r1"] == 2 && by["r2"] == 2
	})
	checkSessions("after the leader kill")
	t.Logf("%s killed; term %d controls every router; a new LeaseSet was published", killed.name, term)

	// Step 3: every agent with the new secret only (the killed one first).
	for _, a := range e.tc.agents {
		a.useSecrets(newFile, "")
		if a == killed {
			e.tc.start(a)
			eventually.True(t, 30*time.Second, a.name+" back", func() bool { s, err := a.status(); return err == nil && s.Leader != "" })
			continue
		}
		e.tc.restartCaughtUp(t, a)
		checkSessions(fmt.Sprintf("step 3, %s restarted", a.name))
	}
	eventually.True(t, 30*time.Second, "every agent: new key only, sealing under it, 3 gossip members", func() bool {
		st := secretStatus(t, e.tc.agents[0])
		for _, p := range st.Agents {
			if p.SealingKey != newID || !slices.Equal(p.KeyIDs, []string{newID}) || p.GossipMembers != 3 {
				return false
			}
		}
		return len(st.Agents) == 3 && st.KeyID == newID
	})
	l := e.tc.waitLeader(30 * time.Second)
	s, _ := l.status()
	eventually.True(t, 30*time.Second, "the leader controlling every router", func() bool { return e.controlledBy(t, s.Term) })
	checkSessions("after every agent restarted with the new secret only")

	// Writes still work: a destination created now is sealed under the
	// new key and published.
	balancerIMH(t, "dest", "create", "api", "--http-addr="+l.httpAddr)
	eventually.True(t, 90*time.Second, "api published", func() bool {
		s, err := l.status()
		if err != nil {
			return false
		}
		for _, d := range s.Destinations {
			if d.Name == "api" && d.Published != 0 {
				return true
			}
		}
		return false
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

//go:build integration

package integration

// The fault schedule of the chaos runs (runChaos, docs/reliability.md):
// which fault, which victim, for how long, drawn from the seed; and how
// each kind of fault is applied to a chaosEnv, held and healed.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/eventually"
)

// faultKind is one kind of fault of the chaos schedule.
type faultKind int

// The kinds, in the order of their names (faultNames). The schedule draws
// them by number: only append, or a seed's schedule changes.
const (
	faultAgentKill       faultKind = iota // SIGKILL an agent, restart it
	faultAgentStall                       // SIGSTOP an agent, SIGCONT it
	faultIsolate                          // cut every raft link of an agent
	faultRaftCut                          // cut one raft link
	faultRouterKill                       // SIGKILL a router, restart it
	faultRaftSlow                         // hold every chunk of one raft link 50-300 ms
	faultRaftFlaky                        // stall and reset one raft link now and then
	faultLeaderRouterCut                  // cut the leader from one router
	faultRouterIsolate                    // cut one router from every agent
	faultAPIIsolate                       // cut one agent's API from the others
	faultClockSkew                        // restart an agent with its clock minutes off, lead, restart it right
	faultDiskFull                         // fill an agent's data dir, free it
	faultGossipIsolate                    // cut an agent's gossip (UDP and TCP) from the others
	faultGossipLossy                      // drop 30 % of the UDP gossip packets between every two agents
	faultRaftLoss                         // the kernel drops 10 % of the packets on every raft port
	faultAPISlow                          // hold every chunk of one API link 50-300 ms
	faultRouterFlaky                      // stall and reset the leader's link to one router now and then
	numFaultKinds
)

var faultNames = [numFaultKinds]string{"agent-kill", "agent-stall", "isolate", "raft-cut", "router-kill", "raft-slow",
	"raft-flaky", "leader-router-cut", "router-isolate", "api-isolate", "clock-skew", "disk-full",
	"gossip-isolate", "gossip-lossy", "raft-loss", "api-slow", "router-flaky"}

// raftLossPct is the share of the packets on every agent's raft port the
// raft-loss fault drops.
const raftLossPct = 10

// gossipFailAfter is added to a gossip isolation's hold so that memberlist
// declares the victim failed within it: the leader's memberlist did after
// 5.2-6.4 s in TestNemesisGossip (a probe each second, a suspicion of 4 s);
// a hold of 2-6 s alone would often end before.
const gossipFailAfter = 5 * time.Second

func (k faultKind) String() string { return faultNames[k] }

// chaosSkews are the clock skews the schedule draws from: five minutes
// slow, as in TestClockSkewLeader, or three minutes fast. Either is far
// beyond balancer.MaxPublishedAhead (30 s), so a leader that trusted its
// own clock would publish nothing for minutes (slow) or stamp LeaseSets
// that every later leader must outrun (fast).
var chaosSkews = [...]time.Duration{-5 * time.Minute, 3 * time.Minute}

// chaosDiskSize is the tmpfs each agent's data dir is on in a chaos run,
// so that the disk-full fault can fill it: a data dir held 672 KiB in the
// middle of a 3-minute run, and stays small however long the run (raft
// keeps at most SnapshotThreshold + TrailingLogs entries, 3072, of a few
// hundred bytes each), so the disk fills only when the fault fills it;
// filling 64 MiB of memory takes a few tens of milliseconds.
const chaosDiskSize = "64m"

// plannedFault is one fault of the schedule. Every field is drawn for
// every fault, whatever its kind, so that one kind's draws never shift
// another's.
type plannedFault struct {
	Kind   faultKind
	Agent  int           // the victim agent's index, unless Leader and there is a leader
	Leader bool          // the victim is the current leader when there is one
	Peer   int           // 1 or 2: a link's far end is agent (victim+Peer) mod 3
	Router int           // the router (index) of a router fault
	Skew   time.Duration // of a clock-skew fault
	Hold   time.Duration // how long the fault lasts (2-6 s)
	Calm   time.Duration // the pause after its heal (1-3 s)
}

// chaosSchedule draws the faults of a run from its seed: first a pass with
// every kind once, in an order drawn from the seed, then kinds drawn at
// random, each equally likely. The first pass makes a short run cover
// every kind: drawn at random, seventeen kinds need 59 faults on average
// (about 6 minutes) before each has come up.
type chaosSchedule struct {
	rng   *rand.Rand
	first []plannedFault
	n     int // faults handed out
}

func newChaosSchedule(seed uint64) *chaosSchedule {
	s := &chaosSchedule{rng: rand.New(rand.NewPCG(seed, 0xc4a05))}
	for _, k := range s.rng.Perm(int(numFaultKinds)) {
		s.first = append(s.first, s.draw(faultKind(k)))
	}
	return s
}

func (s *chaosSchedule) draw(kind faultKind) plannedFault {
	return plannedFault{
		Kind:   kind,
		Agent:  s.rng.IntN(3),
		Leader: s.rng.IntN(2) == 0,
		Peer:   1 + s.rng.IntN(2),
		Router: s.rng.IntN(2),
		Skew:   chaosSkews[s.rng.IntN(len(chaosSkews))],
		Hold:   time.Duration(2000+s.rng.IntN(4000)) * time.Millisecond,
		Calm:   time.Duration(1000+s.rng.IntN(2000)) * time.Millisecond,
	}
}

// next is the next fault.
func (s *chaosSchedule) next() plannedFault {
	s.n++
	if s.n <= len(s.first) {
		return s.first[s.n-1]
	}
	return s.draw(faultKind(s.rng.IntN(int(numFaultKinds))))
}

// firstPassDone reports whether every fault of the first pass was handed out.
func (s *chaosSchedule) firstPassDone() bool { return s.n >= len(s.first) }

// firstPass is the planned time of the first pass: its holds and calms.
func (s *chaosSchedule) firstPass() time.Duration {
	var d time.Duration
	for _, f := range s.first {
		d += f.Hold + f.Calm
		if f.Kind == faultGossipIsolate {
			d += gossipFailAfter
		}
	}
	return d
}

// firstPassOverhead is what the first pass takes on top of its holds and
// calms, for sizing the one-way sender: the clock skew's two restarts, the
// wait for the skewed agent to follow and to lead, the leader lookups.
// Measured: about 6 s; the rest is room for a loaded machine.
const firstPassOverhead = 15 * time.Second

// skewOutcome is what one clock-skew fault did, for the report.
type skewOutcome struct {
	Agent     string `json:"agent"`
	Skew      string `json:"skew"`
	Led       bool   `json:"led"`       // the skewed agent led during the hold
	Published int    `json:"published"` // LeaseSets it published while skewed (any destination)
	PubWeb    int    `json:"published_web"`
	// RoutersTime: it logged that it runs on the routers' time (the
	// median of their clock offsets corrects its own clock).
	RoutersTime bool `json:"routers_time"`
}

// faultRun is what the applied faults did, for the report.
type faultRun struct {
	applied     map[string]int    // fault kind -> how many ran
	unavailable map[string]string // fault kind -> why it cannot run here
	skipped     map[string]int    // fault kind -> draws skipped as unavailable
	skews       []skewOutcome
	diskFull    int // disk-full faults after which the victim had logged its full data dir
}

func newFaultRun() *faultRun {
	return &faultRun{applied: map[string]int{}, unavailable: map[string]string{}, skipped: map[string]int{}}
}

// apply injects f into e, holds it for f.Hold and heals it. Victims that
// depend on the cluster's state (the current leader) are resolved now.
// A kill or a clock skew (a restart) drawn for an agent or router in spare
// stalls the victim instead; a kind that cannot run here (a full disk
// without root) is skipped, logged and counted in fr.
func (e *chaosEnv) apply(t *testing.T, f plannedFault, spare map[string]bool, fr *faultRun) {
	victim := e.tc.agents[f.Agent]
	if f.Leader {
		if l := e.tc.leader(); l != nil {
			victim = l
		}
	}
	peer := func() *clusterAgent { return e.tc.agents[(slices.Index(e.tc.agents, victim)+f.Peer)%3] }
	router := e.n.routers[f.Router%len(e.n.routers)]
	hold := func() { time.Sleep(f.Hold) }
	ran := f.Kind
	stall := func() {
		ran = faultAgentStall
		e.nm.Stall(victim)
		hold()
		e.nm.Resume(victim)
	}
	// healed applies a fault, holds it and heals every link.
	healed := func(fault func()) {
		fault()
		hold()
		e.nm.HealAll()
	}
	switch f.Kind {
	case faultAgentKill:
		if spare[victim.name] {
			stall()
			break
		}
		e.nm.Kill(victim)
		hold()
		e.nm.Restart(victim)
	case faultAgentStall:
		stall()
	case faultIsolate:
		healed(func() { e.nm.Isolate(victim.name) })
	case faultRaftCut:
		other := peer()
		healed(func() { e.nm.Cut(victim.name, other.name) })
	case faultRouterKill:
		if spare[router.name] {
			stall()
			break
		}
		e.nm.KillRouter(router)
		hold()
		e.nm.RestartRouter(router)
	case faultRaftSlow:
		other := peer()
		healed(func() { e.nm.Delay(victim.name, other.name, 50*time.Millisecond, 300*time.Millisecond) })
	case faultRaftFlaky:
		other := peer()
		healed(func() { e.nm.Flaky(victim.name, other.name) })
	case faultLeaderRouterCut: // the agent that talks to routers
		if l := e.tc.leader(); l != nil {
			victim = l
		}
		healed(func() { e.nm.CutRouter(victim.name, router.name) })
	case faultRouterIsolate:
		healed(func() { e.nm.IsolateRouter(router.name) })
	case faultAPIIsolate: // no forwarding either way
		healed(func() { e.nm.IsolateAPI(victim.name) })
	case faultClockSkew:
		if spare[victim.name] {
			stall()
			break
		}
		fr.skews = append(fr.skews, e.skewClock(t, victim, f.Skew, hold))
	case faultGossipIsolate:
		healed(func() {
			e.nm.IsolateGossip(victim.name)
			time.Sleep(gossipFailAfter)
		})
	case faultGossipLossy:
		healed(func() {
			for i, a := range e.tc.agents {
				for _, b := range e.tc.agents[i+1:] {
					e.nm.LossyGossip(a.name, b.name)
				}
			}
		})
	case faultAPISlow:
		other := peer()
		healed(func() { e.nm.DelayOn(planeAPI, victim.name, other.name, 50*time.Millisecond, 300*time.Millisecond) })
	case faultRouterFlaky: // the agent that talks to routers
		if l := e.tc.leader(); l != nil {
			victim = l
		}
		healed(func() { e.nm.FlakyOn(planeRouter, victim.name, router.name) })
	case faultRaftLoss:
		if why := e.nm.LossUnavailable(); why != "" {
			fr.unavailable[f.Kind.String()] = why
			fr.skipped[f.Kind.String()]++
			t.Logf("nemesis: %s drawn but not available: %s", f.Kind, why)
			return
		}
		healed(func() {
			for _, a := range e.tc.agents {
				e.nm.LosePackets(a.name, raftLossPct)
			}
		})
	case faultDiskFull:
		if why := e.nm.DiskUnavailable(); why != "" {
			fr.unavailable[f.Kind.String()] = why
			fr.skipped[f.Kind.String()]++
			t.Logf("nemesis: %s of %s drawn but not available: %s", f.Kind, victim.name, why)
			return
		}
		e.nm.FillDisk(victim)
		hold()
		if strings.Contains(victim.proc.Log(), "data dir full or read-only") {
			fr.diskFull++
		}
		e.nm.FreeDisk(victim)
	}
	fr.applied[ran.String()]++
}

// skewClock restarts a with its clock off by skew, makes it the leader
// (`imh cluster transfer-leader` unless it won an election), holds, and
// restarts it with the right clock. A skewed follower stamps nothing, so
// leading is the point; when it cannot be made to lead within bounds the
// fault still holds, and the outcome says so.
func (e *chaosEnv) skewClock(t *testing.T, a *clusterAgent, skew time.Duration, hold func()) skewOutcome {
	out := skewOutcome{Agent: a.name, Skew: skew.String()}
	e.nm.Skew(a, skew)
	var leader string
	following := eventually.Within(30*time.Second, func() bool {
		st, err := a.status()
		if err != nil || st.Leader == "" {
			return false
		}
		leader = st.Leader
		return true
	})
	if !strings.Contains(a.proc.Log(), "balancer clock skewed for a test") {
		t.Errorf("%s restarted with IMH_TEST_CLOCK_SKEW=%v does not log its skewed clock; log tail:\n%s", a.name, skew, a.proc.LogTail(20))
	}
	switch {
	case !following:
		t.Logf("nemesis: %s, skewed, knows no leader within 30 s", a.name)
	case leader != a.name:
		e.nm.record("transfer-leader", a.name)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := e.tc.agent(leader).api().TransferLeader(ctx, a.name)
		cancel()
		if err != nil {
			t.Logf("nemesis: transfer the leadership from %s to %s: %v", leader, a.name, err)
		}
	}
	out.Led = eventually.Within(10*time.Second, func() bool {
		st, err := a.status()
		return err == nil && st.Leader == a.name
	})
	hold()
	log := a.proc.Log() // this lifetime's: skewed throughout
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="leaseset published"`) {
			out.Published++
			if strings.Contains(line, " dest=web ") {
				out.PubWeb++
			}
		}
	}
	out.RoutersTime = strings.Contains(log, `msg="running on the routers' time"`)
	t.Logf("nemesis: %s skewed %v: led %v, published %d LeaseSets (%d of web), on the routers' time %v",
		a.name, skew, out.Led, out.Published, out.PubWeb, out.RoutersTime)
	e.nm.Unskew(a)
	return out
}

// TestChaosSchedule checks the schedule without processes: the same seed
// draws the same faults; the first pass has every kind once; later faults
// are drawn at random; the holds and calms stay within their ranges.
func TestChaosSchedule(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		a, b := newChaosSchedule(seed), newChaosSchedule(seed)
		seen := map[faultKind]bool{}
		later := map[faultKind]int{}
		for i := range 200 {
			fa, fb := a.next(), b.next()
			if fa != fb {
				t.Fatalf("seed %d, fault %d: %+v then %+v from the same seed", seed, i, fa, fb)
			}
			if i < int(numFaultKinds) {
				if seen[fa.Kind] {
					t.Fatalf("seed %d: %s twice in the first pass", seed, fa.Kind)
				}
				seen[fa.Kind] = true
			} else {
				later[fa.Kind]++
			}
			if fa.Hold < 2*time.Second || fa.Hold >= 6*time.Second || fa.Calm < time.Second || fa.Calm >= 3*time.Second {
				t.Fatalf("seed %d, fault %d: hold %v, calm %v", seed, i, fa.Hold, fa.Calm)
			}
			if fa.Skew == 0 || fa.Peer < 1 || fa.Peer > 2 {
				t.Fatalf("seed %d, fault %d: %+v", seed, i, fa)
			}
			if i == int(numFaultKinds)-1 && !a.firstPassDone() {
				t.Fatalf("seed %d: first pass not done after %d faults", seed, i+1)
			}
		}
		if len(later) < int(numFaultKinds)/2 {
			t.Errorf("seed %d: only %d kinds among 188 faults after the first pass: %v", seed, len(later), later)
		}
		if p := newChaosSchedule(seed).firstPass(); p < time.Duration(numFaultKinds)*3*time.Second || p > time.Duration(numFaultKinds)*9*time.Second {
			t.Errorf("seed %d: first pass planned for %v", seed, p)
		}
	}
	if fmt.Sprint(faultKind(0)) != "agent-kill" || fmt.Sprint(numFaultKinds-1) != "router-flaky" {
		t.Errorf("fault names out of step with the kinds")
	}
}

// TestChaosFaultUnavailable checks, without processes, that a disk-full
// fault drawn where the data dirs are not tmpfs mounts (not root), or a
// raft-loss fault where iptables cannot run, is skipped at once (no hold,
// no event) and reported: why, and how many draws were skipped.
func TestChaosFaultUnavailable(t *testing.T) {
	tc := &testCluster{t: t, agents: []*clusterAgent{{name: "n1"}, {name: "n2"}, {name: "n3"}}}
	nm := &nemesis{t: t, tc: tc, noDisk: "needs root to mount a tmpfs (euid 1000)"}
	e := &chaosEnv{n: &routerNet{routers: []*routerProc{{name: "r1"}, {name: "r2"}}}, tc: tc, nm: nm}
	fr := newFaultRun()
	start := time.Now()
	for range 2 {
		e.apply(t, plannedFault{Kind: faultDiskFull, Agent: 1, Peer: 1, Hold: time.Hour}, nil, fr)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("an unavailable fault took %v (held?)", took)
	}
	k := faultDiskFull.String()
	if fr.unavailable[k] != nm.noDisk || fr.skipped[k] != 2 || fr.applied[k] != 0 || len(nm.Events()) != 0 {
		t.Errorf("unavailable %q, skipped %d, applied %d, events %v", fr.unavailable[k], fr.skipped[k], fr.applied[k], nm.Events())
	}
	nm.noDisk = ""
	if why := nm.DiskUnavailable(); !strings.Contains(why, "not tmpfs mounts") {
		t.Errorf("no disk size asked for: DiskUnavailable %q", why)
	}
	// The same for the loss of packets without root or iptables.
	nm.noLoss = "needs root for iptables (euid 1000)"
	e.apply(t, plannedFault{Kind: faultRaftLoss, Agent: 0, Peer: 1, Hold: time.Hour}, nil, fr)
	k = faultRaftLoss.String()
	if fr.unavailable[k] != nm.noLoss || fr.skipped[k] != 1 || fr.applied[k] != 0 || len(nm.Events()) != 0 {
		t.Errorf("raft-loss: unavailable %q, skipped %d, applied %d, events %v", fr.unavailable[k], fr.skipped[k], fr.applied[k], nm.Events())
	}
}

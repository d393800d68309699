package balancer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"time"

	"github.com/imh-project/imh/i2p"
)

// The decisions of the leader loop that do not need I/O live here as pure
// functions of plain values, so that the loop and the simulated whole-system
// run (observe/sim) execute the same policy code: what the sim measures is
// what the cluster does.

// InboundShare is how many inbound tunnels (and leases) each router of a
// destination keeps: inbound while every router is up; under spread, when
// some routers are known to be down, the others cover their share so that
// the lease count recovers (up to 16 in all), and give it back when they
// return. Failover publishes one router's leases at a time, so there is
// nothing to cover.
func InboundShare(policy string, inbound, routers, down int) int {
	if policy == PolicyFailover {
		return inbound
	}
	up := routers - down
	if up <= 0 || up == routers {
		return inbound
	}
	total := min(i2p.MaxLeases, inbound*routers)
	return max(inbound, (total+up-1)/up)
}

// BuildShare is how many inbound tunnels each router that is up keeps
// built: its share (InboundShare) and, under spread with at least three
// routers up, enough spares that the others can cover one more router's
// death at once. Without spares a router's death showed as LeaseSets a
// few leases short until the others had built their new share, which one
// router never publishes (issue 20: lease_count advantage 0.17-0.22 in
// imh-churn against a noise floor of 0.01-0.05, three seeds). With two
// routers up the spares would double the tunnels; they are left out.
// Only share tunnels per router go into the LeaseSet (the spares are the
// freshest, so they also take over from the leases being retired).
func BuildShare(policy string, inbound, routers, down int) int {
	share := InboundShare(policy, inbound, routers, down)
	if policy == PolicyFailover || routers-down < 3 {
		return share
	}
	return max(share, InboundShare(policy, inbound, routers, down+1))
}

// replaceLeadLabel separates ReplaceLead's use of the destination's
// gateway slice key from the slice's.
const replaceLeadLabel = "imh replace lead v1"

// ReplaceLead is how long before its end an inbound tunnel's replacement
// is started: base plus a share of jitter picked by HMAC-SHA256 of the
// tunnel under the destination's secret key (GatewaySliceKey). A stock
// router's tunnels drift apart over the hours as its failed builds are
// retried; the balancer hedges slow builds (SlowBuild), so its routers'
// tunnels, built together when a destination starts, stayed in step and
// whole generations were replaced by one LeaseSet (issue 20: max_replaced
// 0.64 against one router's 0.54, outside the noise floor). The jitter
// restores that drift. It is keyed so that an observer, who sees the
// gateway and tunnel id of every lease, cannot tell imh by replacement
// times that follow a public function of them; and it is a function of
// the tunnel, not a draw, so that every leader plans the same. A nil key
// or no jitter gives base.
func ReplaceLead(key []byte, gateway i2p.Hash, tunnelID uint32, base, jitter time.Duration) time.Duration {
	if len(key) == 0 || jitter <= 0 {
		return base
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(replaceLeadLabel))
	mac.Write(gateway[:])
	mac.Write(binary.BigEndian.AppendUint32(nil, tunnelID))
	v := binary.BigEndian.Uint64(mac.Sum(nil))
	return base + time.Duration(v%uint64(jitter))
}

// Waves: a destination's inbound tunnels are replaced in waves, each
// tunnel's successor falling due about one generation (TunnelLifetime less
// ReplaceBefore) after it. A tunnel built out of turn (a router returning,
// the others growing their share when one died) starts a lineage of its
// own, out of step with the main wave: its router's leases go on changing
// between the waves, and each change is a LeaseSet store of its own, all
// day (issue 20: imh-churn 3.3 stores per burst against one router's 4.6,
// its lease ends spread over 284 s against 82 s). StepPlan lets the main
// wave take such tunnels along: during the wave their successors are
// built in step, and they lapse at their own time unreplaced.

// StepGap is the least gap, in phase within a generation, between the
// main wave's replacements and a tunnel's for it to be out of step: well
// above the gaps inside a wave of a dozen tunnels whose ends have drifted
// apart for a day (a few seconds; a stock router's spread over 60-120 s).
// Measured (issue 20, fifteen seeds): 45 s let a returning router's
// tunnels that landed beside the wave stay there and widen it with every
// return (imh-churn 20.9 % of comparisons outside, 961 stores a day); 30 s
// 15.5 %, 832 stores, and the wave's own stragglers pulled a few times a
// day (imh-spread, seed 6: 5; at 25 s, 24).
const StepGap = 30 * time.Second

// stepWindow is how long after a main-wave tunnel falls due the wave
// still takes the out-of-step ones along (a few loop steps).
const stepWindow = 15 * time.Second

// StepPlan is what a leader step knows of the destination's waves.
type StepPlan struct {
	wave   bool
	gen    time.Duration
	lo, hi time.Duration // the main wave's phases, lo..hi (hi < lo: wraps)
}

// NewStepPlan sees where the main wave is from due: for every live inbound
// tunnel of the destination (all routers), when its replacement starts
// (end minus its ReplaceLead); base is ReplaceBefore. The tunnels' phases
// (due modulo a generation) group where no gap of StepGap or more parts
// them; the largest group is the main wave, and now is in it when one of
// its tunnels fell due within stepWindow before now.
func NewStepPlan(now time.Time, due []time.Time, base time.Duration) StepPlan {
	p := StepPlan{gen: TunnelLifetime - base}
	if p.gen <= 2*StepGap || !dueBetween(due, now.Add(-stepWindow), now) {
		return p
	}
	lo, hi, ok := mainGroup(p.sortedPhases(due), p.gen)
	if !ok {
		return p // one group: every tunnel is in step
	}
	p.lo, p.hi = lo, hi
	for _, d := range due {
		if d.After(now.Add(-stepWindow)) && !d.After(now) && p.inStep(d) {
			p.wave = true
			break
		}
	}
	return p
}

func dueBetween(due []time.Time, from, to time.Time) bool {
	for _, d := range due {
		if d.After(from) && !d.After(to) {
			return true
		}
	}
	return false
}

func (p StepPlan) phase(d time.Time) time.Duration {
	ph := d.UnixNano() % int64(p.gen)
	if ph < 0 {
		ph += int64(p.gen)
	}
	return time.Duration(ph)
}

// sortedPhases is the phases of due, in order.
func (p StepPlan) sortedPhases(due []time.Time) []time.Duration {
	phases := make([]time.Duration, len(due))
	for i, d := range due {
		phases[i] = p.phase(d)
	}
	slices.Sort(phases)
	return phases
}

// inStep reports whether a tunnel due at d is in the main wave's phases.
func (p StepPlan) inStep(d time.Time) bool {
	ph := p.phase(d)
	if p.lo <= p.hi {
		return ph >= p.lo && ph <= p.hi
	}
	return ph >= p.lo || ph <= p.hi
}

// mainGroup splits sorted phases on a circle of length gen where
// neighbours are StepGap or more apart and returns the largest group's
// first and last phase (the first largest, so that it is deterministic);
// ok is false when nothing splits them.
func mainGroup(phases []time.Duration, gen time.Duration) (lo, hi time.Duration, ok bool) {
	n := len(phases)
	if n == 0 {
		return 0, 0, false
	}
	var cuts []int // phases[i] starts a group
	for i := range n {
		prev := phases[(i+n-1)%n]
		gap := phases[i] - prev
		if i == 0 {
			gap += gen
		}
		if gap >= StepGap {
			cuts = append(cuts, i)
		}
	}
	if len(cuts) == 0 {
		return 0, 0, false
	}
	best, size := 0, -1
	for k, c := range cuts {
		next := cuts[(k+1)%len(cuts)]
		m := (next - c + n) % n
		if m == 0 {
			m = n
		}
		if m > size {
			best, size = k, m
		}
	}
	first := cuts[best]
	return phases[first], phases[(first+size-1)%n], true
}

// WaveSpan is the shortest part of a generation that holds the phases of
// every due (as for NewStepPlan): how far a destination's tunnels are from
// being replaced in one wave (a wave's own drift is a minute or two).
func WaveSpan(due []time.Time, base time.Duration) time.Duration {
	gen := TunnelLifetime - base
	if gen <= 0 || len(due) < 2 {
		return 0
	}
	phases := StepPlan{gen: gen}.sortedPhases(due)
	widest := phases[0] + gen - phases[len(phases)-1]
	for i := 1; i < len(phases); i++ {
		widest = max(widest, phases[i]-phases[i-1])
	}
	return gen - widest
}

// Wave reports whether now is in the destination's main wave.
func (p StepPlan) Wave() bool { return p.wave }

// Healthy counts a router's inbound tunnels (due as for NewStepPlan) that
// need no replacement yet, for TunnelsToBuild: those not yet due; during
// the main wave only those in step with it, so that the wave builds the
// others' successors.
func (p StepPlan) Healthy(now time.Time, due []time.Time) int {
	n := 0
	for _, d := range due {
		if d.After(now) && (!p.wave || p.inStep(d)) {
			n++
		}
	}
	return n
}

// LeaseTarget is how many leases the LeaseSet should carry with up routers
// serving, each keeping share inbound tunnels.
func LeaseTarget(policy string, share, up int) int {
	if policy == PolicyFailover {
		return share
	}
	return min(i2p.MaxLeases, share*up)
}

// TunnelsToBuild is how many builds to start for one router and direction:
// enough for target tunnels with more than the replacement margin left
// (healthy), counting builds in flight that are not yet slow (fresh); and,
// since a slow build has probably been dropped by a hop, at most twice the
// target in flight altogether (all), as stock routers do.
func TunnelsToBuild(target, healthy, fresh, all int) int {
	return max(0, min(target-healthy-fresh, 2*target-all))
}

// PublishInput is what the publish decision looks at, as plain values.
type PublishInput struct {
	Now time.Time
	// Selected are the leases the policy chose now; Last those of the last
	// LeaseSet published (nil before the first).
	Selected, Last []Lease
	// LastExpires is when the last LeaseSet expires (zero before the
	// first); LastAt when this leader published it (zero: never).
	LastExpires, LastAt time.Time
	// ChangeSince is when the first change not yet published was noticed
	// (zero: none waits).
	ChangeSince time.Time
	// Urgent: a lease of the last LeaseSet died or a router asked.
	Urgent bool
	// Asked: a router is waiting for a LeaseSet (NeedLeaseSet).
	Asked bool
	// Settling: shortly after a failover switch (Settling).
	Settling bool
	// DeadLease: the last LeaseSet holds a lease whose tunnel is gone.
	DeadLease bool
	// Target is LeaseTarget for the routers up.
	Target int
}

// PublishConfig paces publication.
type PublishConfig struct {
	// RepublishBefore: republish this long before the LeaseSet expires.
	RepublishBefore time.Duration
	// Coalesce: how long a change that breaks nothing waits for company.
	Coalesce time.Duration
	// MinInterval: the least time between two LeaseSets that repair
	// nothing (a single router's publish cadence).
	MinInterval time.Duration
	// UrgentInterval: the least time between two LeaseSets when the
	// second drops a dead lease or answers an urgent need.
	UrgentInterval time.Duration
}

// PublishAction is the outcome of DecidePublish.
type PublishAction int

// Publish actions.
const (
	// PublishIdle: nothing to publish; any pending change is forgotten.
	PublishIdle PublishAction = iota
	// PublishWait: something changed but may wait (coalescing, or the
	// last LeaseSet is too recent); the change is noted.
	PublishWait
	// PublishNow: build and publish a LeaseSet now.
	PublishNow
)

// DecidePublish says whether a new LeaseSet goes out: when the policy's
// choice differs from the last one, or the last expires soon and a new one
// would live longer, or a router asked while something was urgent, or a
// failover is settling. Dropping a dead lease, filling a LeaseSet short of
// its leases, urgency and expiry publish at once; other changes wait
// Coalesce for company, so tunnels replaced together give one LeaseSet as a
// single router's would. LeaseSets are at least MinInterval apart, as a
// single router's are (i2pd: 20 s), or UrgentInterval when a dead lease
// must go: a cadence faster than one router's would show an observer
// several routers' tunnels changing.
func DecidePublish(c PublishConfig, in PublishInput) PublishAction {
	if len(in.Selected) == 0 {
		return PublishIdle
	}
	changed := !SameLeases(in.Selected, in.Last)
	expiring := in.Last == nil || !in.Now.Before(in.LastExpires.Add(-c.RepublishBefore)) &&
		latestEnd(in.Selected) > uint32(in.LastExpires.Unix())
	force := in.Asked && in.Urgent
	if !changed && !expiring && !force && !in.Settling {
		return PublishIdle
	}
	growing := len(in.Selected) > len(in.Last) && len(in.Last) < in.Target
	if !(in.Urgent || expiring || growing || in.Settling || in.DeadLease) {
		since := in.ChangeSince
		if since.IsZero() {
			since = in.Now
		}
		if in.Now.Sub(since) < c.Coalesce {
			return PublishWait
		}
	}
	gap := c.MinInterval
	if in.Urgent || in.DeadLease {
		gap = c.UrgentInterval
	}
	if !in.LastAt.IsZero() && in.Now.Sub(in.LastAt) < gap {
		return PublishWait
	}
	return PublishNow
}

// Settling reports whether, shortly after a failover switch at switchedAt,
// a fresh LeaseSet is due although nothing changed (Config.SettleFor).
func Settling(settleFor, settleEvery time.Duration, switchedAt, lastAt, now time.Time) bool {
	if settleFor <= 0 || switchedAt.IsZero() || now.Sub(switchedAt) >= settleFor {
		return false
	}
	return now.Sub(lastAt) >= settleEvery
}

// PublishConfig is the publication pacing of c.
func (c Config) PublishConfig() PublishConfig {
	return PublishConfig{RepublishBefore: c.RepublishBefore, Coalesce: c.Coalesce,
		MinInterval: max(c.MinPublishInterval, time.Second), UrgentInterval: time.Second}
}

// TierSize is the fast-tier size the gateway set is sized from, given the
// sizes of the routers' known fast tiers: the median (the lower one of an
// even count), so that one router with an unusually large tier does not
// make the set larger than a typical single router's slice.
func TierSize(sizes []int) int {
	if len(sizes) == 0 {
		return 0
	}
	s := slices.Clone(sizes)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

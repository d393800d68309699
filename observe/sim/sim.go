package sim

import (
	"container/heap"
	"errors"
	"fmt"
	"time"

	"github.com/imh-project/imh/balancer"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/observe"
	"github.com/imh-project/imh/router/simnet"
)

// Run names, also the names of the files `imh simnet observe` writes
// (plus ".json").
const (
	RunSingleA     = "single-a"
	RunSingleB     = "single-b"
	RunIMHSpread   = "imh-spread"
	RunIMHFailover = "imh-failover"
	RunNaive       = "naive"
	RunIMHChurn    = "imh-churn"
)

// Runs lists every run, in the order they are made.
var Runs = []string{RunSingleA, RunSingleB, RunIMHSpread, RunIMHFailover, RunNaive, RunIMHChurn}

// MaxSingles is how many single-router runs there are names for:
// single-a to single-z.
const MaxSingles = 26

// SingleRun names the i-th single-router run (0 ≤ i < MaxSingles):
// single-a, single-b, single-c, ... The first two are RunSingleA and
// RunSingleB; the others are further stock routers for a population
// floor, each from a seed of its own.
func SingleRun(i int) string {
	if i < 0 || i >= MaxSingles {
		panic(fmt.Sprintf("sim: single run %d out of range", i))
	}
	return "single-" + string(rune('a'+i))
}

// RunsWithSingles lists the runs of `imh simnet observe --singles n`
// (2 ≤ n ≤ MaxSingles) in the order they are made: the n single-router
// runs, then the others of Runs. For n = 2 it is Runs.
func RunsWithSingles(n int) ([]string, error) {
	if n < 2 || n > MaxSingles {
		return nil, fmt.Errorf("%w: singles %d, want 2..%d", ErrConfig, n, MaxSingles)
	}
	runs := make([]string, 0, n+len(Runs)-2)
	for i := range n {
		runs = append(runs, SingleRun(i))
	}
	return append(runs, Runs[2:]...), nil
}

// runSeed is the seed run name derives from c.Seed. The runs of Runs take
// c.Seed·len(Runs) + their index, as they always have (the files of a seed
// do not change). A further single (single-c on) takes a hash of c.Seed and
// its name: an index past len(Runs) would be another seed's run, and two
// seeds' populations would share routers. ok is false for an unknown name.
func runSeed(c Config, name string) (seed uint64, ok bool) {
	for i, r := range Runs {
		if r == name {
			return c.Seed*uint64(len(Runs)) + uint64(i), true
		}
	}
	for i := 2; i < MaxSingles; i++ {
		if SingleRun(i) == name {
			return simnet.SeededRand(int64(c.Seed), "observe single", name).Uint64(), true
		}
	}
	return 0, false
}

// isSingle reports whether name is a single-router run.
func isSingle(name string) bool {
	for i := range MaxSingles {
		if SingleRun(i) == name {
			return true
		}
	}
	return false
}

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("sim: bad config")

// Config describes the runs.
type Config struct {
	// Routers serve the destination in the imh and naive runs.
	Routers int
	// Hours of simulated time per run.
	Hours float64
	// Seed makes everything random; each run derives its own seed from it
	// so that runs are independent.
	Seed uint64
	// ChurnPolicy is the lease policy of the imh-churn run.
	ChurnPolicy string
	// Leases is how many leases the LeaseSet carries: a single router's
	// inbound quantity; under spread each of the routers keeps
	// ceil(Leases/Routers), under failover each keeps Leases.
	Leases int
	// Hops is the length of the inbound tunnels.
	Hops int
	// ChurnEvery and ChurnDown: in imh-churn one router (in turn) dies
	// every ChurnEvery and returns ChurnDown later.
	ChurnEvery, ChurnDown time.Duration
	// Balancer is the pacing of the imh runs; DefaultConfig takes
	// balancer.DefaultConfig's, so the sim measures what agents run.
	Balancer balancer.Config
}

// Start is the simulated time every run starts at.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultConfig is 4 routers, 24 hours, seed 1, 12 leases of 3 hops.
func DefaultConfig() Config {
	return Config{
		Routers: 4, Hours: 24, Seed: 1, ChurnPolicy: balancer.PolicySpread,
		Leases: 12, Hops: 3, ChurnEvery: 6 * time.Hour, ChurnDown: 30 * time.Minute,
		Balancer: balancer.DefaultConfig(),
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Routers < 1 || c.Routers > 16:
		return fmt.Errorf("%w: routers %d, want 1..16", ErrConfig, c.Routers)
	case !(c.Hours > 0) || c.Hours > 24*7:
		return fmt.Errorf("%w: hours %v, want (0, 168]", ErrConfig, c.Hours)
	case c.Leases < 1 || c.Leases > i2p.MaxLeases:
		return fmt.Errorf("%w: leases %d, want 1..%d", ErrConfig, c.Leases, i2p.MaxLeases)
	case c.Hops < 1 || c.Hops > 7:
		return fmt.Errorf("%w: hops %d, want 1..7", ErrConfig, c.Hops)
	case c.ChurnEvery <= c.ChurnDown || c.ChurnDown <= 0:
		return fmt.Errorf("%w: churn every %s, down %s", ErrConfig, c.ChurnEvery, c.ChurnDown)
	case c.Balancer.ReplaceJitter < 0 || c.Balancer.ReplaceJitter >= c.Balancer.ReplaceBefore:
		return fmt.Errorf("%w: replace jitter %s, want 0 .. %s", ErrConfig, c.Balancer.ReplaceJitter, c.Balancer.ReplaceBefore)
	}
	if _, err := balancer.PolicyByName(c.ChurnPolicy); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// Run makes one run (one of Runs) and returns what the floodfills stored.
func Run(c Config, name string) (*observe.History, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	seed, ok := runSeed(c, name)
	if !ok {
		return nil, fmt.Errorf("%w: unknown run %q", ErrConfig, name)
	}
	s, err := newSim(c, seed)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	routers := c.Routers
	switch {
	case isSingle(name):
		routers = 1
		s.addStock(s.router("r1"), c.Leases)
	case name == RunNaive:
		s.addNaive(c)
	case name == RunIMHSpread:
		_, err = s.addIMH(c, balancer.PolicySpread, (c.Leases+c.Routers-1)/c.Routers, false)
	case name == RunIMHFailover:
		_, err = s.addIMH(c, balancer.PolicyFailover, c.Leases, false)
	case name == RunIMHChurn:
		inbound := (c.Leases + c.Routers - 1) / c.Routers
		if c.ChurnPolicy == balancer.PolicyFailover {
			inbound = c.Leases
		}
		_, err = s.addIMH(c, c.ChurnPolicy, inbound, true)
	}
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	s.run(Start.Add(time.Duration(c.Hours * float64(time.Hour))))
	if err := s.err; err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	return &observe.History{Run: name, Seed: c.Seed, Routers: routers, Hours: c.Hours, Stores: s.db.stores}, nil
}

// event is something due at a simulated time; seq keeps events of the same
// time in the order they were scheduled, so a run is deterministic.
type event struct {
	at  time.Time
	seq uint64
	fn  func()
}

type queue []event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if c := q[i].at.Compare(q[j].at); c != 0 {
		return c < 0
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// at schedules fn at t (not before now).
func (s *sim) at(t time.Time, fn func()) {
	if t.Before(s.clock.now) {
		t = s.clock.now
	}
	s.seq++
	heap.Push(&s.q, event{at: t, seq: s.seq, fn: fn})
}

// every runs fn at start and then every d.
func (s *sim) every(start time.Time, d time.Duration, fn func()) {
	var tick func()
	tick = func() {
		fn()
		s.at(s.clock.now.Add(d), tick)
	}
	s.at(start, tick)
}

// run plays events until the queue is empty, until, or a failure.
func (s *sim) run(until time.Time) {
	for s.q.Len() > 0 && s.err == nil {
		e := heap.Pop(&s.q).(event)
		if e.at.After(until) {
			return
		}
		s.clock.now = e.at
		e.fn()
	}
}

// fail stops the run with err (the first one wins).
func (s *sim) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

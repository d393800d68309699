package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

const (
	barrierTimeout   = 5 * time.Second
	leaderWorkPause  = time.Second
	reconcileEvery   = 2 * time.Second
	addVoterTimeout  = 5 * time.Second
	barrierRetryWait = 200 * time.Millisecond
)

// Establishing leadership (the Barrier, then starting the leader work) that
// fails this many times in a row makes the leader hand leadership to another
// voter, as consul's leaderLoop does. A run of the leader work shorter than
// leaderWorkHealthy counts as a failure to establish it.
const (
	maxEstablishFailures = 3
	leaderWorkHealthy    = 10 * time.Second
	stepDownRetryWait    = 5 * time.Second
	barrierWait          = 30 * time.Second // a Barrier waits for the fsm to catch up
)

// leaderFlag is the latest leadership value raft reported on NotifyCh and
// the number of losses seen so far. drainNotify keeps it current in its own
// goroutine, so raft's blocking send on NotifyCh (made by raft's main
// goroutine, which also answers RPCs) always proceeds at once, however long
// the old leader work takes to stop.
type leaderFlag struct {
	mu      sync.Mutex
	leader  bool
	losses  uint64
	changed chan struct{} // capacity 1: pinged on every report
}

func newLeaderFlag() *leaderFlag { return &leaderFlag{changed: make(chan struct{}, 1)} }

func (f *leaderFlag) set(leader bool) {
	f.mu.Lock()
	f.leader = leader
	if !leader {
		f.losses++
	}
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *leaderFlag) get() (leader bool, losses uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader, f.losses
}

// drainNotify moves raft's leadership reports into c.lead until stop is
// closed (after raft has shut down, so that no send is ever left waiting).
func (c *Cluster) drainNotify(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case v := <-c.notifyCh:
			c.lead.set(v)
		}
	}
}

// runLeadership starts and stops the leader work as c.lead says: on
// gaining leadership it starts leaderLoop; on losing it (or when ctx ends)
// it cancels the loop and waits for it, so at most one runs at a time. A
// loss and regain while the old loop was stopping restarts it, so the
// leader work always belongs to the current term.
func (c *Cluster) runLeadership(ctx context.Context) {
	var stop func() // non-nil while leader work runs
	var startedAfter uint64
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.lead.changed:
		}
		isLeader, losses := c.lead.get()
		if stop != nil && (!isLeader || losses != startedAfter) {
			stop()
			stop = nil
		}
		if isLeader && stop == nil && ctx.Err() == nil {
			startedAfter = losses
			stop = c.startLeader(ctx)
		}
	}
}

// startLeader starts leaderLoop and returns the function that cancels it
// and waits for it to return.
func (c *Cluster) startLeader(ctx context.Context) func() {
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.leaderLoop(lctx)
	}()
	return func() {
		cancel()
		<-done
		c.leaderTerm.Store(0)
		c.log.Info("leader work stopped")
	}
}

// await starts a raft operation and waits for its outcome or for ctx,
// whichever comes first. Raft futures cannot be cancelled, so start and the
// wait run in a goroutine that outlives an early return only until raft
// answers, which it always does (applied, refused, enqueue timeout,
// leadership lost, or shutdown: deferError.Error watches raft's shutdown);
// it never blocks on its result, which has room in the channel.
func await[F raft.Future](ctx context.Context, start func() F) (F, error) {
	type result struct {
		f   F
		err error
	}
	done := make(chan result, 1)
	go func() {
		f := start()
		done <- result{f, f.Error()}
	}()
	select {
	case <-ctx.Done():
		var zero F
		return zero, ctx.Err()
	case r := <-done:
		return r.f, r.err
	}
}

// leaderLoop runs while this node leads: a Barrier first (so the local fsm
// has applied everything committed by earlier leaders), then the reconcile
// loop and the caller's leader work, until ctx is cancelled. When the
// Barrier keeps failing it hands leadership over (stepDown).
func (c *Cluster) leaderLoop(ctx context.Context) {
	for fails := 0; ; {
		bctx, cancel := context.WithTimeout(ctx, barrierWait)
		_, err := await(bctx, func() raft.Future { return c.r().Barrier(barrierTimeout) })
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		fails++
		c.log.Warn("leader barrier failed", "err", err, "failures", fails)
		wait := barrierRetryWait
		if fails >= maxEstablishFailures {
			if c.stepDown(ctx, "barrier", err) {
				<-ctx.Done()
				return
			}
			fails, wait = 0, stepDownRetryWait
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	term := c.r().CurrentTerm()
	c.leaderTerm.Store(term)
	c.log.Info("leadership gained", "term", term)
	var wg sync.WaitGroup
	wg.Go(func() { c.reconcileLoop(ctx) })
	if work := c.cfg.LeaderWork; work != nil {
		wg.Go(func() { c.runLeaderWork(ctx, work) })
	}
	wg.Wait()
}

// stepDown hands leadership to another voter because this node fails to
// establish it; it reports whether raft accepted the transfer (it cannot
// when this node is the only voter: then the caller tries again later).
func (c *Cluster) stepDown(ctx context.Context, what string, cause error) bool {
	c.log.Error("cannot establish leadership; handing it over", "failing", what, "failures", maxEstablishFailures, "err", cause)
	if _, err := await(ctx, func() raft.Future { return c.r().LeadershipTransfer() }); err != nil {
		c.log.Error("leadership transfer failed; trying again later", "err", err, "retry_in", stepDownRetryWait)
		return false
	}
	return true
}

// runLeaderWork runs work until ctx ends, restarting it after a pause when
// it fails; when it fails maxEstablishFailures times in a row, each time
// sooner than leaderWorkHealthy after its start, leadership is handed over.
func (c *Cluster) runLeaderWork(ctx context.Context, work func(context.Context) error) {
	for fails := 0; ; {
		start := time.Now()
		err := work(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) < leaderWorkHealthy {
			fails++
		} else {
			fails = 1
		}
		c.log.Error("leader work ended; restarting", "err", err, "failures", fails)
		wait := leaderWorkPause
		if fails >= maxEstablishFailures {
			if c.stepDown(ctx, "leader work", err) {
				<-ctx.Done()
				return
			}
			fails, wait = 0, stepDownRetryWait
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// reconcileLoop adds alive gossip members that are not raft voters yet (or
// whose raft address changed). It removes nobody, except with
// Config.DeadMemberCleanup set: then a voter gone from gossip for that long
// (see deadTracker). Otherwise only `imh cluster remove` takes a server out.
func (c *Cluster) reconcileLoop(ctx context.Context) {
	if c.ml == nil {
		return
	}
	c.dead.reset()
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	for {
		c.reconcile()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.reconcileCh:
		}
	}
}

func (c *Cluster) reconcile() {
	conf, err := c.configuration()
	if err != nil {
		c.log.Warn("reconcile", "err", err)
		return
	}
	have := map[raft.ServerID]raft.Server{}
	for _, s := range conf.Servers {
		have[s.ID] = s
	}
	now := time.Now()
	alive := map[string]bool{}
	for _, m := range c.members() {
		alive[m.Name] = true
		id, addr := raft.ServerID(m.Name), raft.ServerAddress(m.Meta.RaftAddr)
		s, ok := have[id]
		if ok && s.Address == addr {
			continue
		}
		if m.Meta.Removed || (!ok && m.Meta.InRaft && c.removes.held(m.Name, now)) {
			continue // removed by an operator: waits for imh cluster join
		}
		if ok {
			c.log.Info("raft address changed; updating the configuration", "peer", m.Name, "old", s.Address, "new", addr)
			if err := c.readdress(s, addr); err != nil {
				c.log.Warn("update raft address", "peer", m.Name, "err", err)
			}
			continue
		}
		c.log.Info("adding non-voter (make it a voter with imh cluster promote)", "peer", m.Name, "raft_addr", addr)
		if err := c.r().AddNonvoter(id, addr, 0, addVoterTimeout).Error(); err != nil {
			c.log.Warn("add non-voter", "peer", m.Name, "err", err)
		}
	}
	c.cleanupDead(now, conf, alive)
}

// cleanupDead removes one voter gone from gossip for DeadMemberCleanup.
func (c *Cluster) cleanupDead(now time.Time, conf raft.Configuration, alive map[string]bool) {
	s, ok := c.dead.toRemove(now, conf.Servers, alive, raft.ServerID(c.cfg.NodeName), c.cfg.DeadMemberCleanup)
	if !ok {
		return
	}
	c.log.Warn("removing a dead member", "peer", s.ID, "raft_addr", s.Address, "gone_for_at_least", c.cfg.DeadMemberCleanup)
	if err := c.r().RemoveServer(s.ID, 0, addVoterTimeout).Error(); err != nil {
		c.log.Warn("remove dead member", "peer", s.ID, "err", err)
	}
}

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

// runLeadership is the one goroutine that consumes raft's NotifyCh. On
// gaining leadership it starts leaderLoop; on losing it (or when ctx ends)
// it cancels the loop and waits for it, so at most one runs at a time.
func (c *Cluster) runLeadership(ctx context.Context) {
	var stop func() // non-nil while leader work runs
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-c.notifyCh:
			switch {
			case isLeader && stop == nil:
				stop = c.startLeader(ctx)
			case !isLeader && stop != nil:
				stop()
				stop = nil
			}
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

// leaderLoop runs while this node leads: a Barrier first (so the local fsm
// has applied everything committed by earlier leaders), then the reconcile
// loop and the caller's leader work, until ctx is cancelled.
func (c *Cluster) leaderLoop(ctx context.Context) {
	for {
		err := c.r().Barrier(barrierTimeout).Error()
		if err == nil {
			break
		}
		c.log.Warn("leader barrier failed", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(barrierRetryWait):
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

func (c *Cluster) runLeaderWork(ctx context.Context, work func(context.Context) error) {
	for {
		err := work(ctx)
		if ctx.Err() != nil {
			return
		}
		c.log.Error("leader work ended; restarting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(leaderWorkPause):
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
	conf := c.configuration()
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
		if ok && s.Address == addr && s.Suffrage == raft.Voter {
			continue
		}
		if m.Meta.Removed || (!ok && m.Meta.InRaft && c.removes.held(m.Name, now)) {
			continue // removed by an operator: waits for imh cluster join
		}
		if ok && s.Address != addr {
			c.log.Info("raft address changed; updating the configuration", "peer", m.Name, "old", s.Address, "new", addr)
		}
		c.log.Info("adding voter", "peer", m.Name, "raft_addr", addr)
		if err := c.r().AddVoter(id, addr, 0, addVoterTimeout).Error(); err != nil {
			c.log.Warn("add voter", "peer", m.Name, "err", err)
		} else if n := c.voterCount(); !ok && n%2 == 0 {
			c.log.Warn(EvenVotersWarning(n), "peer", m.Name, "voters", n)
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

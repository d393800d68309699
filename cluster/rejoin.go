package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/imh-project/imh/fsm"
)

// Removal and rejoin. An agent taken out by `imh cluster remove` learns it
// from the leader (POST /v1/internal/removed) or from its own configuration,
// and records it in DATA_DIR/raft/REMOVED. From then on it gossips
// Removed, so no leader re-adds it, and it keeps its raft state untouched
// until the operator decides: `imh cluster join ADDR` on that agent, or a
// restart with --join, moves DATA_DIR/raft aside to
// DATA_DIR/raft.removed-<UTC time> (logged at WARN, never deleted) and joins
// with a fresh, empty state, which the leader then fills.

const removedMarker = "REMOVED"

// ErrRemoved: this agent was removed from the cluster and waits for a join.
var ErrRemoved = errors.New("cluster: this agent was removed from the cluster")

func (c *Cluster) raftDir() string { return filepath.Join(c.cfg.DataDir, "raft") }

func (c *Cluster) onDisk() bool {
	return c.cfg.LogStore == nil && c.cfg.Transport == nil && c.cfg.DataDir != ""
}

// Removed reports whether this agent was removed and waits for a join.
func (c *Cluster) Removed() bool { return c.removed.Load() }

// checkRemovedAtStart reads the REMOVED marker. With --join the stale
// state is moved aside now and the agent joins fresh; without, it starts on
// its old state but stays out until `imh cluster join`.
func (c *Cluster) checkRemovedAtStart() error {
	if !c.onDisk() {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.raftDir(), removedMarker))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read removal marker: %w", err)
	}
	if len(c.cfg.Join) == 0 {
		c.removed.Store(true)
		c.log.Warn("this agent was removed from the cluster; it stays out until `imh cluster join GOSSIPADDR` (or a restart with --join)",
			"reason", string(b))
		return nil
	}
	_, err = c.moveStaleRaft("restarted with --join after removal")
	return err
}

// moveStaleRaft renames DATA_DIR/raft aside (raft must not be running).
func (c *Cluster) moveStaleRaft(why string) (string, error) {
	dst := fmt.Sprintf("%s.removed-%s", c.raftDir(), time.Now().UTC().Format("20060102T150405.000"))
	if err := os.Rename(c.raftDir(), dst); err != nil {
		return "", fmt.Errorf("move stale raft state aside: %w", err)
	}
	c.log.Warn("moved the stale raft state of a removed agent aside; joining with a fresh state",
		"why", why, "old", c.raftDir(), "moved_to", dst)
	return dst, nil
}

// markRemoved records that this agent is no longer in the configuration.
func (c *Cluster) markRemoved(reason string) {
	if c.removed.Swap(true) {
		return
	}
	if c.onDisk() {
		if err := os.WriteFile(filepath.Join(c.raftDir(), removedMarker), []byte(reason+"\n"), 0o600); err != nil {
			c.log.Error("write removal marker", "err", err)
		}
	}
	c.log.Warn("this agent was removed from the cluster; its raft state is kept until `imh cluster join GOSSIPADDR` "+
		"(or a restart with --join) moves it aside and rejoins fresh", "reason", reason)
	c.pingGossip()
}

// checkSelfInConfig marks this agent removed when its own committed
// configuration no longer names it (it saw its removal replicated).
func (c *Cluster) checkSelfInConfig() {
	if c.removed.Load() || !c.hasState.Load() {
		return
	}
	conf, err := c.configuration()
	if err != nil || len(conf.Servers) == 0 {
		return
	}
	for _, s := range conf.Servers {
		if s.ID == raft.ServerID(c.cfg.NodeName) {
			return
		}
	}
	c.markRemoved("no longer in the raft configuration")
}

// resetRaft replaces a removed agent's raft with a fresh one on an empty
// data dir (the old one is moved aside, not deleted).
func (c *Cluster) resetRaft() error {
	c.resetMu.Lock()
	defer c.resetMu.Unlock()
	if !c.removed.Load() {
		return nil
	}
	if !c.onDisk() {
		return fmt.Errorf("%w: a fresh rejoin needs an on-disk data dir", ErrRemoved)
	}
	if err := c.r().Shutdown().Error(); err != nil {
		return fmt.Errorf("stop stale raft: %w", err)
	}
	if c.bolt != nil {
		_ = c.bolt.Close()
		c.bolt = nil
	}
	if _, err := c.moveStaleRaft("imh cluster join after removal"); err != nil {
		return err
	}
	if err := c.state.Restore(fsm.New().Snapshot()); err != nil {
		return fmt.Errorf("empty state: %w", err)
	}
	if _, port, err := net.SplitHostPort(c.cfg.RaftBind); err == nil && port == "0" {
		c.cfg.RaftBind = string(c.localRaft) // keep the address the others know
	}
	if err := c.setupRaft(); err != nil {
		return fmt.Errorf("restart raft fresh: %w", err)
	}
	c.hasState.Store(false)
	c.removed.Store(false)
	c.pingGossip()
	return nil
}

func (c *Cluster) pingGossip() {
	select {
	case c.memberCh <- struct{}{}:
	default:
	}
}

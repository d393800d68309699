// Package clustertest runs several cluster agents in one process on raft's
// in-memory transport, for tests of the cluster package and of its users
// (the balancer): partitions, heals, kills and restarts, and a check that
// every running node ends in the same state. Like net/http/httptest, it is
// a harness package imported only by tests.
package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/logging"
)

// Options tune a harness cluster.
type Options struct {
	// RaftMultiplier defaults to 2: the race detector on two shared cores
	// makes the fastest timings flap.
	RaftMultiplier int
	// LeaderWork, if set, returns each node's leader work function; it may
	// call n.Cluster() when it runs (the node is started by then).
	LeaderWork func(n *Node) func(ctx context.Context) error
	// TrailingLogs, if set, is raft's TrailingLogs: 1 makes every snapshot
	// drop the log, so a lagging node is caught up by InstallSnapshot.
	TrailingLogs uint64
	// Logger defaults to a discarding logger (IMH_TEST_LOG=1: stderr, debug).
	Logger *slog.Logger
}

// Node is one agent of the harness.
type Node struct {
	Name     string
	RaftAddr raft.ServerAddress
	HTTPAddr string

	mu      sync.Mutex
	c       *cluster.Cluster
	trans   *raft.InmemTransport
	store   *raft.InmemStore
	snaps   *raft.InmemSnapshotStore
	cancel  context.CancelFunc
	done    chan error
	running bool

	secret, previous cluster.Secret // zero: the harness's secret, none
}

// SetSecrets makes the node start (at its next Restart) with secret and,
// during a rotation, previous (zero: none).
func (n *Node) SetSecrets(secret, previous cluster.Secret) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.secret, n.previous = secret, previous
}

// Cluster returns the node's running cluster object (nil when killed).
func (n *Node) Cluster() *cluster.Cluster {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return nil
	}
	return n.c
}

// Harness is a running in-process cluster.
type Harness struct {
	t      testing.TB
	opts   Options
	secret cluster.Secret
	peers  []cluster.Peer
	Nodes  []*Node

	mu       sync.Mutex
	isolated map[int]bool
}

// New starts n nodes bootstrapped together and stops them when the test
// ends.
func New(t testing.TB, n int, opts Options) *Harness {
	t.Helper()
	if opts.RaftMultiplier == 0 {
		opts.RaftMultiplier = 2
	}
	if opts.Logger == nil {
		opts.Logger = logging.Discard()
		if os.Getenv("IMH_TEST_LOG") != "" {
			opts.Logger = logging.New(os.Stderr, slog.LevelDebug)
		}
	}
	secret, err := cluster.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	h := &Harness{t: t, opts: opts, secret: secret, isolated: map[int]bool{}}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		httpAddr := FreeAddr(t)
		node := &Node{Name: name, RaftAddr: raft.ServerAddress(name), HTTPAddr: httpAddr,
			store: raft.NewInmemStore(), snaps: raft.NewInmemSnapshotStore()}
		h.Nodes = append(h.Nodes, node)
		h.peers = append(h.peers, cluster.Peer{Name: name, RaftAddr: name, HTTPAddr: httpAddr})
	}
	for i := range h.Nodes {
		h.start(i)
	}
	t.Cleanup(h.stopAll)
	return h
}

// handedOut holds every port FreeAddr returned in this process.
var handedOut sync.Map

// FreeAddr returns a loopback TCP address that nothing listens on and that
// FreeAddr never returned before in this process. Tests that run in
// parallel start agents on such addresses and restart them on the same
// ones: between a stop and the restart the kernel may offer that port
// again, and this keeps it from going to another test of the process.
// (Another process can still take it in that window; the kernel picks
// ports at random among thousands, so that is rare.)
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().(*net.TCPAddr)
		ln.Close()
		if _, taken := handedOut.LoadOrStore(addr.Port, true); !taken {
			return addr.String()
		}
	}
	t.Fatal("no free port not handed out before in 100 tries")
	return ""
}

// Secret is the harness's cluster secret.
func (h *Harness) Secret() cluster.Secret { return h.secret }

func (h *Harness) start(i int) {
	h.t.Helper()
	n := h.Nodes[i]
	_, trans := raft.NewInmemTransport(n.RaftAddr)
	ln, err := net.Listen("tcp", n.HTTPAddr)
	if err != nil {
		h.t.Fatalf("%s: listen %s: %v", n.Name, n.HTTPAddr, err)
	}
	cfg := cluster.DefaultConfig()
	cfg.NodeName = n.Name
	cfg.RaftMultiplier = h.opts.RaftMultiplier
	cfg.Secret = h.secret
	n.mu.Lock()
	if !n.secret.IsZero() {
		cfg.Secret, cfg.PreviousSecret = n.secret, n.previous
	}
	n.mu.Unlock()
	cfg.Logger = h.opts.Logger
	cfg.GossipBind = ""
	cfg.Transport, cfg.LogStore, cfg.StableStore, cfg.SnapshotStore = trans, n.store, n.store, n.snaps
	cfg.Peers = h.peers
	cfg.TrailingLogs = h.opts.TrailingLogs
	cfg.HTTPListener = ln
	if h.opts.LeaderWork != nil {
		cfg.LeaderWork = h.opts.LeaderWork(n)
	}
	c, err := cluster.New(cfg)
	if err != nil {
		ln.Close()
		h.t.Fatalf("%s: %v", n.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	n.mu.Lock()
	n.c, n.trans, n.cancel, n.done, n.running = c, trans, cancel, done, true
	n.mu.Unlock()
	h.connect()
}

// connect wires every pair of running, non-isolated nodes.
func (h *Harness) connect() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, a := range h.Nodes {
		for j, b := range h.Nodes {
			if i == j || !a.running || !b.running || h.isolated[i] || h.isolated[j] {
				continue
			}
			a.trans.Connect(b.RaftAddr, b.trans)
		}
	}
}

// Kill stops node i (its stores survive for Restart).
func (h *Harness) Kill(i int) {
	h.t.Helper()
	n := h.Nodes[i]
	n.mu.Lock()
	if !n.running {
		n.mu.Unlock()
		return
	}
	n.running = false
	cancel, done, trans := n.cancel, n.done, n.trans
	n.mu.Unlock()
	for _, o := range h.Nodes {
		if o != n && o.trans != nil {
			o.trans.Disconnect(n.RaftAddr)
		}
	}
	trans.DisconnectAll()
	cancel()
	if err := <-done; err != nil {
		h.t.Errorf("%s: run: %v", n.Name, err)
	}
}

// Restart starts a killed node again on its stores.
func (h *Harness) Restart(i int) { h.start(i) }

// Partition cuts node i off from every other node, both ways.
func (h *Harness) Partition(i int) {
	h.mu.Lock()
	h.isolated[i] = true
	h.mu.Unlock()
	n := h.Nodes[i]
	n.trans.DisconnectAll()
	for _, o := range h.Nodes {
		if o != n && o.trans != nil {
			o.trans.Disconnect(n.RaftAddr)
		}
	}
}

// Heal reconnects every running node.
func (h *Harness) Heal() {
	h.mu.Lock()
	h.isolated = map[int]bool{}
	h.mu.Unlock()
	h.connect()
}

func (h *Harness) stopAll() {
	for i := range h.Nodes {
		h.Kill(i)
	}
}

// Leader waits until the running, connected nodes agree on one leader that
// has started its leader work, and returns its index.
func (h *Harness) Leader(timeout time.Duration) int {
	h.t.Helper()
	var leader int
	h.WaitFor(timeout, "one agreed leader", func() bool {
		leader = -1
		names := map[string]bool{}
		for i, n := range h.Nodes {
			c := n.Cluster()
			h.mu.Lock()
			iso := h.isolated[i]
			h.mu.Unlock()
			if c == nil || iso {
				continue
			}
			names[c.Leader()] = true
			if _, ok := c.LeadershipTerm(); ok && c.Leader() == n.Name {
				leader = i
			}
		}
		return leader >= 0 && len(names) == 1
	})
	return leader
}

// WaitConverged waits until every running node holds byte-identical state.
func (h *Harness) WaitConverged(timeout time.Duration) {
	h.t.Helper()
	h.WaitFor(timeout, "every node in the same state", func() bool {
		var first []byte
		for _, n := range h.Nodes {
			c := n.Cluster()
			if c == nil {
				continue
			}
			s := c.State().Snapshot()
			if first == nil {
				first = s
			} else if !bytes.Equal(first, s) {
				return false
			}
		}
		return true
	})
}

// WaitFor polls cond every 20 ms until it holds or timeout passes.
func (h *Harness) WaitFor(timeout time.Duration, what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/internal/logging"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type tcpNode struct {
	cfg    cluster.Config
	c      *cluster.Cluster
	cancel context.CancelFunc
	done   chan error
}

func (n *tcpNode) start(t *testing.T) {
	t.Helper()
	c, err := cluster.New(n.cfg)
	if err != nil {
		t.Fatalf("%s: %v", n.cfg.NodeName, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.c, n.cancel, n.done = c, cancel, make(chan error, 1)
	go func() { n.done <- c.Run(ctx) }()
}

func (n *tcpNode) stop(t *testing.T) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		t.Errorf("%s: %v", n.cfg.NodeName, err)
	}
	n.cancel = nil
}

func waitLeader(t *testing.T, nodes []*tcpNode, timeout time.Duration) *tcpNode {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if _, ok := n.c.LeadershipTerm(); ok {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no leader within %v", timeout)
	return nil
}

// TestTCPBoltGossipRestart forms a 3-node cluster over real TCP and gossip
// with --bootstrap-expect 3, writes, stops every node, starts them again
// on their data dirs and expects a leader and the same state, without a
// second bootstrap.
func TestTCPBoltGossipRestart(t *testing.T) {
	secret, _ := cluster.NewSecret()
	var nodes []*tcpNode
	var gossip []string
	for range 3 {
		gossip = append(gossip, freeAddr(t))
	}
	for i := range 3 {
		cfg := cluster.DefaultConfig()
		cfg.NodeName = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = t.TempDir()
		cfg.RaftBind = freeAddr(t)
		cfg.GossipBind = gossip[i]
		cfg.HTTPBind = freeAddr(t)
		cfg.BootstrapExpect = 3
		cfg.Join = gossip // includes itself, on purpose
		cfg.RaftMultiplier = 2
		cfg.Secret = secret
		cfg.Logger = logging.Discard()
		nodes = append(nodes, &tcpNode{cfg: cfg})
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop(t)
		}
	})
	for _, n := range nodes {
		n.start(t)
	}
	l := waitLeader(t, nodes, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 20 {
		if err := l.c.Apply(ctx, &fsm.RouterPut{Name: fmt.Sprintf("r%d", i), Addr: "127.0.0.1:7000"}); err != nil {
			t.Fatal(err)
		}
	}
	want := l.c.State().Snapshot()
	for _, n := range nodes {
		n.stop(t)
	}
	for _, n := range nodes {
		n.start(t)
	}
	l = waitLeader(t, nodes, 20*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range nodes {
		for !bytes.Equal(n.c.State().Snapshot(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: state differs after restart (%d routers)", n.cfg.NodeName, len(n.c.State().Routers()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := len(l.c.Status(ctx).Peers); got != 3 {
		t.Fatalf("%d peers after restart", got)
	}

	// A fourth agent without state joins the running cluster: it must not
	// bootstrap on its own (the others are in raft already) but be added as
	// a voter by the leader's reconcile, and receive the state.
	cfg := nodes[0].cfg
	cfg.NodeName, cfg.DataDir, cfg.RaftBind, cfg.GossipBind, cfg.HTTPBind = "n4", t.TempDir(), freeAddr(t), freeAddr(t), freeAddr(t)
	n4 := &tcpNode{cfg: cfg}
	nodes = append(nodes, n4)
	n4.start(t)
	deadline = time.Now().Add(20 * time.Second)
	for !bytes.Equal(n4.c.State().Snapshot(), want) || len(l.c.Status(ctx).Peers) != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("n4 not added: peers %+v", l.c.Status(ctx).Peers)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range l.c.Status(ctx).Peers {
		if !p.Voter {
			t.Fatalf("%s is not a voter", p.Name)
		}
	}
}

package cluster_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/clustertest"
	"github.com/imh-project/imh/fsm"
)

// TestLeadershipFlapWhileApplyStuck loses and regains leadership while the
// old leader work sits in Apply (its command held by a slow FSM) and checks
// that the node's raft keeps answering the new leader (its log keeps up)
// and that the stuck Apply returns when its context is cancelled.
func TestLeadershipFlapWhileApplyStuck(t *testing.T) {
	t.Parallel()
	doApply := make(chan struct{})
	applied := make(chan error, 1)
	// Only the first leader work to get past doApply applies: the leader
	// of the moment. A later leader's work (after the transfer) would
	// apply at once and could report before the stuck one does.
	var claimed atomic.Bool
	h := clustertest.New(t, 3, clustertest.Options{LeaderWork: func(n *clustertest.Node) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return nil
			case <-doApply:
			}
			if claimed.CompareAndSwap(false, true) {
				applied <- n.Cluster().Apply(ctx, &fsm.RouterPut{Name: "stuck", Addr: "127.0.0.1:7001"})
			}
			<-ctx.Done()
			return nil
		}
	}})
	l := h.Leader(10 * time.Second)
	m := (l + 1) % 3
	cl, cm := h.Nodes[l].Cluster(), h.Nodes[m].Cluster()

	gate, inFSM := make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(gate) }) })
	cl.SetFSMApplyHook(func() {
		select {
		case inFSM <- struct{}{}:
		default:
		}
		<-gate
	})
	close(doApply)
	select {
	case <-inFSM:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader work's command never reached the FSM")
	}

	leads := func(c *cluster.Cluster, name string) func() bool {
		return func() bool { return c.Leader() == name }
	}
	// Lost, regained, lost again: raft reports each change on NotifyCh.
	if err := cl.TransferTo(h.Nodes[m].Name); err != nil {
		t.Fatalf("transfer away: %v", err)
	}
	h.WaitFor(10*time.Second, "the other node leads", leads(cm, h.Nodes[m].Name))
	h.WaitFor(10*time.Second, "the other node's leader work started", func() bool { _, ok := cm.LeadershipTerm(); return ok })
	if err := cm.TransferTo(h.Nodes[l].Name); err != nil {
		t.Fatalf("transfer back: %v", err)
	}
	h.WaitFor(10*time.Second, "the first node leads again", leads(cl, h.Nodes[l].Name))
	if err := cl.TransferTo(h.Nodes[m].Name); err != nil {
		t.Logf("transfer away again: %v", err) // the old leader may not see the new one in time
	}
	h.WaitFor(10*time.Second, "the other node leads again", leads(cm, h.Nodes[m].Name))

	// The old leader's raft must go on answering AppendEntries.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		err := cm.Apply(ctx, &fsm.RouterPut{Name: "after", Addr: "127.0.0.1:7002"})
		if err == nil {
			break
		}
		if ctx.Err() != nil || !(errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrLeadershipLost)) {
			t.Fatalf("apply on the new leader: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := cm.RaftLastIndex()
	h.WaitFor(3*time.Second, "the old leader's raft log keeps up with the new leader", func() bool {
		return cl.RaftLastIndex() >= want
	})

	// The stuck Apply honoured its cancelled context.
	select {
	case err := <-applied:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stuck apply returned %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the stuck Apply ignored its cancelled context")
	}
}

// TestLeaderStepsDownWhenLeaderWorkKeepsFailing: a leader whose leader work
// keeps failing at once hands leadership to another voter.
func TestLeaderStepsDownWhenLeaderWorkKeepsFailing(t *testing.T) {
	t.Parallel()
	var bad atomic.Value
	bad.Store("")
	var failed atomic.Int32
	h := clustertest.New(t, 3, clustertest.Options{LeaderWork: func(n *clustertest.Node) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			for {
				if bad.Load() == n.Name {
					failed.Add(1)
					return errors.New("cannot start the balancer")
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	}})
	l := h.Leader(10 * time.Second)
	bad.Store(h.Nodes[l].Name)
	h.WaitFor(20*time.Second, "another node leads", func() bool {
		c := h.Nodes[(l+1)%3].Cluster()
		leader := c.Leader()
		return leader != "" && leader != h.Nodes[l].Name
	})
	if n := failed.Load(); n < 3 {
		t.Fatalf("stepped down after %d failures, want 3", n)
	}
}

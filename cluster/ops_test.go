package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/clustertest"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/logging"
)

func TestParsePeers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []cluster.Peer
		ok   bool
	}{
		{"n1=127.0.0.1:7700", []cluster.Peer{{Name: "n1", RaftAddr: "127.0.0.1:7700"}}, true},
		{"n1=127.0.0.1:7700, n2=127.0.0.1:7710,", []cluster.Peer{{Name: "n1", RaftAddr: "127.0.0.1:7700"}, {Name: "n2", RaftAddr: "127.0.0.1:7710"}}, true},
		{"", nil, false},
		{"n1", nil, false},
		{"n1=nohostport", nil, false},
		{"bad name=127.0.0.1:1", nil, false},
		{"n1=127.0.0.1:1,n1=127.0.0.1:2", nil, false},
		{"n1=127.0.0.1:99999", nil, false},
	} {
		got, err := cluster.ParsePeers(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("ParsePeers(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, cluster.ErrConfig) {
			t.Errorf("ParsePeers(%q): %v is not ErrConfig", tt.in, err)
		}
	}
}

// TestInmemPeersAndTransfer: GET /v1/peers on a follower lists every
// server with its own state, last contact and commit index; transfer-leader
// through a follower moves leadership to the named server, and to raft's
// pick without a name.
func TestInmemPeersAndTransfer(t *testing.T) {
	t.Parallel()
	h := clustertest.New(t, 3, clustertest.Options{})
	l := h.Leader(10 * time.Second)
	applyOn(t, h, &fsm.RouterPut{Name: "r1", Addr: "127.0.0.1:7001"})
	h.WaitConverged(5 * time.Second)
	f := (l + 1) % 3
	var body cluster.PeersBody
	if code := api(t, "GET", h.Nodes[f].HTTPAddr, "/v1/peers", nil, &body); code != 200 || len(body.Peers) != 3 {
		t.Fatalf("peers: %d %+v", code, body)
	}
	for _, p := range body.Peers {
		wantState := "follower"
		if p.Name == h.Nodes[l].Name {
			wantState = "leader"
		}
		if p.State != wantState || !p.Voter || p.CommitIndex == 0 || p.LastContactMs < 0 || p.RaftAddr != p.Name {
			t.Errorf("peer %+v: want %s, a voter with a commit index and a last contact", p, wantState)
		}
	}

	target := (l + 2) % 3
	var res cluster.TransferResult
	if code := api(t, "POST", h.Nodes[f].HTTPAddr, "/v1/transfer-leader", cluster.TransferRequest{Name: h.Nodes[target].Name}, &res); code != 200 || res.Leader != h.Nodes[target].Name {
		t.Fatalf("transfer to %s: %d %+v", h.Nodes[target].Name, code, res)
	}
	if nl := h.Leader(10 * time.Second); nl != target {
		t.Fatalf("leader %s after transfer, want %s", h.Nodes[nl].Name, h.Nodes[target].Name)
	}
	if code := api(t, "POST", h.Nodes[target].HTTPAddr, "/v1/transfer-leader", struct{}{}, &res); code != 200 || res.Leader == h.Nodes[target].Name || res.Leader == "" {
		t.Fatalf("transfer without a name: %d %+v", code, res)
	}
	if code := api(t, "POST", h.Nodes[target].HTTPAddr, "/v1/transfer-leader", cluster.TransferRequest{Name: "nosuch"}, nil); code != http.StatusNotFound {
		t.Fatalf("transfer to an unknown server: %d, want 404", code)
	}
}

func rawCall(t *testing.T, method, addr, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestInmemSnapshotSaveRestore: a snapshot saved through a follower (from
// the leader) restores the whole state on every node after later changes;
// a snapshot sealed under another cluster's secret, garbage, one changed
// after it was saved (its MAC fails) or one without destinations is
// refused with 400 and changes nothing.
func TestInmemSnapshotSaveRestore(t *testing.T) {
	t.Parallel()
	h := clustertest.New(t, 3, clustertest.Options{})
	l := h.Leader(10 * time.Second)
	f := h.Nodes[(l+1)%3]
	applyOn(t, h, &fsm.RouterPut{Name: "r1", Addr: "127.0.0.1:7001"})
	_, empty := rawCall(t, "GET", f.HTTPAddr, "/v1/snapshot", nil) // no destination yet
	if code := api(t, "POST", f.HTTPAddr, "/v1/destinations", cluster.DestinationRequest{Name: "web"}, nil); code != 200 {
		t.Fatalf("create web: %d", code)
	}
	code, snap := rawCall(t, "GET", f.HTTPAddr, "/v1/snapshot", nil)
	if code != 200 {
		t.Fatalf("save: %d %s", code, snap)
	}
	applyOn(t, h, &fsm.RouterRemove{Name: "r1"})
	applyOn(t, h, &fsm.RouterPut{Name: "r2", Addr: "127.0.0.1:7002"})
	h.WaitConverged(5 * time.Second)

	other := clustertest.New(t, 1, clustertest.Options{})
	other.Leader(10 * time.Second)
	if code := api(t, "POST", other.Nodes[0].HTTPAddr, "/v1/destinations", cluster.DestinationRequest{Name: "x"}, nil); code != 200 {
		t.Fatalf("create x: %d", code)
	}
	_, foreign := rawCall(t, "GET", other.Nodes[0].HTTPAddr, "/v1/snapshot", nil)
	forged := bytes.Clone(snap)
	forged[len(forged)/3] ^= 1
	for name, b := range map[string][]byte{"foreign": foreign, "garbage": []byte("not a snapshot"), "truncated": snap[:len(snap)-1],
		"forged": forged, "empty": empty, "nothing": nil} {
		if code, body := rawCall(t, "PUT", f.HTTPAddr, "/v1/snapshot", b); code != http.StatusBadRequest {
			t.Errorf("%s snapshot: %d %s, want 400", name, code, body)
		}
	}

	if code, body := rawCall(t, "PUT", f.HTTPAddr, "/v1/snapshot", snap); code != 200 {
		t.Fatalf("restore: %d %s", code, body)
	}
	h.WaitConverged(10 * time.Second)
	for _, n := range h.Nodes {
		st := n.Cluster().State()
		if _, ok := st.Router("r1"); !ok || len(st.Routers()) != 1 || len(st.Destinations()) != 1 {
			t.Errorf("%s after restore: routers %v, %d destinations", n.Name, st.Routers(), len(st.Destinations()))
		}
	}
	applyOn(t, h, &fsm.RouterPut{Name: "r3", Addr: "127.0.0.1:7003"})
	h.WaitConverged(5 * time.Second)
}

// tcpCluster starts n agents on TCP, bolt and gossip, bootstrapped together.
func tcpCluster(t *testing.T, n int) []*tcpNode { return tcpClusterWith(t, n, nil) }

// tcpClusterWith is tcpCluster with a hook that adjusts each config.
func tcpClusterWith(t *testing.T, n int, adjust func(*cluster.Config)) []*tcpNode {
	secret, err := cluster.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	var gossip []string
	for range n {
		gossip = append(gossip, freeAddr(t))
	}
	var nodes []*tcpNode
	for i := range n {
		cfg := cluster.DefaultConfig()
		cfg.NodeName = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = t.TempDir()
		cfg.RaftBind, cfg.GossipBind, cfg.HTTPBind = freeAddr(t), gossip[i], freeAddr(t)
		cfg.BootstrapExpect = n
		cfg.Join = gossip
		cfg.RaftMultiplier = 2
		cfg.Secret = secret
		cfg.Logger = logging.Discard()
		if os.Getenv("IMH_TEST_LOG") != "" {
			cfg.Logger = logging.New(os.Stderr, slog.LevelDebug)
		}
		if adjust != nil {
			adjust(&cfg)
		}
		nodes = append(nodes, &tcpNode{cfg: cfg})
	}
	for _, nd := range nodes {
		nd.start(t)
		t.Cleanup(func() { nd.stop(t) })
	}
	return nodes
}

func configNames(c *cluster.Cluster) []string {
	var out []string
	body, err := c.Peers(context.Background())
	if err != nil {
		panic(err) // a running node always knows its configuration
	}
	for _, p := range body.Peers {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// TestTCPRemoveRejoinRecover: a follower removed through the API learns
// it, stays out, and rejoins fresh by Join (old raft dir moved aside);
// then, every agent stopped, Recover rewrites one survivor's configuration
// and that agent alone leads with the state.
func TestTCPRemoveRejoinRecover(t *testing.T) {
	t.Parallel()
	nodes := tcpCluster(t, 3)
	l := applyTCP(t, nodes, &fsm.RouterPut{Name: "r1", Addr: "127.0.0.1:7001"})
	var n *tcpNode
	for _, nd := range nodes {
		if nd != l {
			n = nd
			break
		}
	}
	var rr cluster.RemoveResult
	if code := api(t, "DELETE", l.c.HTTPAddr(), "/v1/peers/"+n.cfg.NodeName, nil, &rr); code != 200 || !rr.Notified {
		t.Fatalf("remove: %d %+v", code, rr)
	}
	eventually.True(t, 10*time.Second, "removed agent marked", func() bool { return n.c.Removed() })
	if _, err := os.Stat(filepath.Join(n.cfg.DataDir, "raft", "REMOVED")); err != nil {
		t.Fatalf("no removal marker: %v", err)
	}
	if got := configNames(l.c); slices.Contains(got, n.cfg.NodeName) {
		t.Fatalf("configuration after remove: %v", got)
	}
	l = applyTCP(t, nodes, &fsm.RouterPut{Name: "r2", Addr: "127.0.0.1:7002"})

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	res, err := n.c.Join(ctx, l.cfg.GossipBind)
	cancel()
	if err != nil || !res.Fresh || res.Leader == "" {
		t.Fatalf("join: %+v %v", res, err)
	}
	if m, _ := filepath.Glob(filepath.Join(n.cfg.DataDir, "raft.removed-*")); len(m) != 1 {
		t.Fatalf("stale dirs: %v", m)
	}
	eventually.True(t, 10*time.Second, "rejoined agent caught up", func() bool {
		_, ok := n.c.State().Router("r2")
		return ok && len(configNames(l.c)) == 3 && !n.c.Removed()
	})
	for _, nd := range nodes {
		nd.stop(t)
	}

	// Majority lost for good: recover nodes[0] alone and start it.
	s := nodes[0]
	if err := cluster.Recover(t.TempDir(), []cluster.Peer{{Name: "x", RaftAddr: "127.0.0.1:1"}}, nil); !errors.Is(err, cluster.ErrNoState) {
		t.Fatalf("recover an empty dir: %v, want ErrNoState", err)
	}
	if err := cluster.Recover(s.cfg.DataDir, []cluster.Peer{{Name: s.cfg.NodeName, RaftAddr: s.cfg.RaftBind}}, nil); err != nil {
		t.Fatalf("recover: %v", err)
	}
	s.start(t)
	eventually.True(t, 20*time.Second, "recovered node leads", func() bool {
		_, ok := s.c.LeadershipTerm()
		return ok
	})
	if _, ok := s.c.State().Router("r2"); !ok || !slices.Equal(configNames(s.c), []string{s.cfg.NodeName}) {
		t.Fatalf("after recover: routers %v, configuration %v", s.c.State().Routers(), configNames(s.c))
	}
	if err := s.c.Apply(t.Context(), &fsm.RouterPut{Name: "r3", Addr: "127.0.0.1:7003"}); err != nil {
		t.Fatalf("write after recover: %v", err)
	}
	// Recovering a running agent's data dir is refused.
	if err := cluster.Recover(s.cfg.DataDir, []cluster.Peer{{Name: s.cfg.NodeName, RaftAddr: s.cfg.RaftBind}}, nil); err == nil || !strings.Contains(err.Error(), "stop the agent") {
		t.Fatalf("recover while running: %v", err)
	}
}

// TestInmemRemoveLeader: removing the leader through a follower's API
// (forwarded to the leader) hands leadership over first; the new leader
// removes the old one and the two left go on.
func TestInmemRemoveLeader(t *testing.T) {
	t.Parallel()
	h := clustertest.New(t, 3, clustertest.Options{})
	l := h.Leader(10 * time.Second)
	f := h.Nodes[(l+1)%3]
	var rr cluster.RemoveResult
	if code := api(t, "DELETE", f.HTTPAddr, "/v1/peers/"+h.Nodes[l].Name, nil, &rr); code != 200 || rr.Removed != h.Nodes[l].Name {
		t.Fatalf("remove the leader: %d %+v", code, rr)
	}
	h.WaitFor(10*time.Second, "old leader marked removed", func() bool { return h.Nodes[l].Cluster().Removed() })
	h.Kill(l)
	nl := h.Leader(10 * time.Second)
	if nl == l || len(configNames(h.Nodes[nl].Cluster())) != 2 {
		t.Fatalf("after removing the leader: leader %d, peers %v", nl, configNames(h.Nodes[nl].Cluster()))
	}
	applyOn(t, h, &fsm.RouterPut{Name: "r1", Addr: "127.0.0.1:7001"})
	if code := api(t, "DELETE", f.HTTPAddr, "/v1/peers/nosuch", nil, nil); code != http.StatusNotFound {
		t.Fatalf("remove an unknown server: %d", code)
	}
}

// FuzzParsePeers: never panics; what parses formats back to a list that
// parses to the same peers.
func FuzzParsePeers(f *testing.F) {
	for _, s := range []string{"n1=127.0.0.1:7700", "n1=127.0.0.1:1,n2=[::1]:2", "=", ",,", "a=b=c:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		peers, err := cluster.ParsePeers(s)
		if err != nil {
			return
		}
		var parts []string
		for _, p := range peers {
			parts = append(parts, p.Name+"="+p.RaftAddr)
		}
		again, err := cluster.ParsePeers(strings.Join(parts, ","))
		if err != nil || !slices.Equal(again, peers) {
			t.Fatalf("%q -> %v -> %v, %v", s, peers, again, err)
		}
	})
}

// TestTCPDeadMemberCleanup: with cleanup on (its floor lowered for the
// test), the leader of four agents removes one that stopped, after the
// period; then, at three voters, it removes nobody more. With cleanup off
// (the other tests), stopped agents stay members.
func TestTCPDeadMemberCleanup(t *testing.T) {
	t.Parallel()
	const after = 1500 * time.Millisecond
	nodes := tcpClusterWith(t, 4, func(cfg *cluster.Config) {
		cfg.SetDeadMemberCleanupFloor(100 * time.Millisecond)
		cfg.DeadMemberCleanup = after
	})
	l := applyTCP(t, nodes, &fsm.RouterPut{Name: "r1", Addr: "127.0.0.1:7001"})
	var victims []*tcpNode
	for _, nd := range nodes {
		if nd != l {
			victims = append(victims, nd)
		}
	}
	start := time.Now()
	victims[0].stop(t)
	eventually.True(t, 20*time.Second, "the stopped agent removed", func() bool {
		return len(configNames(waitLeader(t, nodes, 10*time.Second).c)) == 3
	})
	if took := time.Since(start); took < after {
		t.Fatalf("removed after %v, before the period %v", took, after)
	}
	victims[1].stop(t)
	l = waitLeader(t, nodes, 10*time.Second)
	// Three voters is the floor: wait several periods, then check.
	deadline := time.Now().Add(3 * after)
	for time.Now().Before(deadline) {
		if n := len(configNames(l.c)); n != 3 {
			t.Fatalf("%d servers left; cleanup must stop at 3", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestInmemAnnounce: an agent's announced raft address (forwarded by a
// follower) replaces the old one in the configuration; an unknown name is
// refused (announce never adds a server), a bad address is invalid.
func TestInmemAnnounce(t *testing.T) {
	t.Parallel()
	h := clustertest.New(t, 3, clustertest.Options{})
	l := h.Leader(10 * time.Second)
	f, other := h.Nodes[(l+1)%3], h.Nodes[(l+2)%3]
	if code := api(t, "POST", f.HTTPAddr, "/v1/internal/announce", cluster.Announce{Name: other.Name, RaftAddr: "127.0.0.1:9"}, nil); code != 200 {
		t.Fatalf("announce: %d", code)
	}
	found := false
	peers, err := h.Nodes[l].Cluster().Peers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers.Peers {
		if p.Name == other.Name {
			found = p.RaftAddr == "127.0.0.1:9" && p.Voter
		}
	}
	if !found {
		t.Fatalf("configuration after announce: %+v", peers)
	}
	if code := api(t, "POST", f.HTTPAddr, "/v1/internal/announce", cluster.Announce{Name: "n9", RaftAddr: "127.0.0.1:9"}, nil); code != http.StatusNotFound {
		t.Fatalf("announce of an unknown server: %d, want 404", code)
	}
	if code := api(t, "POST", f.HTTPAddr, "/v1/internal/announce", cluster.Announce{Name: other.Name, RaftAddr: "nope"}, nil); code != http.StatusBadRequest {
		t.Fatalf("announce of a bad address: %d, want 400", code)
	}
}

// A write that was applied answers with the destination even when a
// concurrent remove took it out of the local state before the answer was
// built: an acknowledged create must never come back as 404 (the chaos
// test's porcupine check found one).
func TestAppliedWriteNeverAnswersNotFound(t *testing.T) {
	t.Parallel()
	h := clustertest.New(t, 1, clustertest.Options{})
	c := h.Nodes[h.Leader(10*time.Second)].Cluster()
	info, err := c.AppliedInfo("gone-already")
	if err != nil || info.Policy != "from-the-write" {
		t.Fatalf("applied write on a removed destination: %+v, %v", info, err)
	}
}

package cluster_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/clustertest"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/logging"
	"github.com/imh-project/imh/internal/status"
)

// freeAddr is clustertest.FreeAddr: never an address another test of the
// package was given, as the tests run in parallel.
func freeAddr(t *testing.T) string { return clustertest.FreeAddr(t) }

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
	ctx, cancel := context.WithCancel(t.Context())
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

// applyTCP applies cmd on the current leader (applyRetrying) and returns
// the leader that applied it.
func applyTCP(t *testing.T, nodes []*tcpNode, cmd fsm.Command) *tcpNode {
	t.Helper()
	var l *tcpNode
	applyRetrying(t, 20*time.Second, func() *cluster.Cluster { l = waitLeader(t, nodes, 20*time.Second); return l.c }, cmd)
	return l
}

// waitLeader waits until one of nodes leads and returns it.
func waitLeader(t *testing.T, nodes []*tcpNode, timeout time.Duration) *tcpNode {
	t.Helper()
	var leader *tcpNode
	eventually.True(t, timeout, "a leader", func() bool {
		for _, n := range nodes {
			if _, ok := n.c.LeadershipTerm(); ok {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// TestTCPBoltGossipRestart forms a 3-node cluster over real TCP and gossip
// with --bootstrap-expect 3, writes, stops every node, starts them again
// on their data dirs and expects a leader and the same state, without a
// second bootstrap.
func TestTCPBoltGossipRestart(t *testing.T) {
	t.Parallel()
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
		if os.Getenv("IMH_TEST_LOG") != "" {
			cfg.Logger = logging.New(os.Stderr, slog.LevelDebug)
		}
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
	ctx := t.Context()
	for i := range 20 {
		l = applyTCP(t, nodes, &fsm.RouterPut{Name: fmt.Sprintf("r%d", i), Addr: fmt.Sprintf("127.0.0.1:%d", 7000+i)})
	}
	// A destination created through the API: its keys are generated and
	// sealed on the leader; no plaintext may reach a data dir.
	var info cluster.DestinationInfo
	for code := 0; code != 200; {
		l = waitLeader(t, nodes, 20*time.Second)
		if code = api(t, "POST", l.c.HTTPAddr(), "/v1/destinations", cluster.DestinationRequest{Name: "web"}, &info); code != 200 && code != 503 {
			t.Fatalf("create destination: %d", code)
		}
	}
	d, _ := l.c.State().Destination("web")
	keyFile, err := l.c.Open(d.SealedKeys, d.Hash(), fsm.FieldKeys)
	if err != nil {
		t.Fatal(err)
	}
	lsKey, err := l.c.Open(d.SealedLeaseSetKey, d.Hash(), fsm.FieldLeaseSetKey)
	if err != nil || len(lsKey) != 32 {
		t.Fatalf("leaseset key: %d bytes, %v", len(lsKey), err)
	}
	secrets := map[string][]byte{"key file": keyFile, "signing seed": keyFile[len(keyFile)-32:], "leaseset key": lsKey,
		"secret": []byte(secret.Encode()), "gossip key": secret.GossipKey()}
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
	// a non-voter by the leader's reconcile, receive the state, and become
	// a voter only when promoted.
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
	checkVoters(t, l.c.Status(ctx).Peers, map[string]bool{"n1": true, "n2": true, "n3": true, "n4": false})
	var pr cluster.PromoteResult
	if code := api(t, "POST", n4.cfg.HTTPBind, "/v1/promote", cluster.PromoteRequest{Name: "n4"}, &pr); code != 200 || pr.Already || pr.Voters != 4 {
		t.Fatalf("promote n4: %d %+v", code, pr)
	}
	checkVoters(t, l.c.Status(ctx).Peers, map[string]bool{"n1": true, "n2": true, "n3": true, "n4": true})

	// Snapshot too, so snapshot files are scanned (raft refuses while a
	// configuration change is still being applied: retry).
	deadline = time.Now().Add(10 * time.Second)
	for err := l.c.TakeSnapshot(); err != nil; err = l.c.TakeSnapshot() {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var dirs []string
	for _, n := range nodes {
		dirs = append(dirs, n.cfg.DataDir)
	}
	scanForSecrets(t, dirs, secrets, d.Destination)
}

// scanForSecrets fails the test if any secret (raw, hex or base64) is in a
// file under dirs; public (the Destination) must be somewhere, to show the
// scan read the state.
func scanForSecrets(t *testing.T, dirs []string, secrets map[string][]byte, public []byte) {
	t.Helper()
	sawPublic, files := false, 0
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil || !de.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files++
			sawPublic = sawPublic || bytes.Contains(b, public)
			for what, s := range secrets {
				for _, enc := range [][]byte{s, []byte(hex.EncodeToString(s)), []byte(base64.StdEncoding.EncodeToString(s)), []byte(i2p.Base64.EncodeToString(s))} {
					if bytes.Contains(b, enc) {
						t.Errorf("%s found in %s", what, p)
					}
				}
			}
			return nil
		})
	}
	if !sawPublic {
		t.Errorf("the Destination is in none of %d files: the scan missed the state", files)
	}
}

// checkVoters checks each peer's suffrage against want.
func checkVoters(t *testing.T, peers []status.Peer, want map[string]bool) {
	t.Helper()
	for _, p := range peers {
		if v, ok := want[p.Name]; !ok || v != p.Voter {
			t.Errorf("%s: voter %v, want %v (known %v)", p.Name, p.Voter, v, ok)
		}
	}
}

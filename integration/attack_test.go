//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
)

// The attacker suite: real agents and routers with TLS on, attacked from
// this test process the way someone on the network would, with nothing
// but TCP, the raft library and (for some attacks) a certificate that is
// valid but wrong for the link.

// flagValue returns the value after flag in args ("" if absent).
func flagValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// raftAttacker is a raft.StreamLayer that dials with tlsCfg (nil: plain
// TCP) and listens nowhere (Accept blocks until Close).
type raftAttacker struct {
	tlsCfg *tls.Config
	closed chan struct{}
}

func (a raftAttacker) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if a.tlsCfg == nil {
		return net.DialTimeout("tcp", string(addr), timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := tls.Dialer{Config: a.tlsCfg}
	return d.DialContext(ctx, "tcp", string(addr))
}
func (a raftAttacker) Accept() (net.Conn, error) { <-a.closed; return nil, net.ErrClosed }
func (a raftAttacker) Close() error              { close(a.closed); return nil }
func (raftAttacker) Addr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// attackerTLS presents role/name's certificate (from this binary's CA, or
// from a CA of its own when foreign) and trusts any server.
func attackerTLS(t *testing.T, role pki.Role, name string, foreign bool) *tls.Config {
	t.Helper()
	files := testCert(t, role, name)
	if foreign {
		dir := t.TempDir()
		if err := pki.CreateCA(dir, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := pki.IssueCert(dir, dir, pki.LeafRequest{Role: role, Name: name}, time.Now()); err != nil {
			t.Fatal(err)
		}
		files = pki.Files{CA: filepath.Join(dir, pki.CAFile), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	}
	store, err := pki.Load(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := store.ClientConfig(pki.Peer{})
	cfg.VerifyConnection = nil
	return cfg
}

// TestAttackRaftAndAPI: three agents with TLS. Raft clients without a
// certificate, with another CA's agent certificate and with a router
// certificate of the cluster's own CA send an AppendEntries carrying a
// higher term and a RouterPut, and a RequestVote: every one fails at the
// handshake, no agent's term moves, no router appears. API calls without a
// certificate get 401, with a router certificate (or an operator's on an
// agent-only endpoint) 403, and change nothing.
func TestAttackRaftAndAPI(t *testing.T) {
	clusterPool.join(t)
	skipIfPlaintext(t)
	tc := startClusterWith(t, 3, func() string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }, false)
	l := tc.waitLeader(30 * time.Second)
	api := "--http-addr=" + l.httpAddr
	balancerIMH(t, "router", "add", "r1", "--addr", "127.0.0.1:9", api)
	balancerIMH(t, "dest", "create", "web", api)
	before, err := l.status()
	if err != nil {
		t.Fatal(err)
	}

	attackers := map[string]*tls.Config{
		"no certificate (plain TCP)":          nil,
		"no certificate (TLS)":                {InsecureSkipVerify: true, MinVersion: tls.VersionTLS13},
		"agent certificate of another CA":     attackerTLS(t, pki.RoleAgent, "n1", true),
		"router certificate of the cluster":   attackerTLS(t, pki.RoleRouter, "r1", false),
		"operator certificate of the cluster": attackerTLS(t, pki.RoleClient, "ops2", false),
	}
	evil, _ := json.Marshal(map[string]string{"name": "evil", "addr": "127.0.0.1:6666"})
	for who, cfg := range attackers {
		tr := raft.NewNetworkTransport(raftAttacker{tlsCfg: cfg, closed: make(chan struct{})}, 1, 3*time.Second, io.Discard)
		for _, a := range tc.agents {
			target := raft.ServerAddress(flagValue(a.args, "--raft-bind"))
			var aer raft.AppendEntriesResponse
			err := tr.AppendEntries(raft.ServerID(a.name), target, &raft.AppendEntriesRequest{
				RPCHeader: raft.RPCHeader{ID: []byte("evil"), Addr: []byte("127.0.0.1:6666")},
				Term:      before.Term + 50, LeaderCommitIndex: 1 << 40,
				Entries: []*raft.Log{{Index: 1 << 30, Term: before.Term + 50, Type: raft.LogCommand, Data: evil}},
			}, &aer)
			if err == nil {
				t.Errorf("%s: AppendEntries to %s answered %+v", who, a.name, aer)
			}
			var vr raft.RequestVoteResponse
			err = tr.RequestVote(raft.ServerID(a.name), target, &raft.RequestVoteRequest{
				RPCHeader: raft.RPCHeader{ID: []byte("evil"), Addr: []byte("127.0.0.1:6666")},
				Term:      before.Term + 60, LastLogIndex: 1 << 40, LastLogTerm: before.Term + 60,
			}, &vr)
			if err == nil {
				t.Errorf("%s: RequestVote to %s answered %+v", who, a.name, vr)
			}
		}
		_ = tr.Close()
	}

	calls := []struct{ method, path, body string }{
		{"DELETE", "/v1/destinations/web", ""},
		{"POST", "/v1/routers", `{"name":"evil","addr":"127.0.0.1:6666"}`},
		{"POST", "/v1/internal/removed", `{}`},
		{"POST", "/v1/internal/announce", `{"name":"n1","raft_addr":"127.0.0.1:6666"}`},
		{"GET", "/v1/snapshot", ""},
		{"PUT", "/v1/snapshot", "x"},
	}
	clients := []struct {
		who    string
		client *http.Client
		want   func(path string) int
	}{
		{"no certificate", clientAs(t, "", ""), func(string) int { return 401 }},
		{"router certificate", clientAs(t, pki.RoleRouter, "r1"), func(string) int { return 403 }},
		{"frontend certificate", clientAs(t, pki.RoleFrontend, "f1"), func(string) int { return 403 }},
		{"operator certificate", clientAs(t, pki.RoleClient, "ops2"), func(p string) int {
			if strings.HasPrefix(p, "/v1/internal/") {
				return 403
			}
			return 0 // allowed: not an attack
		}},
	}
	for _, c := range clients {
		for _, call := range calls {
			want := c.want(call.path)
			if want == 0 {
				continue
			}
			for _, a := range tc.agents {
				req, _ := http.NewRequest(call.method, agentURL(a.httpAddr, call.path), strings.NewReader(call.body))
				resp, err := c.client.Do(req)
				if err != nil {
					t.Errorf("%s: %s %s on %s: %v", c.who, call.method, call.path, a.name, err)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("%s: %s %s on %s: %d, want %d", c.who, call.method, call.path, a.name, resp.StatusCode, want)
				}
			}
		}
	}
	// A plaintext client gets nowhere either.
	if resp, err := http.Get("http://" + l.httpAddr + "/v1/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plaintext HTTP: %d", resp.StatusCode)
		}
	}

	// An operator (valid client certificate) uploads a snapshot without
	// destinations, and a forged one (a state that decodes, under the MAC
	// trailer of another snapshot): both refused (exit 2).
	dir := t.TempDir()
	snap, empty, forged := filepath.Join(dir, "ok.snap"), filepath.Join(dir, "empty.snap"), filepath.Join(dir, "forged.snap")
	balancerIMH(t, "cluster", "snapshot", "save", snap, api)
	balancerIMH(t, "dest", "remove", "web", api)
	balancerIMH(t, "cluster", "snapshot", "save", empty, api)
	if _, stderr, code := runIMH(t, "cluster", "snapshot", "restore", empty, "--yes", api); code != 2 || !strings.Contains(stderr, "no destination") {
		t.Errorf("empty snapshot restore: exit %d: %s", code, stderr)
	}
	good, err1 := os.ReadFile(snap)
	other, err2 := os.ReadFile(empty)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	const trailer = 16 + 1 + 32
	if err := os.WriteFile(forged, append(good[:len(good)-trailer:len(good)-trailer], other[len(other)-trailer:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runIMH(t, "cluster", "snapshot", "restore", forged, "--yes", api); code != 2 || !strings.Contains(stderr, "MAC") {
		t.Errorf("forged snapshot restore: exit %d: %s", code, stderr)
	}
	balancerIMH(t, "cluster", "snapshot", "restore", snap, "--yes", api) // the genuine one brings web back

	// Nothing changed: same term, same leader, same routers and
	// destinations on every agent.
	for _, a := range tc.agents {
		st, err := a.status()
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		if st.Term != before.Term || st.Leader != before.Leader {
			t.Errorf("%s: term %d leader %s, was %d %s", a.name, st.Term, st.Leader, before.Term, before.Leader)
		}
		if names := routerNames(t, a); !slices.Equal(names, []string{"r1"}) {
			t.Errorf("%s: routers %v", a.name, names)
		}
		eventually.True(t, 10*time.Second, a.name+" to hold the restored destination", func() bool {
			st, err := a.status()
			return err == nil && len(st.Destinations) == 1
		})
		if strings.Contains(a.proc.Log(), "removed from the cluster") {
			t.Errorf("%s believes it was removed", a.name)
		}
	}
}

// routerView is the leader's view of router name: its state.
func routerView(t *testing.T, tc *testCluster, name string) string {
	t.Helper()
	return routerLive(t, tc, name).State
}

// routerLive is the leader's view of router name (zero if unknown).
func routerLive(t *testing.T, tc *testCluster, name string) status.Router {
	t.Helper()
	l := tc.leader()
	if l == nil {
		return status.Router{}
	}
	st, err := l.status()
	if err != nil {
		return status.Router{}
	}
	for _, r := range st.Routers {
		if r.Name == name {
			return r
		}
	}
	return status.Router{}
}

// TestAttackImpostorRouterAndFlood: router r1 is genuine; the process
// listening where the cluster expects router r3 holds a valid certificate
// of the cluster CA, but for r2 (a stolen router host, say). The balancer
// refuses it (r3 stays down, the agent logs the name mismatch) and it
// never gets a session, so no LeaseSet key. Then 2,000 connections flood
// r1: the router's caps close all but a few at once, and the balancer
// keeps its session on r1 throughout.
func TestAttackImpostorRouterAndFlood(t *testing.T) {
	skipIfPlaintext(t)
	n := startRouterNet(t, 5*time.Minute, "r1", "r2")
	r1, impostor := n.routers[0], n.routers[1]
	tc := startClusterWith(t, 3, func() string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }, false)
	l := tc.waitLeader(30 * time.Second)
	api := "--http-addr=" + l.httpAddr
	balancerIMH(t, "router", "add", "r1", "--addr", r1.addr, api)
	balancerIMH(t, "router", "add", "r3", "--addr", impostor.addr, api)
	balancerIMH(t, "dest", "create", "web", "--inbound", "2", api)

	eventually.True(t, 60*time.Second, "a controlled session on r1", func() bool {
		st := r1.status(t)
		return len(st.Sessions) == 1 && st.Sessions[0].ControlAttached && routerView(t, tc, "r1") == "up"
	})
	eventually.True(t, 10*time.Second, "imh status to show r3 (the impostor) down with the reason", func() bool {
		r := routerLive(t, tc, "r3")
		return r.State == "down" && strings.Contains(r.Error, "certificate names router/r2, want router/r3")
	})
	if st := impostor.status(t); len(st.Sessions) != 0 {
		t.Fatalf("the impostor holds %d sessions", len(st.Sessions))
	}
	eventually.True(t, 10*time.Second, "the leader to log why r3 is refused", func() bool {
		for _, a := range tc.agents {
			if strings.Contains(a.proc.Log(), "certificate names router/r2, want router/r3") {
				return true
			}
		}
		return false
	})

	// The flood: 2,000 TCP connections that never speak.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 2000 {
		c, err := net.DialTimeout("tcp", r1.addr, time.Second)
		if err != nil {
			continue
		}
		conns = append(conns, c)
	}
	// Count those the router still holds open: a read either times out
	// (held) or ends (closed by the cap).
	held := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				held++
			}
		}
	}
	t.Logf("flood: %d connections opened, %d held by the router (cap 64 per source)", len(conns), held)
	if held > 64 {
		t.Errorf("router holds %d flood connections, want at most 64", held)
	}
	st := r1.status(t)
	if len(st.Sessions) != 1 || !st.Sessions[0].ControlAttached {
		t.Fatalf("the balancer lost its session on r1 during the flood: %+v", st.Sessions)
	}
	if got := routerView(t, tc, "r1"); got != "up" {
		t.Fatalf("leader's view of r1 after the flood: %q", got)
	}
}

func skipIfPlaintext(t *testing.T) {
	if plaintext {
		t.Skip("IMH_TEST_PLAINTEXT=1: attacks on TLS need TLS")
	}
}

// TestAttackReplayCreateSession: a managed CreateSession, signed by the
// Destination key and bound to the TLS connection it was made for
// (imh.binding), opens the session there. The same signed bytes replayed
// on a new connection to the same router, and on a connection to another
// router, are refused, and a config bound to no connection is refused
// too, as is a bound one from a frontend's or an operator's certificate;
// the genuine controller keeps its session.
func TestAttackReplayCreateSession(t *testing.T) {
	skipIfPlaintext(t)
	n := startRouterNet(t, 5*time.Minute, "r1", "r2")
	r1, r2 := n.routers[0], n.routers[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dial := func(r *routerProc) *routerproto.Client {
		c, err := routerproto.Dial(ctx, r.addr, routerDialConfig(t, r.name))
		if err != nil {
			t.Fatalf("dial %s: %v", r.name, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(binding []byte) *routerproto.SessionConfig {
		opts := i2p.Mapping{routerproto.OptManaged: "true", routerproto.OptTerm: "7"}
		if binding != nil {
			opts[routerproto.OptBinding] = hex.EncodeToString(binding)
		}
		sc, err := routerproto.SignSessionConfig(keys, opts, uint64(time.Now().UnixMilli()))
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	genuine := dial(r1)
	captured := sign(genuine.Binding())
	if _, err := genuine.CreateSession(ctx, captured); err != nil {
		t.Fatalf("genuine CreateSession: %v", err)
	}
	for name, c := range map[string]*routerproto.Client{"same router": dial(r1), "another router": dial(r2)} {
		if id, err := c.CreateSession(ctx, captured); err == nil {
			t.Errorf("replay to %s: session %d opened", name, id)
		}
	}
	if id, err := dial(r1).CreateSession(ctx, sign(nil)); err == nil {
		t.Errorf("unbound CreateSession: session %d opened", id)
	}
	// A frontend's or an operator's certificate cannot take control of a
	// managed session, even with a correctly bound config.
	for _, role := range []pki.Role{pki.RoleFrontend, pki.RoleClient} {
		c, err := routerproto.Dial(ctx, r1.addr, routerDialAs(t, role, "x", r1.name))
		if err != nil {
			t.Fatalf("dial as %s: %v", role, err)
		}
		if id, err := c.CreateSession(ctx, sign(c.Binding())); err == nil {
			t.Errorf("%s certificate: managed session %d opened", role, id)
		}
		c.Close()
	}
	st := r1.status(t)
	if len(st.Sessions) != 1 || !st.Sessions[0].ControlAttached || st.Sessions[0].Term != 7 {
		t.Fatalf("r1 sessions after the replays: %+v", st.Sessions)
	}
	if st := r2.status(t); len(st.Sessions) != 0 {
		t.Fatalf("r2 holds %d sessions", len(st.Sessions))
	}
}

// TestAttackFrontend: a frontend's leader port takes only agents of the
// cluster CA. Without a certificate, with another CA's agent certificate,
// or with the cluster's router, frontend or operator certificates, the
// TLS handshake fails or the connection ends before a frontendproto
// byte is answered; nobody but an agent gets an assignment through, so
// nobody but the leader can make it ask for (or take) a transient key.
func TestAttackFrontend(t *testing.T) {
	skipIfPlaintext(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	fe := startIMH(t, "frontend", "frontend", "serve", "--name", "f1", "--listen", addr, "--router", "127.0.0.1:1")
	eventually.True(t, 10*time.Second, "frontend listening", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for name, cfg := range map[string]*tls.Config{
		"no certificate":         {InsecureSkipVerify: true, MinVersion: tls.VersionTLS13},
		"another CA's agent":     attackerTLS(t, pki.RoleAgent, "n1", true),
		"the cluster's router":   attackerTLS(t, pki.RoleRouter, "r1", false),
		"the cluster's frontend": attackerTLS(t, pki.RoleFrontend, "f2", false),
		"the cluster's operator": attackerTLS(t, pki.RoleClient, "ops", false),
	} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err == nil {
			// TLS 1.3: the server's verdict on our certificate comes with
			// the first read.
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("IMHF\x01"))
			_, err = c.Read(make([]byte, 5))
			c.Close()
		}
		if err == nil {
			t.Errorf("%s: the frontend answered the preamble", name)
		}
	}
	// An agent of the cluster gets the preamble back.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, attackerTLS(t, pki.RoleAgent, "n1", false))
	if err != nil {
		t.Fatalf("agent: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("IMHF\x01"))
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "IMHF\x01" {
		t.Fatalf("agent: preamble %q, %v", got, err)
	}
	if fe.Exited() {
		t.Fatal("the frontend died")
	}
}

package cluster_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/internal/logging"
	"github.com/imh-project/imh/internal/pki"
)

// testPKI is a throwaway CA with one store per role/name.
type testPKI struct {
	t   *testing.T
	dir string
}

func newTestPKI(t *testing.T) *testPKI {
	dir := t.TempDir()
	if err := pki.CreateCA(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	return &testPKI{t: t, dir: dir}
}

func (p *testPKI) store(role pki.Role, name string) *pki.Store {
	p.t.Helper()
	out := p.t.TempDir()
	if _, err := pki.IssueCert(p.dir, out, pki.LeafRequest{Role: role, Name: name}, time.Now()); err != nil {
		p.t.Fatal(err)
	}
	s, err := pki.Load(pki.Files{CA: filepath.Join(p.dir, pki.CAFile), Cert: filepath.Join(out, name+".pem"), Key: filepath.Join(out, name+"-key.pem")}, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// httpsAs is an API client presenting store's certificate (nil: none).
func httpsAs(ca *pki.Store, store *pki.Store) *http.Client {
	cfg := ca.ClientConfig(pki.Peer{Roles: []pki.Role{pki.RoleAgent}})
	if store != nil {
		cfg = store.ClientConfig(pki.Peer{Roles: []pki.Role{pki.RoleAgent}})
	} else {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func call(t *testing.T, c *http.Client, method, url string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	resp, err := c.Do(req)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTLSClusterRefusesStrangers runs three agents under mutual TLS: they
// elect a leader and forward writes; a raft peer with a router
// certificate or another CA's agent certificate cannot append; the API
// answers 401 without a certificate and 403 to a router.
func TestTLSClusterRefusesStrangers(t *testing.T) {
	t.Parallel()
	ca := newTestPKI(t)
	secret, _ := cluster.NewSecret()
	var nodes []*tcpNode
	var gossip []string
	for range 3 {
		gossip = append(gossip, freeAddr(t))
	}
	for i := range 3 {
		cfg := cluster.DefaultConfig()
		cfg.NodeName = fmt.Sprintf("n%d", i+1)
		cfg.DataDir, cfg.RaftBind, cfg.GossipBind, cfg.HTTPBind = t.TempDir(), freeAddr(t), gossip[i], freeAddr(t)
		cfg.BootstrapExpect, cfg.Join, cfg.RaftMultiplier = 3, gossip, 2
		cfg.Secret, cfg.Logger, cfg.TLS = secret, logging.Discard(), ca.store(pki.RoleAgent, cfg.NodeName)
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
	l := applyTCP(t, nodes, &fsm.RouterPut{Name: "r1", Addr: "127.0.0.1:7000"})
	var follower *tcpNode
	for _, n := range nodes {
		if n != l {
			follower = n
		}
	}
	op := ca.store(pki.RoleClient, "ops")
	router := ca.store(pki.RoleRouter, "r1")
	base := "https://" + follower.c.HTTPAddr()
	// An operator's write through a follower is forwarded to the leader.
	deadline := time.Now().Add(20 * time.Second)
	for code := 0; code != 200; code = call(t, httpsAs(op, op), "POST", base+"/v1/routers", cluster.RouterInfo{Name: "r2", Addr: "127.0.0.1:7001"}) {
		if time.Now().After(deadline) {
			t.Fatalf("operator write: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tc := range []struct {
		who    string
		client *http.Client
		method string
		path   string
		want   int
	}{
		{"no certificate", httpsAs(op, nil), "DELETE", "/v1/routers/r1", 401},
		{"router certificate", httpsAs(router, router), "DELETE", "/v1/routers/r1", 403},
		{"router certificate, internal", httpsAs(router, router), "POST", "/v1/internal/removed", 403},
		{"operator on an internal endpoint", httpsAs(op, op), "POST", "/v1/internal/announce", 403},
		{"operator reads", httpsAs(op, op), "GET", "/v1/routers", 200},
		{"router certificate, frontends", httpsAs(router, router), "DELETE", "/v1/frontends/f1", 403},
		{"operator reads frontends", httpsAs(op, op), "GET", "/v1/frontends", 200},
		// The web console is the API's: same port, same rule.
		{"operator opens the console", httpsAs(op, op), "GET", "/ui/", 200},
		{"operator loads its script", httpsAs(op, op), "GET", "/ui/app.js", 200},
		{"console without a certificate", httpsAs(op, nil), "GET", "/ui/", 401},
		{"console with a router certificate", httpsAs(router, router), "GET", "/ui/", 403},
		{"console script with a router certificate", httpsAs(router, router), "GET", "/ui/app.js", 403},
		{"console is read-only", httpsAs(op, op), "POST", "/ui/", 405},
	} {
		if got := call(t, tc.client, tc.method, base+tc.path, struct{}{}); got != tc.want {
			t.Errorf("%s: %s %s = %d, want %d", tc.who, tc.method, tc.path, got, tc.want)
		}
	}
	if got := len(l.c.State().Routers()); got != 2 {
		t.Fatalf("%d routers after refused calls, want 2", got)
	}

	// Raft: an AppendEntries with a much higher term from a router
	// certificate, or another CA's agent, never reaches raft.
	other := newTestPKI(t)
	term := l.c.Term()
	for name, s := range map[string]*pki.Store{"router cert": router, "foreign agent": other.store(pki.RoleAgent, "n9")} {
		tr := raft.NewNetworkTransport(attackStream{s}, 1, 2*time.Second, nil)
		var resp raft.AppendEntriesResponse
		err := tr.AppendEntries("n1", raft.ServerAddress(l.cfg.RaftBind), &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ID: []byte("evil"), Addr: []byte("127.0.0.1:1")}, Term: term + 100,
		}, &resp)
		_ = tr.Close()
		if err == nil {
			t.Errorf("%s: append accepted: %+v", name, resp)
		}
	}
	if got := l.c.Term(); got != term {
		t.Errorf("term moved %d -> %d", term, got)
	}
}

// attackStream dials raft presenting a given certificate and trusting
// any server (listening nowhere).
type attackStream struct{ s *pki.Store }

func (a attackStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cfg := a.s.ClientConfig(pki.Peer{})
	cfg.VerifyConnection = nil // an attacker trusts any server
	d := tls.Dialer{Config: cfg}
	return d.DialContext(ctx, "tcp", string(addr))
}
func (attackStream) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (attackStream) Close() error              { return nil }
func (attackStream) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

//go:build integration

package integration

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/pki"
)

// ownCert copies role/name's certificate and key into dir, so that a test
// can renew them without touching the files other tests share.
func ownCert(t *testing.T, dir string, role pki.Role, name string) pki.Files {
	t.Helper()
	shared := testCert(t, role, name)
	own := pki.Files{CA: shared.CA, Cert: filepath.Join(dir, string(role)+"-"+name+".pem"), Key: filepath.Join(dir, string(role)+"-"+name+"-key.pem")}
	for src, dst := range map[string]string{shared.Cert: own.Cert, shared.Key: own.Key} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return own
}

// renew issues a new certificate for role/name and moves it over f (key
// first, then certificate, as an operator would with mv).
func renew(t *testing.T, f pki.Files, role pki.Role, name string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.IssueCert(testPKIDir, dir, pki.LeafRequest{Role: role, Name: name}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, name+"-key.pem"), f.Key); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, name+".pem"), f.Cert); err != nil {
		t.Fatal(err)
	}
}

// servedSerial is the serial of the certificate a TLS server at addr
// presents.
func servedSerial(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err != nil {
		return ""
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func fileSerial(t *testing.T, f pki.Files) string {
	t.Helper()
	s, err := pki.Load(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.Leaf().SerialNumber.String()
}

// TestTLSRenewalWithoutRestart: every agent and a router get renewed
// certificates (new files moved over the old ones, then SIGHUP); they
// serve the new certificates at once, the cluster keeps taking writes and
// the balancer's session on the router is never dropped (same id, same
// term, still controlled).
func TestTLSRenewalWithoutRestart(t *testing.T) {
	skipIfPlaintext(t)
	dir := t.TempDir()
	n := startRouterNet(t, 5*time.Minute)
	rf := ownCert(t, dir, pki.RoleRouter, "r1")
	r1 := &routerProc{name: "r1", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), http: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	r1.p = startIMHEnv(t, "router-r1", filesEnv(rf), "router", "serve", "--listen", r1.addr, "--http", r1.http, "--name", "r1",
		"--network", "simnet://"+n.simAddr)
	eventually.True(t, 20*time.Second, "router r1", func() bool {
		var st routerStatus
		return httpGetJSON("http://"+r1.http+"/status", &st) == nil
	})

	tc := startClusterWith(t, 3, func() string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }, false)
	tc.waitLeader(30 * time.Second)
	// A rolling restart onto files of their own.
	own := map[string]pki.Files{}
	for _, a := range tc.agents {
		own[a.name] = ownCert(t, dir, pki.RoleAgent, a.name)
		a.env = filesEnv(own[a.name])
		if err := a.proc.Stop(); err != nil {
			t.Fatal(err)
		}
		tc.start(a)
		tc.waitLeader(30 * time.Second)
	}
	api := "--http-addr=" + tc.waitLeader(30*time.Second).httpAddr
	balancerIMH(t, "router", "add", "r1", "--addr", r1.addr, api)
	balancerIMH(t, "dest", "create", "web", "--inbound", "2", api)
	var id uint16
	var term uint64
	eventually.True(t, 60*time.Second, "a controlled session on r1", func() bool {
		st := r1.status(t)
		if len(st.Sessions) != 1 || !st.Sessions[0].ControlAttached {
			return false
		}
		id, term = st.Sessions[0].ID, st.Sessions[0].Term
		return true
	})

	renew(t, rf, pki.RoleRouter, "r1")
	if err := r1.p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for _, a := range tc.agents {
		renew(t, own[a.name], pki.RoleAgent, a.name)
		if err := a.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	want := fileSerial(t, rf)
	eventually.True(t, 10*time.Second, "r1 to serve its renewed certificate", func() bool { return servedSerial(t, r1.addr) == want })
	for _, a := range tc.agents {
		want := fileSerial(t, own[a.name])
		eventually.True(t, 10*time.Second, a.name+" to serve its renewed certificate", func() bool { return servedSerial(t, a.httpAddr) == want })
		if !strings.Contains(a.proc.Log(), "tls certificates reloaded") {
			t.Errorf("%s did not log the reload", a.name)
		}
	}

	// Raft and the API work on the new certificates: a write reaches every
	// agent; the router's session was never dropped.
	balancerIMH(t, "router", "add", "r9", "--addr", "127.0.0.1:9", api)
	for _, a := range tc.agents {
		eventually.True(t, 10*time.Second, a.name+" to see r9", func() bool { return len(routerNames(t, a)) == 2 })
	}
	st := r1.status(t)
	if len(st.Sessions) != 1 || st.Sessions[0].ID != id || st.Sessions[0].Term != term || !st.Sessions[0].ControlAttached {
		t.Fatalf("r1's session changed across the renewal: %+v (was id %d term %d)", st.Sessions, id, term)
	}
}

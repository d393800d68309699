package pki

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// newCA creates a CA in a temp dir and returns the dir.
func newCA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := CreateCA(dir, time.Now()); err != nil {
		t.Fatalf("CreateCA: %v", err)
	}
	return dir
}

// issue issues role/name from caDir into caDir and loads it as a Store
// trusting caDir's CA.
func issue(t *testing.T, caDir string, role Role, name string) *Store {
	t.Helper()
	out := t.TempDir()
	if _, err := IssueCert(caDir, out, LeafRequest{Role: role, Name: name}, time.Now()); err != nil {
		t.Fatalf("IssueCert %s/%s: %v", role, name, err)
	}
	s, err := Load(Files{CA: filepath.Join(caDir, CAFile), Cert: filepath.Join(out, name+".pem"), Key: filepath.Join(out, name+"-key.pem")}, nil)
	if err != nil {
		t.Fatalf("Load %s/%s: %v", role, name, err)
	}
	return s
}

// handshake runs one TLS handshake over loopback TCP and returns the
// client's and the server's errors.
func handshake(client, server *tls.Config) (cerr, serr error) {
	a, b, err := tcpPair()
	if err != nil {
		return err, err
	}
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		sc := tls.Server(b, server)
		err := sc.HandshakeContext(ctx)
		if err == nil {
			// TLS 1.3: the client's certificate is checked after the
			// client's handshake returns; read to see the outcome.
			_, err = sc.Read(make([]byte, 1))
		}
		b.Close()
		done <- err
	}()
	cc := tls.Client(a, client)
	cerr = cc.HandshakeContext(ctx)
	if cerr == nil {
		_, cerr = cc.Write([]byte{1})
	}
	a.Close()
	return cerr, <-done
}

func TestIssueWritesIdentityAndModes(t *testing.T) {
	ca := newCA(t)
	s := issue(t, ca, RoleRouter, "r1")
	if got := s.Identity(); got != (Identity{RoleRouter, "r1"}) {
		t.Fatalf("identity %v", got)
	}
	leaf := s.Leaf()
	if leaf.Subject.CommonName != "r1" || len(leaf.IPAddresses) != 2 || leaf.DNSNames[0] != "localhost" {
		t.Errorf("leaf subject %v ips %v dns %v", leaf.Subject, leaf.IPAddresses, leaf.DNSNames)
	}
	if d := time.Until(leaf.NotAfter); d < DefaultLeafValidity-time.Hour || d > DefaultLeafValidity {
		t.Errorf("leaf valid for %v, want %v", d, DefaultLeafValidity)
	}
	st, err := os.Stat(filepath.Join(ca, CAKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode %v (%v), want 0600", st.Mode(), err)
	}
}

func TestNothingOverwritten(t *testing.T) {
	ca := newCA(t)
	before, _ := os.ReadFile(filepath.Join(ca, CAKeyFile))
	if err := CreateCA(ca, time.Now()); !errors.Is(err, ErrExists) {
		t.Fatalf("second CreateCA: %v, want ErrExists", err)
	}
	after, _ := os.ReadFile(filepath.Join(ca, CAKeyFile))
	if string(before) != string(after) {
		t.Fatal("CA key changed")
	}
	if _, err := IssueCert(ca, ca, LeafRequest{Role: RoleAgent, Name: "n1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := IssueCert(ca, ca, LeafRequest{Role: RoleAgent, Name: "n1"}, time.Now()); !errors.Is(err, ErrExists) {
		t.Fatalf("second IssueCert: %v, want ErrExists", err)
	}
	if _, err := IssueCert(ca, ca, LeafRequest{Role: RoleAgent, Name: "../x"}, time.Now()); err == nil {
		t.Fatal("name with a path accepted")
	}
}

func TestHandshakeRolesNamesAndCAs(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	agent1, agent2 := issue(t, ca, RoleAgent, "n1"), issue(t, ca, RoleAgent, "n2")
	router := issue(t, ca, RoleRouter, "r1")
	foreign := issue(t, other, RoleAgent, "n1") // another CA's agent (it trusts only its own CA)
	raftOnly := Peer{Roles: []Role{RoleAgent}}
	tests := []struct {
		name           string
		client, server *tls.Config
		wantErr        error // on either side; nil = success
	}{
		{"agent to agent", agent1.ClientConfig(raftOnly), agent2.ServerConfig(raftOnly), nil},
		{"router cert refused by raft", router.ClientConfig(raftOnly), agent2.ServerConfig(raftOnly), ErrRole},
		{"other CA refused", foreign.ClientConfig(raftOnly), agent2.ServerConfig(raftOnly), ErrUntrusted},
		{"router proves its name", agent1.ClientConfig(Peer{Roles: []Role{RoleRouter}, Name: "r1"}), router.ServerConfig(Peer{Roles: []Role{RoleAgent}}), nil},
		{"router with another name refused", agent1.ClientConfig(Peer{Roles: []Role{RoleRouter}, Name: "r2"}), router.ServerConfig(Peer{Roles: []Role{RoleAgent}}), ErrName},
		{"agent posing as router refused", agent1.ClientConfig(Peer{Roles: []Role{RoleRouter}, Name: "n2"}), agent2.ServerConfig(Peer{Roles: []Role{RoleAgent}}), ErrRole},
		{"router named by NamedClientConfigs", agent1.NamedClientConfigs(RoleRouter)("r1"), router.ServerConfig(Peer{Roles: []Role{RoleAgent}}), nil},
		{"router of another name by NamedClientConfigs", agent1.NamedClientConfigs(RoleRouter)("r2"), router.ServerConfig(Peer{Roles: []Role{RoleAgent}}), ErrName},
		{"agent by NamedClientConfigs for frontends", agent1.NamedClientConfigs(RoleFrontend)("n2"), agent2.ServerConfig(Peer{Roles: []Role{RoleAgent}}), ErrRole},
		{"no client cert", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, agent2.ServerConfig(raftOnly), nil /* server fails */},
	}
	if (*Store)(nil).NamedClientConfigs(RoleRouter) != nil {
		t.Error("NamedClientConfigs of a nil Store (plaintext) is not nil")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cerr, serr := handshake(tt.client, tt.server)
			if tt.name == "no client cert" {
				if serr == nil {
					t.Fatal("server accepted a client without a certificate")
				}
				return
			}
			if tt.wantErr == nil {
				if cerr != nil || serr != nil {
					t.Fatalf("client %v, server %v", cerr, serr)
				}
				return
			}
			if !errors.Is(cerr, tt.wantErr) && !errors.Is(serr, tt.wantErr) {
				t.Fatalf("client %v, server %v; want %v", cerr, serr, tt.wantErr)
			}
		})
	}
}

func TestReloadSwapsAndKeepsOldOnError(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	if _, err := IssueCert(ca, dir, LeafRequest{Role: RoleAgent, Name: "n1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	files := Files{CA: filepath.Join(ca, CAFile), Cert: filepath.Join(dir, "n1.pem"), Key: filepath.Join(dir, "n1-key.pem")}
	s, err := Load(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := s.Leaf().SerialNumber
	// Renewal: issue into another dir and move the new pair over.
	renew := t.TempDir()
	if _, err := IssueCert(ca, renew, LeafRequest{Role: RoleAgent, Name: "n1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(renew, "n1.pem"), files.Cert); err != nil {
		t.Fatal(err)
	}
	// Half renewed: new cert, old key.
	if err := s.Reload(); err == nil {
		t.Fatal("reload of a mismatched pair succeeded")
	}
	if s.Leaf().SerialNumber.Cmp(old) != 0 {
		t.Fatal("failed reload replaced the certificate")
	}
	if err := os.Rename(filepath.Join(renew, "n1-key.pem"), files.Key); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Watch(ctx, 10*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for s.Leaf().SerialNumber.Cmp(old) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not pick up the renewed pair")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tcpPair() (net.Conn, net.Conn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	b, err := ln.Accept()
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

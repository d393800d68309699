//go:build integration

package integration

import (
	"crypto/tls"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/routerproto"
)

// Every test runs with TLS on, like an operator would: TestMain creates
// one CA for the test binary (setupPKI) and points IMH_CA_FILE,
// IMH_CERT_FILE and IMH_KEY_FILE at an operator (client) certificate, so
// every CLI call is authenticated; every daemon started through startIMH
// or nsIMH.start gets a certificate of its own (certEnv).

// testPKIDir holds the CA and every certificate issued for this binary.
var testPKIDir string

// operatorName is the client certificate the CLI calls use.
const operatorName = "operator"

// plaintext is set by IMH_TEST_PLAINTEXT=1: daemons and the CLI run
// without TLS (on loopback), for benchmarks comparing TLS on and off.
var plaintext = os.Getenv("IMH_TEST_PLAINTEXT") == "1"

func setupPKI(dir string) error {
	if plaintext {
		// A parent test binary (BenchmarkBalancer) may have set these.
		for _, k := range []string{"IMH_CA_FILE", "IMH_CERT_FILE", "IMH_KEY_FILE"} {
			if err := os.Unsetenv(k); err != nil {
				return err
			}
		}
		return nil
	}
	testPKIDir = filepath.Join(dir, "pki")
	if err := os.MkdirAll(testPKIDir, 0o700); err != nil {
		return err
	}
	if err := pki.CreateCA(testPKIDir, time.Now()); err != nil {
		return err
	}
	f, err := issueTestCert(pki.RoleClient, operatorName)
	if err != nil {
		return err
	}
	for k, v := range map[string]string{"IMH_CA_FILE": f.CA, "IMH_CERT_FILE": f.Cert, "IMH_KEY_FILE": f.Key} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	store, err := pki.Load(f, nil)
	if err != nil {
		return err
	}
	httpClient = tlsHTTPClient(store)
	return nil
}

var issued = struct {
	sync.Mutex
	files map[string]pki.Files
}{files: map[string]pki.Files{}}

// issueTestCert returns the files of role/name, issuing them on first use
// (one subdirectory per role: a router and an agent may share a name).
func issueTestCert(role pki.Role, name string) (pki.Files, error) {
	issued.Lock()
	defer issued.Unlock()
	key := string(role) + "/" + name
	if f, ok := issued.files[key]; ok {
		return f, nil
	}
	dir := filepath.Join(testPKIDir, string(role))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return pki.Files{}, err
	}
	if _, err := pki.IssueCert(testPKIDir, dir, pki.LeafRequest{Role: role, Name: name}, time.Now()); err != nil {
		return pki.Files{}, err
	}
	f := pki.Files{CA: filepath.Join(testPKIDir, pki.CAFile), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	issued.files[key] = f
	return f, nil
}

// testCert is issueTestCert failing the test on error.
func testCert(t testing.TB, role pki.Role, name string) pki.Files {
	t.Helper()
	f, err := issueTestCert(role, name)
	if err != nil {
		t.Fatalf("certificate %s/%s: %v", role, name, err)
	}
	return f
}

// filesEnv is the environment that makes an imh process use f.
func filesEnv(f pki.Files) []string {
	return []string{"IMH_CA_FILE=" + f.CA, "IMH_CERT_FILE=" + f.Cert, "IMH_KEY_FILE=" + f.Key}
}

// certEnv gives a daemon the certificate its command line calls for: an
// agent one named by --node-name (any agent name otherwise, e.g. with
// --config), a router one named by --name for `router serve`. Other
// commands keep the operator's.
func certEnv(t testing.TB, args []string) []string {
	t.Helper()
	if plaintext {
		return nil
	}
	flag := func(name string) string {
		for i, a := range args {
			if a == "--"+name && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v
			}
		}
		return ""
	}
	switch {
	case len(args) > 0 && args[0] == "agent":
		name := flag("node-name")
		if name == "" {
			name = "agent"
		}
		return filesEnv(testCert(t, pki.RoleAgent, name))
	case len(args) > 1 && args[0] == "router" && args[1] == "serve" && flag("name") != "":
		return filesEnv(testCert(t, pki.RoleRouter, flag("name")))
	case len(args) > 1 && args[0] == "frontend" && args[1] == "serve" && flag("name") != "":
		return filesEnv(testCert(t, pki.RoleFrontend, flag("name")))
	}
	return nil
}

// tlsHTTPClient talks HTTPS to agents as store's holder (and plain HTTP
// to the routers' and simnet's status endpoints).
func tlsHTTPClient(store *pki.Store) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = store.ClientConfig(pki.Peer{Roles: []pki.Role{pki.RoleAgent}})
	return &http.Client{Timeout: 5 * time.Second, Transport: tr}
}

// agentHTTPClient presents an agent certificate: for the agent-only
// endpoints (/v1/internal/*).
func agentHTTPClient(t testing.TB) *http.Client {
	t.Helper()
	store, err := pki.Load(testCert(t, pki.RoleAgent, "test-agent"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tlsHTTPClient(store)
}

// agentURL is the URL of path on an agent's API.
func agentURL(addr, path string) string {
	if plaintext {
		return "http://" + addr + path
	}
	return "https://" + addr + path
}

// clientAs is an HTTP client with role/name's certificate that trusts any
// server: what an attacker holding that certificate would use.
func clientAs(t testing.TB, role pki.Role, name string) *http.Client {
	t.Helper()
	var cfg *tls.Config
	if role == "" {
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	} else {
		store, err := pki.Load(testCert(t, role, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg = store.ClientConfig(pki.Peer{})
		cfg.VerifyConnection = nil
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// routerDialConfig is how a test speaks the router protocol to `imh
// router serve --name name` as an agent would: TLS with an agent
// certificate, the router's certificate required to name it.
func routerDialConfig(t testing.TB, name string) routerproto.ClientConfig {
	t.Helper()
	return routerDialAs(t, pki.RoleAgent, "test-agent", name)
}

// routerDialAs is routerDialConfig presenting role/as's certificate.
func routerDialAs(t testing.TB, role pki.Role, as, name string) routerproto.ClientConfig {
	t.Helper()
	cfg := routerproto.DefaultClientConfig()
	if plaintext {
		return cfg
	}
	store, err := pki.Load(testCert(t, role, as), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS = store.ClientConfig(pki.Peer{Roles: []pki.Role{pki.RoleRouter}, Name: name})
	return cfg
}

// bound adds c's TLS session binding to managed-session options, as the
// balancer does (PROTOCOL.md 5.5); without TLS it returns opts as is.
func bound(c *routerproto.Client, opts i2p.Mapping) i2p.Mapping {
	if b := c.Binding(); b != nil {
		opts[routerproto.OptBinding] = hex.EncodeToString(b)
	}
	return opts
}

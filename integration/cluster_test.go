//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/internal/status"
)

// clusterAgent is one `imh agent` process of a test cluster.
type clusterAgent struct {
	name     string
	dataDir  string
	httpAddr string
	args     []string
	env      []string // extra environment ("KEY=value")
	proc     *proc
	logs     []string // every log file this agent ever wrote (one per start)
	starts   int
}

type testCluster struct {
	t          testing.TB
	secretFile string
	agents     []*clusterAgent
}

// startTestCluster starts n agents with --bootstrap-expect n, each joining
// all gossip addresses (itself included); the last one is configured by a
// YAML file and IMH_ environment variables instead of flags.
func startTestCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	return startClusterWith(t, n, func() string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }, true)
}

// startClusterWith starts n agents like startTestCluster, with every address
// from addr; lastByFile moves the last agent's settings to a file and the
// environment (configureByFileAndEnv).
// newSecretFile writes a fresh cluster secret (imh keygen) to a 0600 file.
func newSecretFile(t testing.TB) string {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "secret")
	out, stderr, code := runIMH(t, "keygen")
	if code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, stderr)
	}
	if err := os.WriteFile(secretFile, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return secretFile
}

func startClusterWith(t testing.TB, n int, addr func() string, lastByFile bool) *testCluster {
	t.Helper()
	dir := t.TempDir()
	secretFile := newSecretFile(t)
	tc := &testCluster{t: t, secretFile: secretFile}
	var gossip []string
	for range n {
		gossip = append(gossip, addr())
	}
	for i := range n {
		a := &clusterAgent{
			name:     fmt.Sprintf("n%d", i+1),
			dataDir:  filepath.Join(dir, fmt.Sprintf("data%d", i+1)),
			httpAddr: addr(),
		}
		a.args = []string{"agent", "--node-name", a.name, "--data-dir", a.dataDir,
			"--raft-bind", addr(), "--gossip-bind", gossip[i],
			"--http-bind", a.httpAddr, "--bootstrap-expect", fmt.Sprint(n),
			"--secret-file", secretFile, "--log-level", "debug"}
		for _, g := range gossip {
			a.args = append(a.args, "--join", g)
		}
		if lastByFile && i == n-1 {
			secret, err := os.ReadFile(secretFile)
			if err != nil {
				t.Fatal(err)
			}
			a.configureByFileAndEnv(t, string(secret), gossip)
		}
		tc.agents = append(tc.agents, a)
	}
	for _, a := range tc.agents {
		tc.start(a)
	}
	return tc
}

// configureByFileAndEnv moves the last agent's settings from flags to a
// YAML --config file and IMH_ environment variables (the secret's value in
// IMH_SECRET), so the process tests cover every configuration source.
func (a *clusterAgent) configureByFileAndEnv(t testing.TB, secret string, gossip []string) {
	flags := map[string]string{}
	for i := 1; i+1 < len(a.args); i += 2 {
		if a.args[i] != "--join" {
			flags[strings.TrimPrefix(a.args[i], "--")] = a.args[i+1]
		}
	}
	yaml := fmt.Sprintf("raft-bind: %s\ngossip-bind: %s\nhttp-bind: %s\nbootstrap-expect: %s\nlog-level: debug\njoin:\n",
		flags["raft-bind"], flags["gossip-bind"], flags["http-bind"], flags["bootstrap-expect"])
	for _, g := range gossip {
		yaml += "  - " + g + "\n"
	}
	// TLS files from the YAML too (its keys are the flag names); the
	// empty IMH_*_FILE below hide the ones certEnv would give.
	if !plaintext {
		tf := testCert(t, pki.RoleAgent, a.name)
		yaml += fmt.Sprintf("ca-file: %s\ncert-file: %s\nkey-file: %s\n", tf.CA, tf.Cert, tf.Key)
	}
	cfgFile := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	a.args = []string{"agent", "--config", cfgFile}
	a.env = []string{"IMH_NODE_NAME=" + a.name, "IMH_DATA_DIR=" + a.dataDir, "IMH_SECRET=" + strings.TrimSpace(secret), "IMH_SECRET_FILE=",
		"IMH_CA_FILE=", "IMH_CERT_FILE=", "IMH_KEY_FILE="}
}

func (tc *testCluster) start(a *clusterAgent) {
	tc.t.Helper()
	a.starts++
	a.proc = startIMHEnv(tc.t, fmt.Sprintf("%s-%d", a.name, a.starts), a.env, a.args...)
	a.logs = append(a.logs, a.proc.LogPath)
}

// api is the operator's typed client of a's API (agentAPI).
func (a *clusterAgent) api() *client.Client { return agentAPI(a.httpAddr, httpClient.Timeout) }

func (a *clusterAgent) status() (status.Status, error) {
	st, err := a.api().Status(context.Background())
	if err != nil {
		return status.Status{}, err
	}
	return *st, nil
}

// leader returns the agent every running agent names as leader, or nil.
func (tc *testCluster) leader() *clusterAgent {
	var name string
	for _, a := range tc.agents {
		if a.proc.Exited() {
			continue
		}
		st, err := a.status()
		if err != nil || st.Leader == "" || (name != "" && st.Leader != name) {
			return nil
		}
		name = st.Leader
	}
	for _, a := range tc.agents {
		if a.name == name && !a.proc.Exited() {
			return a
		}
	}
	return nil
}

func (tc *testCluster) waitLeader(timeout time.Duration) *clusterAgent {
	tc.t.Helper()
	var l *clusterAgent
	eventually.True(tc.t, timeout, "one leader agreed by every running agent", func() bool {
		l = tc.leader()
		return l != nil
	})
	return l
}

// otherThan returns the first agent that is not a (a follower, when a is
// the leader the test looked up).
func (tc *testCluster) otherThan(a *clusterAgent) *clusterAgent {
	for _, o := range tc.agents {
		if o != a {
			return o
		}
	}
	tc.t.Fatal("no agent but " + a.name)
	return nil
}

func (tc *testCluster) follower() *clusterAgent {
	l := tc.leader()
	for _, a := range tc.agents {
		if a != l && !a.proc.Exited() {
			return a
		}
	}
	tc.t.Fatal("no running follower")
	return nil
}

// imhOK runs a client command and fails the test unless it exits 0.
func imhOK(t testing.TB, args ...string) string {
	t.Helper()
	out, stderr, code := runIMH(t, args...)
	if code != 0 {
		t.Fatalf("imh %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// imhWrite runs a client write, retrying for a while when it fails only
// because an election is under way ("no leader", exit 1).
func imhWrite(t *testing.T, args ...string) string {
	t.Helper()
	var out, stderr string
	var code int
	eventually.Within(10*time.Second, func() bool {
		out, stderr, code = runIMH(t, args...)
		return code != 1 || !strings.Contains(stderr, "no leader") // done, or not worth a retry
	})
	if code != 0 {
		t.Fatalf("imh %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

func routerNames(t testing.TB, a *clusterAgent) []string {
	var list cluster.RouterList
	if err := httpGetJSON(agentURL(a.httpAddr, "/v1/routers"), &list); err != nil {
		return nil
	}
	var names []string
	for _, r := range list.Routers {
		names = append(names, r.Name)
	}
	return names
}

// TestClusterAgents runs three agents, drives them with the CLI, SIGKILLs
// the leader ten times (restarting the killed agent on its data dir and
// waiting until it caught up before the next kill), then checks the state
// and that no private key material reached the data dirs or the logs.
func TestClusterAgents(t *testing.T) {
	tc := startTestCluster(t, 3)
	tc.waitLeader(20 * time.Second)
	f := tc.follower()

	// Client commands through a follower (writes are forwarded).
	imhWrite(t, "router", "add", "r1", "--addr", "127.0.0.1:9001", "--http-addr", f.httpAddr)
	imhWrite(t, "router", "add", "r2", "--addr", "127.0.0.1:9002", "--http-addr", f.httpAddr)
	keyFile := filepath.Join(t.TempDir(), "web.dat")
	b32 := strings.TrimSpace(imhOK(t, "dest", "new", "--out", keyFile))
	var imported cluster.DestinationInfo
	out := imhWrite(t, "dest", "import", "web", keyFile, "--inbound", "4", "--service", "echo", "--json", "--http-addr", f.httpAddr)
	if err := json.Unmarshal([]byte(out), &imported); err != nil {
		t.Fatalf("dest import --json: %v: %s", err, out)
	}
	if imported.B32 != b32 || imported.Inbound != 4 || imported.Service != "echo" {
		t.Fatalf("imported %+v, want b32 %s", imported, b32)
	}
	imhWrite(t, "dest", "create", "api", "--http-addr", f.httpAddr)
	imhWrite(t, "dest", "set", "api", "--hops", "2", "--frontends", "on", "--http-addr", f.httpAddr)
	imhWrite(t, "frontend", "add", "f1", "--addr", "127.0.0.1:9201", "--router", "r1", "--http-addr", f.httpAddr)
	imhWrite(t, "frontend", "add", "f3", "--addr", "127.0.0.1:9203", "--router", "r3", "--http-addr", f.httpAddr) // r3 never comes
	imhWrite(t, "frontend", "add", "gone", "--addr", "127.0.0.1:9209", "--router", "r2", "--http-addr", f.httpAddr)
	imhWrite(t, "frontend", "remove", "gone", "--http-addr", f.httpAddr)
	checkCLIErrors(t, tc, keyFile)

	// Ten leader kills.
	var took []time.Duration
	for i := range 10 {
		l := tc.waitLeader(20 * time.Second)
		l.proc.Kill()
		start := time.Now()
		var nl *clusterAgent
		if !eventually.Within(10*time.Second, func() bool { nl = tc.leader(); return nl != nil }) {
			t.Fatalf("kill %d: no new leader within 10s of killing %s", i+1, l.name)
		}
		d := time.Since(start)
		took = append(took, d)
		if d > 5*time.Second {
			t.Errorf("kill %d: new leader %s after %v, want < 5s", i+1, nl.name, d)
		}
		r := fmt.Sprintf("k%d", i+1)
		imhWrite(t, "router", "add", r, "--addr", fmt.Sprintf("127.0.0.1:%d", 9100+i), "--http-addr", nl.httpAddr)
		tc.start(l)
		eventually.True(t, 20*time.Second, l.name+" caught up after restart", func() bool {
			return slices.Contains(routerNames(t, l), r)
		})
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	median := (sorted[4] + sorted[5]) / 2
	t.Logf("failover over %d SIGKILLs of the leader: median %v, min %v, max %v, all %v",
		len(took), median.Round(time.Millisecond), sorted[0].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond), took)

	// State intact on every agent.
	tc.waitLeader(20 * time.Second)
	for _, a := range tc.agents {
		a := a
		eventually.True(t, 10*time.Second, a.name+" has the full state", func() bool {
			return len(routerNames(t, a)) == 12
		})
		if d, err := a.api().Destination(t.Context(), "web"); err != nil || d.B32 != b32 || d.Inbound != 4 || d.Frontends {
			t.Fatalf("%s: web after the kills: %+v %v", a.name, d, err)
		}
		if d, err := a.api().Destination(t.Context(), "api"); err != nil || d.Hops != 2 || !d.Frontends {
			t.Fatalf("%s: api after the kills: %+v %v", a.name, d, err)
		}
		want := []cluster.FrontendInfo{{Name: "f1", Addr: "127.0.0.1:9201", Router: "r1"}, {Name: "f3", Addr: "127.0.0.1:9203", Router: "r3"}}
		if fl, err := a.api().Frontends(t.Context()); err != nil || !slices.Equal(fl, want) {
			t.Fatalf("%s: frontends after the kills: %+v %v", a.name, fl, err)
		}
	}
	st, err := tc.agents[0].status()
	if err != nil || len(st.Peers) != 3 || len(st.Destinations) != 2 {
		t.Fatalf("status after the kills: %+v %v", st, err)
	}

	// Stop cleanly (SIGTERM), then look for the keys everywhere.
	for _, a := range tc.agents {
		if err := a.proc.Stop(); err != nil {
			t.Errorf("%s: %v", a.name, err)
		}
	}
	checkNoSecrets(t, tc, keyFile)
}

// checkCLIErrors checks exit codes and messages of failing client commands.
func checkCLIErrors(t *testing.T, tc *testCluster, keyFile string) {
	f := tc.follower()
	bad := filepath.Join(t.TempDir(), "bad.dat")
	if err := os.WriteFile(bad, []byte("not a key file"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"dest", "create", "x", "--policy", "fail-over"}, 2, "fail-over"},
		{[]string{"dest", "create", "x", "--policy", "random"}, 2, "policy"},
		{[]string{"dest", "import", "x", bad}, 2, bad},
		{[]string{"dest", "import", "x", filepath.Join(t.TempDir(), "missing")}, 2, "missing"},
		{[]string{"dest", "import", "again", keyFile}, 1, "already hosted"},
		{[]string{"dest", "show", "nope"}, 1, "nope"},
		{[]string{"router", "add", "r1", "--addr", "127.0.0.1:1"}, 1, "r1"},
		{[]string{"router", "add", "bad name", "--addr", "127.0.0.1:1"}, 2, "name"},
		{[]string{"frontend", "add", "f2", "--addr", "127.0.0.1:1", "--router", "r1"}, 1, "r1 already has frontend f1"},
		{[]string{"frontend", "add", "f1", "--addr", "127.0.0.1:1", "--router", "r9"}, 1, "f1"},
		{[]string{"frontend", "add", "f2", "--addr", "127.0.0.1:1"}, 2, "--router"},
		{[]string{"frontend", "add", "f2", "--addr", "no-port", "--router", "r2"}, 2, "no-port"},
		{[]string{"frontend", "remove", "nope"}, 1, "nope"},
		{[]string{"dest", "set", "api", "--frontends", "yes"}, 2, "--frontends"},
		{[]string{"status", "--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t))}, 1, "unreachable"},
	} {
		args := tt.args
		if !slices.Contains(args, "--http-addr") {
			args = append(args, "--http-addr", f.httpAddr)
		}
		stdout, stderr, code := runIMH(t, args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stdout != "" {
			t.Errorf("imh %s: exit %d, stderr %q, stdout %q; want exit %d and one line with %q", strings.Join(args, " "), code, stderr, stdout, tt.code, tt.want)
		}
	}
	var show map[string]any
	if err := json.Unmarshal([]byte(imhOK(t, "dest", "show", "web", "--json", "--http-addr", f.httpAddr)), &show); err != nil {
		t.Fatal(err)
	}
	for k := range show {
		if strings.Contains(k, "priv") || strings.Contains(k, "sealed") || k == "key_file" {
			t.Errorf("dest show --json has key %q", k)
		}
	}
	var rl struct {
		Routers []status.Router `json:"routers"`
	}
	if err := json.Unmarshal([]byte(imhOK(t, "router", "list", "--json", "--http-addr", f.httpAddr)), &rl); err != nil || len(rl.Routers) != 2 || (rl.Routers[0].State != "unknown" && rl.Routers[0].State != "down") {
		t.Errorf("router list --json: %+v %v", rl, err)
	}
	// Reads are local: the follower may lag the writes above for a moment.
	eventually.True(t, 5*time.Second, "two frontends on "+f.name, func() bool {
		var fl cluster.FrontendList
		return json.Unmarshal([]byte(imhOK(t, "frontend", "list", "--json", "--http-addr", f.httpAddr)), &fl) == nil && len(fl.Frontends) == 2
	})
	if out := imhOK(t, "frontend", "list", "--http-addr", f.httpAddr); !strings.HasPrefix(out, "NAME") || strings.Count(out, "\n") != 3 || strings.Contains(out, "gone") {
		t.Errorf("frontend list:\n%s", out)
	}
	var shown cluster.DestinationInfo
	if err := json.Unmarshal([]byte(imhOK(t, "dest", "show", "api", "--json", "--http-addr", f.httpAddr)), &shown); err != nil || !shown.Frontends {
		t.Errorf("dest show api --json: %+v %v", shown, err)
	}
	if out := imhOK(t, "dest", "show", "api", "--http-addr", f.httpAddr); !strings.Contains(strings.Join(strings.Fields(out), " "), "frontends: on") {
		t.Errorf("dest show api:\n%s", out)
	}
}

// TestClusterNoLeader: with two of three agents down, a write through the
// survivor fails with exit 1 and a one-line "no leader" message, and a read
// still answers (stale).
func TestClusterNoLeader(t *testing.T) {
	tc := startTestCluster(t, 3)
	l := tc.waitLeader(20 * time.Second)
	var survivor *clusterAgent
	for _, a := range tc.agents {
		if a != l && survivor == nil {
			survivor = a
			continue
		}
		a.proc.Kill()
	}
	_, stderr, code := runIMH(t, "router", "add", "r1", "--addr", "127.0.0.1:9001", "--http-addr", survivor.httpAddr)
	if code != 1 || !strings.Contains(stderr, "no leader") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("write without quorum: exit %d, stderr %q; want exit 1 and one line saying no leader", code, stderr)
	}
	if _, stderr, code := runIMH(t, "status", "--json", "--http-addr", survivor.httpAddr); code != 0 {
		t.Fatalf("status without quorum: exit %d: %s", code, stderr)
	}
}

// checkNoSecrets looks for the destination's private key material, the
// cluster secret and the gossip key in every file of the data dirs and in
// every log, raw and in the encodings a leak would likely take.
func checkNoSecrets(t *testing.T, tc *testCluster, keyFile string) {
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := i2p.ParsePrivateKeys(raw)
	if err != nil {
		t.Fatal(err)
	}
	destLen := keys.Destination().Len()
	encPriv := raw[destLen : destLen+256]
	seed := raw[destLen+256:]
	secretText, _ := os.ReadFile(tc.secretFile)
	secret, err := cluster.ParseSecret(string(secretText))
	if err != nil {
		t.Fatal(err)
	}
	secretRaw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(secretText)))
	secrets := map[string][]byte{
		"key file": raw, "signing seed": seed, "encryption private key": encPriv,
		"cluster secret": secretRaw, "gossip key": secret.GossipKey(),
	}
	var needles []struct {
		what string
		b    []byte
	}
	for what, s := range secrets {
		for enc, b := range map[string][]byte{
			"raw": s, "hex": []byte(hex.EncodeToString(s)),
			"base64": []byte(base64.StdEncoding.EncodeToString(s)), "i2p base64": []byte(i2p.Base64.EncodeToString(s)),
			"base64 raw": []byte(base64.RawStdEncoding.EncodeToString(s)),
		} {
			needles = append(needles, struct {
				what string
				b    []byte
			}{what + " (" + enc + ")", b})
		}
	}
	var files []string
	for _, a := range tc.agents {
		files = append(files, a.logs...)
		_ = filepath.WalkDir(a.dataDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
	}
	scanned := 0
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		scanned += len(b)
		for _, n := range needles {
			if bytes.Contains(b, n.b) {
				t.Errorf("%s found in %s", n.what, p)
			}
		}
	}
	// The public Destination must be there (the state is stored), which
	// shows the scan looked at the right files.
	found := false
	for _, p := range files {
		if b, _ := os.ReadFile(p); bytes.Contains(b, keys.Destination().Bytes()) {
			found = true
			break
		}
	}
	if !found {
		t.Error("the public Destination is in no data file: the scan missed the state")
	}
	t.Logf("secrets scan: %d files, %d bytes, %d patterns", len(files), scanned, len(needles))
}

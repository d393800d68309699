package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imh-project/imh/fsm"
)

// runRoot runs imh with args and returns stdout and the exit code.
func runRoot(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil && isCobraUsageError(err.Error()) { // as main does
		err = &usageError{err: err}
	}
	return out.String(), exitCode(err)
}

// TestClusterCLI checks the imh cluster commands against a fake agent:
// snapshot save writes 0600 and never overwrites (exit 2), restore refuses
// a malformed file (exit 2) before sending anything, and bad arguments are
// usage errors.
func TestClusterCLI(t *testing.T) {
	st := fsm.New()
	if err := st.Apply(1, mustEncode(t, &fsm.RouterPut{Name: "r1", Addr: "127.0.0.1:1"})); err != nil {
		t.Fatal(err)
	}
	// The agent appends a MAC trailer (cluster/snapshotmac.go); the CLI
	// only strips it (checking it needs the secret).
	body := st.Snapshot()
	snap := append(append(bytes.Clone(body), "imh-snapshot-mac\x01"...), make([]byte, 32)...)
	var puts int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/snapshot":
			w.Write(snap)
		case r.Method == http.MethodPut && r.URL.Path == "/v1/snapshot":
			puts++
			w.Write([]byte(`{"routers":1,"destinations":0}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	file := filepath.Join(dir, "c.snap")

	if out, code := runRoot(t, "cluster", "snapshot", "save", file, "--http-addr", addr); code != exitOK || !strings.Contains(out, "1 routers") {
		t.Fatalf("save: exit %d: %s", code, out)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v %v", fi, err)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, snap) {
		t.Fatal("saved bytes differ from the agent's snapshot")
	}
	if _, code := runRoot(t, "cluster", "snapshot", "save", file, "--http-addr", addr); code != exitUsage {
		t.Fatalf("save over an existing file: exit %d, want 2", code)
	}
	// A restore asks first: without --yes (and no terminal) it refuses,
	// --dry-run shows the changes only; neither sends anything.
	if out, code := runRoot(t, "cluster", "snapshot", "restore", file, "--http-addr", addr); code != exitUsage || puts != 0 {
		t.Fatalf("restore without --yes: exit %d, %d PUTs; want exit 2 and none: %s", code, puts, out)
	}
	if out, code := runRoot(t, "cluster", "snapshot", "restore", file, "--dry-run", "--http-addr", addr); code != exitOK || puts != 0 || !strings.Contains(out, "routers: no change") {
		t.Fatalf("restore --dry-run: exit %d, %d PUTs: %s", code, puts, out)
	}
	if _, code := runRoot(t, "cluster", "snapshot", "restore", file, "--yes", "--http-addr", addr); code != exitOK || puts != 1 {
		t.Fatalf("restore --yes: exit %d, %d PUTs", code, puts)
	}
	bad := filepath.Join(dir, "bad.snap")
	if err := os.WriteFile(bad, append(append(bytes.Clone(body[:len(body)-1]), body[len(body)-1]^1), snap[len(body):]...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"cluster", "snapshot", "restore", bad},
		{"cluster", "snapshot", "restore", filepath.Join(dir, "missing")},
		{"cluster", "recover", "--data-dir", dir, "--peers", "n1"},
		{"cluster", "recover", "--peers", "n1=127.0.0.1:1"},
		{"cluster", "recover", "--data-dir", filepath.Join(dir, "none"), "--peers", "n1=127.0.0.1:1"},
		{"cluster", "remove", "bad name"},
		{"cluster", "transfer-leader", "a", "b"},
	} {
		if args[1] != "recover" {
			args = append(args, "--http-addr", addr)
		}
		if _, code := runRoot(t, args...); code != exitUsage {
			t.Errorf("imh %v: exit %d, want 2", args, code)
		}
	}
	if puts != 1 {
		t.Errorf("a malformed snapshot reached the agent (%d PUTs)", puts)
	}
	for _, path := range [][]string{{"cluster", "peers"}, {"cluster", "join"}, {"cluster", "remove"}, {"cluster", "transfer-leader"},
		{"cluster", "snapshot", "save"}, {"cluster", "snapshot", "restore"}} {
		cmd, _, err := newRootCmd().Find(path)
		if err != nil || cmd.Flags().Lookup("http-addr") == nil || cmd.Flags().Lookup("json") == nil {
			t.Errorf("imh %v: missing, or without --http-addr/--json (%v)", path, err)
		}
	}
}

func mustEncode(t *testing.T, c fsm.Command) []byte {
	t.Helper()
	b, err := fsm.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCorruptDataDir: an agent whose raft.db or snapshot is damaged refuses
// to start (exit 2) with a message naming the file and the recovery, rather
// than crashing later or silently starting from older state.
func TestCorruptDataDir(t *testing.T) {
	lightPool.join(t)
	tc := startTestCluster(t, 1)
	a := tc.waitLeader(30 * time.Second)
	if err := a.proc.Stop(); err != nil {
		t.Fatalf("stop %s: %v", a.name, err)
	}
	pristine := filepath.Join(t.TempDir(), "pristine")
	copyDir(t, a.dataDir, pristine)
	tests := []struct {
		name   string
		damage func(t *testing.T, raftDir string) // raftDir is DATA/raft
		file   string                             // named in the message
	}{
		{"raft.db meta pages zeroed", func(t *testing.T, d string) { overwrite(t, filepath.Join(d, "raft.db"), 0, 8192) }, "raft.db"},
		{"raft.db truncated", func(t *testing.T, d string) { truncate(t, filepath.Join(d, "raft.db"), 100) }, "raft.db"},
		{"raft.db bucket pages garbled", func(t *testing.T, d string) { overwrite(t, filepath.Join(d, "raft.db"), 3*4096, 4*4096) }, "raft.db"},
		{"snapshot meta.json garbled", func(t *testing.T, d string) { fakeSnapshot(t, d, "{not json", 10) }, "snapshots"},
		{"snapshot state.bin truncated", func(t *testing.T, d string) { fakeSnapshot(t, d, `{"Size": 999}`, 10) }, "snapshots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.RemoveAll(a.dataDir)
			copyDir(t, pristine, a.dataDir)
			tt.damage(t, filepath.Join(a.dataDir, "raft"))
			_, stderr, code := runIMHEnv(t, a.env, a.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			for _, want := range []string{"corrupt data", tt.file, "imh cluster remove " + a.name, "--join"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, firstPanic(stderr))
				}
			}
		})
	}
	t.Run("intact dir still starts", func(t *testing.T) {
		os.RemoveAll(a.dataDir)
		copyDir(t, pristine, a.dataDir)
		tc.start(a)
		tc.waitLeader(30 * time.Second)
	})
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v: %s", from, to, err, out)
	}
}

// overwrite fills n bytes at off with 0xA5 (neither zero nor a valid page).
func overwrite(t *testing.T, path string, off, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", int(n))), off); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// fakeSnapshot adds a snapshot directory newer than any real one.
func fakeSnapshot(t *testing.T, raftDir, meta string, stateLen int) {
	t.Helper()
	d := filepath.Join(raftDir, "snapshots", "999-999999-9999999999999")
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "meta.json"), []byte(meta), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "state.bin"), make([]byte, stateLen), 0o600); err != nil {
		t.Fatal(err)
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// firstPanic is the part of stderr worth showing: a panic's first lines or the tail.
func firstPanic(s string) string {
	if i := strings.Index(s, "panic"); i >= 0 {
		return s[i:min(len(s), i+1500)]
	}
	return lastLines(s, 5)
}

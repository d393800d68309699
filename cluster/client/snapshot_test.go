package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/internal/golden"
)

// snapshotOf is st's snapshot as an agent sends it: the state and a MAC
// trailer (cluster/snapshotmac.go; the client only strips it).
func snapshotOf(st *fsm.State) []byte {
	return append(append(st.Snapshot(), "imh-snapshot-mac\x01"...), make([]byte, 32)...)
}

func oneRouter(t *testing.T) *fsm.State {
	t.Helper()
	st := fsm.New()
	if err := st.ApplyCommand(1, &fsm.RouterPut{Name: "r1", Addr: "127.0.0.1:7001"}); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSaveSnapshot: the agent's bytes are written as they came, 0600, and
// counted; an existing file, or an answer that does not decode, writes
// nothing, and only the file's problems are ErrSnapshotFile.
func TestSaveSnapshot(t *testing.T) {
	good := snapshotOf(oneRouter(t))
	dir := t.TempDir()
	tests := []struct {
		name     string
		answer   []byte
		file     string
		wantFile bool // the error is ErrSnapshotFile
		wantErr  bool
	}{
		{name: "saves", answer: good, file: "s.snap"},
		{name: "exists", answer: good, file: "s.snap", wantErr: true, wantFile: true},
		{name: "no trailer", answer: oneRouter(t).Snapshot(), file: "t.snap", wantErr: true},
		{name: "undecodable", answer: append([]byte("junk"), good[len(good)-49:]...), file: "u.snap", wantErr: true},
		{name: "no directory", answer: good, file: "none/s.snap", wantErr: true, wantFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, 200, string(tt.answer))
			file := filepath.Join(dir, tt.file)
			saved, err := c.SaveSnapshot(context.Background(), file)
			if (err != nil) != tt.wantErr || errors.Is(err, ErrSnapshotFile) != tt.wantFile {
				t.Fatalf("SaveSnapshot = %v; want error %v, ErrSnapshotFile %v", err, tt.wantErr, tt.wantFile)
			}
			if tt.wantErr {
				if tt.name != "exists" {
					if _, err := os.Lstat(file); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("a failed save left %s (%v)", file, err)
					}
				}
				return
			}
			fi, err := os.Stat(file)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("saved file: %v %v", fi, err)
			}
			if got, _ := os.ReadFile(file); !bytes.Equal(got, tt.answer) {
				t.Error("saved bytes differ from the agent's snapshot")
			}
			if saved.Routers != 1 || saved.Bytes != len(tt.answer) || saved.File != file {
				t.Errorf("saved %+v", saved)
			}
		})
	}
}

func TestReadSnapshotFile(t *testing.T) {
	dir := t.TempDir()
	good := snapshotOf(oneRouter(t))
	flipped := bytes.Clone(good)
	flipped[0] ^= 0xff
	for name, b := range map[string][]byte{"good": good, "no trailer": oneRouter(t).Snapshot(), "flipped": flipped} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		file string
		ok   bool
	}{{"good", true}, {"no trailer", false}, {"flipped", false}, {"missing", false}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, st, err := ReadSnapshotFile(filepath.Join(dir, tt.file))
			if tt.ok {
				if err != nil || !bytes.Equal(b, good) || len(st.Routers()) != 1 {
					t.Fatalf("ReadSnapshotFile = %d bytes, %v", len(b), err)
				}
				return
			}
			if !errors.Is(err, ErrSnapshotFile) {
				t.Fatalf("ReadSnapshotFile = %v, want ErrSnapshotFile", err)
			}
		})
	}
}

// TestRestorePlanJSON pins the JSON of `cluster snapshot restore --dry-run
// --json` (docs/cli.md): fsm.Diff's lists under the CLI's names, [] not
// null when nothing changes.
func TestRestorePlanJSON(t *testing.T) {
	p, err := PlanRestore("s.snap", snapshotOf(fsm.New()), oneRouter(t))
	if err != nil {
		t.Fatal(err)
	}
	p.DryRun = true
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"file":"s.snap","dry_run":true,` +
		`"destinations":{"added":[],"removed":[],"changed":[]},` +
		`"routers":{"added":["r1"],"removed":[],"changed":[]},` +
		`"frontends":{"added":[],"removed":[],"changed":[]}}`
	if string(b) != want {
		t.Errorf("plan JSON\n got %s\nwant %s", b, want)
	}
	if _, err := PlanRestore("s.snap", fsm.New().Snapshot(), oneRouter(t)); err == nil {
		t.Error("PlanRestore took an agent's state without its MAC trailer")
	}
}

// TestRestorePlanText pins what `imh cluster snapshot restore` shows
// before it asks (captured from the CLI's printer before it moved here),
// and the counts of its refusal without --yes.
func TestRestorePlanText(t *testing.T) {
	p := RestorePlan{
		File:         "s.snap",
		Destinations: NameDiff{Added: []string{"a", "b"}, Removed: []string{"c"}, Changed: []string{"d"}},
		Frontends:    NameDiff{Changed: []string{"f"}},
	}
	var b bytes.Buffer
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden.Equal(t, "testdata/restore-plan.txt", b.Bytes())
	want := "destinations 2 added, 1 removed, 1 changed; routers 0 added, 0 removed, 0 changed"
	if got := p.Summary(); got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckSnapshot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		meta    string // "" = no meta.json
		state   int    // -1 = no state.bin
		wantErr string // "" = intact
	}{
		{"intact", `{"Size": 4}`, 4, ""},
		{"meta garbled", `{"Size": `, 4, "meta.json"},
		{"meta missing", "", 4, "meta.json"},
		{"state missing", `{"Size": 4}`, -1, "state.bin"},
		{"state short", `{"Size": 9}`, 4, "state.bin: 4 bytes, meta.json says 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			if tt.meta != "" {
				writeFile(t, filepath.Join(d, "meta.json"), []byte(tt.meta))
			}
			if tt.state >= 0 {
				writeFile(t, filepath.Join(d, "state.bin"), make([]byte, tt.state))
			}
			err := checkSnapshot(d)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("checkSnapshot = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCorruptError(t *testing.T) {
	t.Parallel()
	err := error(&CorruptError{File: "/var/lib/imh/raft/raft.db", Node: "n2", Err: errors.New("bad page")})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatal("errors.Is(ErrCorrupt) = false")
	}
	for _, want := range []string{"/var/lib/imh/raft/raft.db", "bad page", "mv /var/lib/imh /var/lib/imh.corrupt", "imh cluster remove n2", "--join"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

package sim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imh-project/imh/observe"
)

// TestWriteRuns: the runs' histories are written under their names and
// read back; an existing file is refused (ErrOutput) unless replace, and a
// bad config is ErrConfig, neither writing anything.
func TestWriteRuns(t *testing.T) {
	c := DefaultConfig()
	c.Routers, c.Hours = 2, 1.1
	dir := filepath.Join(t.TempDir(), "out")
	runs := []string{SingleRun(0), RunIMHSpread}
	written, err := WriteRuns(c, runs, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != len(runs) {
		t.Fatalf("wrote %d files, want %d", len(written), len(runs))
	}
	for i, w := range written {
		if w.Run != runs[i] || w.File != filepath.Join(dir, runs[i]+".json") || w.Stores == 0 || w.SpanMs <= 0 {
			t.Errorf("written[%d] = %+v", i, w)
		}
		if h, err := observe.ReadHistory(w.File); err != nil || len(h.Stores) != w.Stores {
			t.Errorf("%s: read back %v", w.File, err)
		}
	}

	tests := []struct {
		name    string
		c       Config
		dir     string
		replace bool
		want    error
	}{
		{"exists", c, dir, false, ErrOutput},
		{"replace", c, dir, true, nil},
		{"bad config", Config{}, filepath.Join(t.TempDir(), "none"), false, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := WriteRuns(tt.c, runs[:1], tt.dir, tt.replace)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("WriteRuns = %v, want %v", err, tt.want)
			}
			if tt.want == ErrConfig {
				if _, err := os.Stat(tt.dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a refused call made %s (%v)", tt.dir, err)
				}
			}
		})
	}
}

// TestWriteTable pins the table `imh simnet observe` prints (docs/cli.md).
func TestWriteTable(t *testing.T) {
	var b strings.Builder
	err := WriteTable(&b, []Written{
		{Run: "single-a", File: "out/single-a.json", Stores: 16, SpanMs: 3597000},
		{Run: "imh-failover", File: "out/imh-failover.json", Stores: 140, SpanMs: 1500},
	})
	want := "RUN           STORES  SPAN    FILE\n" +
		"single-a      16      59m57s  out/single-a.json\n" +
		"imh-failover  140     1.5s    out/imh-failover.json\n"
	if err != nil || b.String() != want {
		t.Errorf("WriteTable = %q, %v; want %q", b.String(), err, want)
	}
}

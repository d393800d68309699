package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of stopping.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; panic(r) }
func (r *recorder) run(f func(testing.TB)) {
	defer func() {
		if v := recover(); v != nil && v != r {
			panic(v)
		}
	}()
	f(r)
}

func TestEqual(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(path, []byte("same\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		got        string
		fail       bool
	}{
		{"equal", path, "same\n", false},
		{"differs", path, "other\n", true},
		{"missing file", filepath.Join(dir, "none.txt"), "x", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			r.run(func(tb testing.TB) { Equal(tb, tc.path, []byte(tc.got)) })
			if r.failed != tc.fail {
				t.Fatalf("failed = %t, want %t", r.failed, tc.fail)
			}
		})
	}
}

func TestEqualUpdate(t *testing.T) {
	defer func(old bool) { *update = old }(*update)
	*update = true
	path := filepath.Join(t.TempDir(), "sub", "new.txt")
	Equal(t, path, []byte("written\n"))
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "written\n" {
		t.Fatalf("under -update the file holds %q, %v", b, err)
	}
	if !Updating() {
		t.Fatal("Updating() false under -update")
	}
}

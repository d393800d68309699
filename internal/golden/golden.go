// Package golden is the one helper behind the tests that pin an output byte
// for byte in a file under testdata (codec layouts, snapshots, reports,
// metrics expositions, CLI text): the file is the contract, `go test -update`
// rewrites it after an intended change, and a difference fails the test
// naming the file.
//
// One flag for every package: a test binary that imports this package gets
// -update, and no test file declares its own.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata instead of comparing with them")

// Updating reports whether the run was asked to rewrite golden files, for
// tests whose comparison is their own (an annotated hex file, say).
func Updating() bool { return *update }

// Equal compares got with the file at path; under -update it first writes
// got there (creating the directory).
func Equal(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("golden: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("golden: %v", err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden: %v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

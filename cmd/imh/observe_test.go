package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/imh-project/imh/observe"
)

func TestSimnetObserve(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	args := []string{"simnet", "observe", "--out", dir, "--hours", "1.2", "--routers", "2", "--seed", "3", "--json"}
	stdout, _, code := runRootErr(t, args...)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var res simnetObserveJSON
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || len(res.Runs) != 6 {
		t.Fatalf("output %q: %v", stdout, err)
	}
	for _, r := range res.Runs {
		if _, err := observe.ReadHistory(r.File); err != nil {
			t.Fatalf("%s: %v", r.Run, err)
		}
	}
	first, _ := os.ReadFile(filepath.Join(dir, "imh-spread.json"))
	if _, _, code := runRootErr(t, args...); code != 2 {
		t.Fatalf("existing files: exit %d, want 2", code)
	}
	if _, _, code := runRootErr(t, append(args, "--force")...); code != 0 {
		t.Fatalf("--force: exit %d", code)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "imh-spread.json"))
	if string(first) != string(again) {
		t.Fatal("the same seed wrote different files")
	}
	for _, bad := range [][]string{
		{"simnet", "observe"},
		{"simnet", "observe", "--out", dir, "--force", "--policy", "nope"},
		{"simnet", "observe", "--out", dir, "--force", "--routers", "0"},
		{"simnet", "observe", "--out", dir, "--force", "--hours", "x"},
	} {
		if _, _, code := runRootErr(t, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

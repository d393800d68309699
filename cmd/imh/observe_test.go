package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
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
		{"simnet", "observe", "--out", dir, "--force", "--singles", "1"},
		{"simnet", "observe", "--out", dir, "--force", "--singles", "27"},
		{"simnet", "observe", "--out", dir, "--force", "--policy", "nope"},
		{"simnet", "observe", "--out", dir, "--force", "--routers", "0"},
		{"simnet", "observe", "--out", dir, "--force", "--hours", "x"},
		{"simnet", "observe", "--out", dir, "--force", "--replace-jitter", "-1s"},
		{"simnet", "observe", "--out", dir, "--force", "--replace-jitter", "90s"},
		{"simnet", "observe", "--out", dir, "--force", "--replace-jitter", "8"},
	} {
		if _, _, code := runRootErr(t, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

// TestSimnetObserveReplaceJitter: --replace-jitter changes the imh runs
// (the balancer replaces its tunnels on another schedule) and leaves the
// single router's run as it was.
func TestSimnetObserveReplaceJitter(t *testing.T) {
	base := []string{"simnet", "observe", "--hours", "1.2", "--routers", "2", "--seed", "3"}
	files := func(dir string, extra ...string) (single, spread []byte) {
		t.Helper()
		if _, stderr, code := runRootErr(t, append(append(base, "--out", dir), extra...)...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		single, _ = os.ReadFile(filepath.Join(dir, "single-a.json"))
		spread, _ = os.ReadFile(filepath.Join(dir, "imh-spread.json"))
		return single, spread
	}
	singleDef, spreadDef := files(filepath.Join(t.TempDir(), "default"))
	single4, spread4 := files(filepath.Join(t.TempDir(), "4s"), "--replace-jitter", "4s")
	if string(singleDef) != string(single4) {
		t.Error("--replace-jitter changed the single router's run")
	}
	if string(spreadDef) == string(spread4) {
		t.Error("--replace-jitter 4s wrote the same imh-spread run as the default")
	}
}

// TestSimnetObserveSingles: --singles 4 writes single-c and single-d
// beside the usual six files, each single a router of its own, and the
// same seed writes the same four singles again; existing singles are
// refused without --force.
func TestSimnetObserveSingles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	args := []string{"simnet", "observe", "--out", dir, "--hours", "1.1", "--routers", "2", "--seed", "3", "--singles", "4", "--json"}
	stdout, _, code := runRootErr(t, args...)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var res simnetObserveJSON
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output %q: %v", stdout, err)
	}
	var names []string
	for _, r := range res.Runs {
		names = append(names, r.Run)
	}
	want := []string{"single-a", "single-b", "single-c", "single-d", "imh-spread", "imh-failover", "naive", "imh-churn"}
	if !slices.Equal(names, want) {
		t.Fatalf("runs %v, want %v", names, want)
	}
	singles := []string{"single-a", "single-b", "single-c", "single-d"}
	first := map[string]string{}
	for _, name := range singles {
		b, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		for other, ob := range first {
			if string(ob) == string(b) {
				t.Fatalf("%s and %s are the same history", name, other)
			}
		}
		first[name] = string(b)
	}
	if _, _, code := runRootErr(t, args...); code != 2 {
		t.Fatalf("existing files: exit %d, want 2", code)
	}
	if err := os.Remove(filepath.Join(dir, "single-a.json")); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runRootErr(t, args...); code != 2 {
		t.Fatalf("existing single-d: exit %d, want 2", code)
	}
	if _, _, code := runRootErr(t, append(args, "--force")...); code != 0 {
		t.Fatalf("--force: exit %d", code)
	}
	for _, name := range singles {
		b, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != first[name] {
			t.Fatalf("%s: the same seed wrote a different file", name)
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imh-project/imh/internal/golden"
	"github.com/imh-project/imh/observe/observetest"
)

// analyzeGoldenFiles writes the synthetic histories of the analyze golden
// tests to a temporary directory, makes it the working directory (so that
// the file names in the output are short and fixed) and returns their
// names: A, B and n floor histories.
func analyzeGoldenFiles(t *testing.T, floors int) (a, b string, floor []string) {
	t.Helper()
	dir := t.TempDir()
	a = writeSynth(t, dir, "a.json", observetest.Synth{Seed: 21, Pool: 20, Tunnels: 5, Hours: 3})
	b = writeSynth(t, dir, "b.json", observetest.Synth{Seed: 22, Pool: 60, Tunnels: 5, Hours: 3})
	for i := range floors {
		name := string(rune('x'+i%3)) + string(rune('0'+i/3)) + ".json"
		floor = append(floor, writeSynth(t, dir, name, observetest.Synth{Seed: 23 + uint64(i), Pool: 20, Tunnels: 5, Hours: 3}))
	}
	t.Chdir(dir)
	rel := func(p string) string { return filepath.Base(p) }
	for i := range floor {
		floor[i] = rel(floor[i])
	}
	return rel(a), rel(b), floor
}

// TestLeasesetAnalyzeGoldenTwoFloors pins `imh leaseset analyze A B
// --floor X,Y`, text and --json, byte for byte: docs/cli.md is a contract,
// and the population floor (three or more files) must leave the output of
// two floor files as it was.
func TestLeasesetAnalyzeGoldenTwoFloors(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	a, b, floor := analyzeGoldenFiles(t, 2)
	for _, tc := range []struct {
		golden string
		extra  []string
	}{
		{"analyze-floor2.txt", nil},
		{"analyze-floor2.json", []string{"--json"}},
	} {
		args := append([]string{"leaseset", "analyze", a, b, "--floor", floor[0] + "," + floor[1]}, tc.extra...)
		out, code := runRoot(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, out)
		}
		golden.Equal(t, filepath.Join(wd, "testdata", tc.golden), []byte(out))
	}
}

// TestLeasesetAnalyzeGoldenPopulation pins `imh leaseset analyze A B
// --floor X,Y,Z,...` with four floor files (six pairs), text and --json.
func TestLeasesetAnalyzeGoldenPopulation(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	a, b, floor := analyzeGoldenFiles(t, 4)
	for _, tc := range []struct {
		golden string
		extra  []string
	}{
		{"analyze-population.txt", nil},
		{"analyze-population.json", []string{"--json"}},
	} {
		args := append([]string{"leaseset", "analyze", a, b, "--floor", strings.Join(floor, ",")}, tc.extra...)
		out, code := runRoot(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, out)
		}
		golden.Equal(t, filepath.Join(wd, "testdata", tc.golden), []byte(out))
	}
}

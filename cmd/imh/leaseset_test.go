package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imh-project/imh/observe"
	"github.com/imh-project/imh/observe/observetest"
)

// writeSynth writes a synthetic history file and returns its path.
func writeSynth(t *testing.T, dir, name string, c observetest.Synth) string {
	t.Helper()
	h, err := c.History()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := observe.WriteHistory(path, h); err != nil {
		t.Fatal(err)
	}
	return path
}

// runRootErr is runRoot that also returns the error main would print.
func runRootErr(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := newRootCmd()
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return out.String(), "", exitOK
	}
	if isCobraUsageError(err.Error()) { // as main does
		err = &usageError{err: err}
	}
	return out.String(), err.Error(), exitCode(err)
}

// TestLeasesetAnalyze runs `imh leaseset analyze` on synthetic histories:
// the table, --json with a floor from files, and every bad command line
// or file exiting 2 with a one-line error.
func TestLeasesetAnalyze(t *testing.T) {
	dir := t.TempDir()
	twenty := writeSynth(t, dir, "twenty.json", observetest.Synth{Seed: 1, Pool: 20, Tunnels: 5, Hours: 4})
	eighty := writeSynth(t, dir, "eighty.json", observetest.Synth{Seed: 2, Pool: 80, Tunnels: 5, Hours: 4})
	floorA := writeSynth(t, dir, "fa.json", observetest.Synth{Seed: 3, Pool: 20, Tunnels: 5, Hours: 4})
	floorB := writeSynth(t, dir, "fb.json", observetest.Synth{Seed: 4, Pool: 20, Tunnels: 5, Hours: 4})
	short := writeSynth(t, dir, "short.json", observetest.Synth{Seed: 5, Pool: 20, Tunnels: 5, Hours: 0.5})
	notJSON := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(notJSON, []byte("not a history\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, code := runRoot(t, "leaseset", "analyze", eighty, twenty)
	if code != exitOK {
		t.Fatalf("table: exit %d: %s", code, out)
	}
	for _, want := range []string{"floor: estimated from the two halves of b", "feature", "gateway_set", "outside", "windows: 1h0m0s sliding by 10m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	out, code = runRoot(t, "leaseset", "analyze", eighty, twenty, "--floor", floorA+","+floorB, "--window", "30m", "--step", "5m", "--json")
	if code != exitOK {
		t.Fatalf("json: exit %d: %s", code, out)
	}
	var r observe.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("json: %v: %s", err, out)
	}
	if r.Floor.Source != observe.FloorFiles || r.Floor.A.Name != floorA || r.WindowMs != 30*60*1000 || r.StepMs != 5*60*1000 {
		t.Fatalf("json: floor %+v, window %d step %d", r.Floor, r.WindowMs, r.StepMs)
	}
	if f := r.Features[0]; f.Name != "gateway_set" || f.Advantage == nil || *f.Advantage < 0.8 || f.Verdict != observe.VerdictOutside {
		t.Fatalf("json: first feature %+v", f)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("json: not one line")
	}

	// the same, the floor as two --floor flags
	if out, code := runRoot(t, "leaseset", "analyze", eighty, twenty, "--floor", floorA, "--floor", floorB, "--json"); code != exitOK || !strings.Contains(out, `"source":"files"`) {
		t.Fatalf("repeated --floor: exit %d: %s", code, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no files", nil, "want two history files"},
		{"one file", []string{twenty}, "want two history files"},
		{"three files", []string{twenty, eighty, floorA}, "want two history files"},
		{"missing file", []string{twenty, filepath.Join(dir, "missing.json")}, "no such file"},
		{"not a history", []string{notJSON, twenty}, "not a history"},
		{"one floor file", []string{twenty, eighty, "--floor", floorA}, "--floor wants two"},
		{"bad floor file", []string{twenty, eighty, "--floor", floorA + "," + notJSON}, "not a history"},
		{"zero window", []string{twenty, eighty, "--window", "0s"}, "window"},
		{"step beyond window", []string{twenty, eighty, "--window", "10m", "--step", "1h"}, "longer than the window"},
		{"bad duration", []string{twenty, eighty, "--step", "often"}, "invalid argument"},
		{"too short", []string{short, twenty}, "shorter than one window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, msg, code := runRootErr(t, append([]string{"leaseset", "analyze"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(msg, tc.want) {
				t.Fatalf("exit %d, error %q; want 2 and %q", code, msg, tc.want)
			}
			if out != "" || strings.Contains(msg, "\n") {
				t.Fatalf("output %q, error %q: want nothing printed and one line", out, msg)
			}
		})
	}
}

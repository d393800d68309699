package main

import (
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, code := runRoot(t, args...)
		if code != 0 || !strings.HasPrefix(out, "imh ") || !strings.Contains(out, "(commit ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("imh %s: %q", args[0], out)
		}
	}
}

func TestCompletion(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "bash completion", "zsh": "#compdef imh", "fish": "fish completion"} {
		if out, code := runRoot(t, "completion", shell); code != 0 || !strings.Contains(out, marker) {
			t.Errorf("completion %s: no %q in %.100q", shell, marker, out)
		}
	}
}

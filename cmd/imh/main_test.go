package main

import (
	"testing"

	"github.com/imh-project/imh/internal/i2cpclient"
)

// TestSingleLine: a nested multierror (memberlist's join error) prints as
// one line.
func TestSingleLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain",
		"cluster join 127.0.0.1:1: join 127.0.0.1:1: no agent answered: 1 error occurred:\n\t* Failed to join 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused\n\n": "cluster join 127.0.0.1:1: join 127.0.0.1:1: no agent answered: Failed to join 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused",
		"x: 2 errors occurred:\n\t* a\n\t* b\n\n": "x: a; b",
	} {
		if got := singleLine(in); got != want {
			t.Errorf("singleLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUsageOf: a package's error becomes a usage error (exit 2) with its
// message unchanged; no error stays no error, and the value passes
// through (i2cpclient.ParseAddr's cases are tested there).
func TestUsageOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		exit int
	}{
		{"i2cp://127.0.0.1:7654", "127.0.0.1:7654", exitOK},
		{"http://127.0.0.1:7654", "", exitUsage},
	} {
		got, err := usageOf(i2cpclient.ParseAddr(tc.in))
		_, plain := i2cpclient.ParseAddr(tc.in)
		if got != tc.want || exitCode(err) != tc.exit || (err != nil && err.Error() != plain.Error()) {
			t.Errorf("usageOf(ParseAddr(%q)) = %q, %v (exit %d); want %q, exit %d", tc.in, got, err, exitCode(err), tc.want, tc.exit)
		}
	}
	if err := asUsage(nil); err != nil {
		t.Errorf("asUsage(nil) = %v", err)
	}
}

package main

import "testing"

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

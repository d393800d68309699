// Package eventually is the one polling helper of imh's tests: wait until a
// condition holds, or fail the test naming what did not happen and how long
// it was given.
//
// Tests wait on conditions, never on fixed sleeps: a sleep long enough for a
// loaded CI machine wastes time everywhere else, and one short enough to be
// cheap fails under load. Polling starts fast (a condition that is nearly
// true costs milliseconds) and backs off to Max, so a long wait does not
// steal the CPU from the processes it is waiting for.
package eventually

import (
	"testing"
	"time"
)

const (
	// First is the pause after the first failed check.
	First = 5 * time.Millisecond
	// Max bounds the pause between checks.
	Max = 50 * time.Millisecond
)

// True polls cond until it returns true, or fails t (t.Fatalf) once within
// has passed, with "timed out after <within> waiting for <what>". Call it
// from the test's goroutine, as t.Fatalf requires.
func True(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(within, cond) {
		t.Fatalf("timed out after %v waiting for %s", within, what)
	}
}

// Within polls cond until it returns true (reporting true) or within has
// passed (reporting false after one last check). It is True for callers
// that do something other than failing when time runs out.
func Within(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	pause := First
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, Max)
	}
	return true
}

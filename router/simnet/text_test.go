package simnet

import (
	"strings"
	"testing"
)

// TestResultText pins what `imh simnet send` and `imh simnet baseline`
// print without --json (docs/cli.md).
func TestResultText(t *testing.T) {
	var b strings.Builder
	r := SendResult{Delivered: 7, Failed: 3,
		Reasons:  map[string]int{string(ReasonExpired): 1, string(ReasonNoTunnel): 2, string(ReasonRouterDown): 0},
		ByRouter: map[string]int{"r2": 3, "r10": 1, "r1": 3}}
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	s := BaselineStats{Publishes: map[string]int{"b": 2, "a": 1}, Rejected: map[string]int{}, Received: map[string]int{"a": 5}}
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "delivered 7, failed 3\n  no_tunnel: 2\n  expired: 1\n  router r1: 3\n  router r10: 1\n  router r2: 3\n" +
		"published map[a:1 b:2], rejected map[], received map[a:5]\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

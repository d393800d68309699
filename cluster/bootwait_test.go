package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestBootstrapWaitReports: the waiting agent says what it waits for when
// it starts waiting and whenever the count of agents found changes, with
// the elapsed time, and stays quiet while nothing changes.
func TestBootstrapWaitReports(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var w bootstrapWait
	t0 := time.Unix(1000, 0)
	a := member{Name: "a"}
	b := member{Name: "b"}
	steps := []struct {
		ms   []member
		at   time.Duration
		want string // "" = no line
	}{
		{[]member{a}, 0, "agents=1 want=3 found=[a] elapsed=0s"},
		{[]member{a}, time.Second, ""},
		{[]member{a}, 2 * time.Second, ""},
		{[]member{a, b}, 4500 * time.Millisecond, "agents=2 want=3 found=\"[a b]\" elapsed=4.5s"},
		{[]member{a, b}, 5 * time.Second, ""},
		{[]member{a}, 9 * time.Second, "agents=1 want=3 found=[a] elapsed=9s"},
	}
	for i, s := range steps {
		buf.Reset()
		w.report(log, s.ms, 3, t0.Add(s.at))
		got := strings.TrimSpace(buf.String())
		if s.want == "" {
			if got != "" {
				t.Fatalf("step %d: logged %q, want nothing", i, got)
			}
			continue
		}
		if !strings.Contains(got, "waiting to bootstrap raft") || !strings.Contains(got, s.want) {
			t.Fatalf("step %d: logged %q, want %q", i, got, s.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/status"
)

func TestLeaseSetState(t *testing.T) {
	routers := func(states ...string) []status.Router {
		var rs []status.Router
		for _, s := range states {
			rs = append(rs, status.Router{State: s})
		}
		return rs
	}
	dest := func(policy string, leases int, published uint32) []status.Destination {
		return []status.Destination{{Name: "web", Policy: policy, Leases: leases, Published: published}}
	}
	up, down := status.RouterUp, status.RouterDown
	for _, tt := range []struct {
		name  string
		st    status.Status
		done  bool
		state string
	}{
		{"no leader", status.Status{}, false, "no leader"},
		{"not known yet", status.Status{Leader: "n1", Routers: routers(up)}, false, "not in the leader's view"},
		{"no router up", status.Status{Leader: "n1", Routers: routers(down), Destinations: dest("spread", 0, 0)}, false, "no router is up"},
		{"none yet", status.Status{Leader: "n1", Routers: routers(up, up), Destinations: dest("spread", 0, 0)}, false, "no LeaseSet yet, 6 leases asked (2 routers up)"},
		{"partial", status.Status{Leader: "n1", Routers: routers(up, up, down), Destinations: dest("spread", 3, 1)}, false, "3 of 6 leases"},
		{"spread done", status.Status{Leader: "n1", Routers: routers(up, up, down), Destinations: dest("spread", 6, 1)}, true, "6 of 6 leases"},
		{"failover done", status.Status{Leader: "n1", Routers: routers(up, up), Destinations: dest("failover", 3, 1)}, true, "3 of 3 leases"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			done, state := leaseSetState(&tt.st, "web", 3)
			if done != tt.done || !strings.Contains(state, tt.state) {
				t.Errorf("leaseSetState = %v, %q; want %v, %q", done, state, tt.done, tt.state)
			}
		})
	}
}

// TestProgressPoll: one line per change of state, none when quiet, and a
// timeout that names what was awaited and the last state.
func TestProgressPoll(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, "the LeaseSet of web", false)
	states := []string{"a", "a", "b", "b", "c"}
	i := 0
	err := p.poll(context.Background(), time.Minute, time.Millisecond, func(context.Context) (bool, string, error) {
		s := states[i]
		i++
		return i == len(states), s, nil
	})
	if err != nil || strings.Count(out.String(), "\n") != 2 || !strings.HasPrefix(out.String(), "waiting for the LeaseSet of web: a (") || p.last != "c" {
		t.Errorf("poll: %v, printed %q, last %q; want 2 lines (a, b), c kept for the caller", err, out.String(), p.last)
	}

	out.Reset()
	p = newProgress(&out, "the LeaseSet of web", true)
	err = p.poll(context.Background(), 20*time.Millisecond, time.Millisecond, func(context.Context) (bool, string, error) {
		return false, "1 of 6 leases", nil
	})
	if !errors.Is(err, errWaitTimeout) || !strings.Contains(err.Error(), "last: 1 of 6 leases") || out.Len() != 0 {
		t.Errorf("quiet poll: %v, printed %q; want a timeout naming the last state, nothing printed", err, out.String())
	}
}

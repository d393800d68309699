package main

import (
	"strings"
	"testing"

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

package status

import (
	"strings"
	"testing"
)

func TestPublication(t *testing.T) {
	routers := func(states ...string) []Router {
		var rs []Router
		for _, s := range states {
			rs = append(rs, Router{State: s})
		}
		return rs
	}
	dest := func(policy string, leases int, published uint32) []Destination {
		return []Destination{{Name: "web", Policy: policy, Leases: leases, Published: published}}
	}
	up, down := RouterUp, RouterDown
	for _, tt := range []struct {
		name  string
		st    Status
		done  bool
		state string
	}{
		{"no leader", Status{}, false, "no leader"},
		{"not known yet", Status{Leader: "n1", Routers: routers(up)}, false, "not in the leader's view"},
		{"no router up", Status{Leader: "n1", Routers: routers(down), Destinations: dest("spread", 0, 0)}, false, "no router is up"},
		{"none yet", Status{Leader: "n1", Routers: routers(up, up), Destinations: dest("spread", 0, 0)}, false, "no LeaseSet yet, 6 leases asked (2 routers up)"},
		{"partial", Status{Leader: "n1", Routers: routers(up, up, down), Destinations: dest("spread", 3, 1)}, false, "3 of 6 leases"},
		{"spread done", Status{Leader: "n1", Routers: routers(up, up, down), Destinations: dest("spread", 6, 1)}, true, "6 of 6 leases"},
		{"failover done", Status{Leader: "n1", Routers: routers(up, up), Destinations: dest("failover", 3, 1)}, true, "3 of 3 leases"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			done, state := tt.st.Publication("web", 3)
			if done != tt.done || !strings.Contains(state, tt.state) {
				t.Errorf("Publication = %v, %q; want %v, %q", done, state, tt.done, tt.state)
			}
		})
	}
}

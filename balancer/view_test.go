package balancer

import (
	"slices"
	"testing"
	"time"
)

func TestStandbyRouters(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	live, expired := now.Add(5*time.Minute), now.Add(-time.Second)
	states := []RouterState{{Name: "r1", Up: true}, {Name: "r2", Up: true}, {Name: "r3", Up: true}, {Name: "r4", Up: false}}
	tests := []struct {
		name    string
		inbound []Lease
		want    []string
	}{
		{"hot routers", []Lease{{Router: "r2", End: live}, {Router: "r3", End: live}, {Router: "r4", End: live}}, []string{"r2", "r3"}},
		{"router without tunnels is not hot", []Lease{{Router: "r2", End: live}}, []string{"r2"}},
		{"expired tunnels do not count", []Lease{{Router: "r2", End: expired}, {Router: "r3", End: live}}, []string{"r3"}},
		{"none", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := standbyRouters(states, tt.inbound, "r1", now)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("standby = %v, want %v", got, tt.want)
			}
		})
	}
}

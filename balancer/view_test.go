package balancer

import (
	"errors"
	"net"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/imh-project/imh/frontendproto"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
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

// TestPublishViewFrontends: the published view carries each frontend's
// link state, last error and last report, and what it hands out does not
// alias what it keeps.
func TestPublishViewFrontends(t *testing.T) {
	nc, peer := net.Pipe()
	defer nc.Close()
	defer peer.Close()
	b := &Balancer{}
	l := &loop{b: b, frontends: map[string]*frontendState{
		"f1": {
			fe:   fsm.Frontend{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"},
			conn: frontendproto.NewConn(nc),
			report: &frontendproto.Report{Frontend: "f1", Router: "r1", Dests: []frontendproto.DestReport{
				{Name: "web", Attached: true, BackendUp: true, KeyExpires: 1_790_000_000, Open: 2, Accepted: 5, Refused: 1, BytesIn: 100, BytesOut: 4096, Errors: 1, LastError: "reset"},
				{Name: "api"}, // no key yet
			}},
		},
		"f2": {fe: fsm.Frontend{Name: "f2", Addr: "127.0.0.1:7102", Router: "r2"}, lastErr: errors.New("connection refused")},
	}}
	l.publishView(time.Now())

	f1, ok := b.Frontend("f1")
	want := status.FrontendLive{State: status.RouterUp, Router: "r1", Destinations: []status.FrontendDestLive{
		{Name: "web", Attached: true, BackendUp: true, KeyExpires: time.Unix(1_790_000_000, 0).UTC(), Open: 2, Accepted: 5, Refused: 1, BytesIn: 100, BytesOut: 4096, Errors: 1, LastError: "reset"},
		{Name: "api"}, // KeyExpires zero, not 1970
	}}
	if !ok || !reflect.DeepEqual(f1, want) {
		t.Fatalf("f1 = %+v %v, want %+v", f1, ok, want)
	}
	f2, ok := b.Frontend("f2")
	if !ok || f2.State != status.RouterDown || f2.Router != "r2" || f2.Error != "connection refused" || len(f2.Destinations) != 0 {
		t.Fatalf("f2 = %+v %v", f2, ok)
	}
	if _, ok := b.Frontend("f3"); ok {
		t.Fatal("a frontend the loop does not know is in the view")
	}

	f1.Destinations[0].BytesIn = 0
	if again, _ := b.Frontend("f1"); again.Destinations[0].BytesIn != 100 {
		t.Fatal("a caller's copy aliases the published view")
	}

	b.view.clear()
	if _, ok := b.Frontend("f1"); ok {
		t.Fatal("the view still has frontends after clear")
	}
}

// TestUpstreamInbound: per router without create-tunnel that holds a ready
// session, live inbound tunnels (have) against --inbound (want); routers
// that build on request, sessions not ready and outbound or expired
// tunnels are left out.
func TestUpstreamInbound(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	live, gone := uint32(now.Add(5*time.Minute).Unix()), uint32(now.Add(-time.Second).Unix())
	stock := &routerproto.Capabilities{Names: []string{routerproto.CapManagedSessions, routerproto.CapTunnelPool}}
	builder := &routerproto.Capabilities{Names: []string{routerproto.CapManagedSessions, routerproto.CapCreateTunnel}}
	l := &loop{routers: map[string]*routerState{
		"up3": {name: "up3", caps: stock}, "up4": {name: "up4", caps: stock}, "up5": {name: "up5", caps: stock}, "r1": {name: "r1", caps: builder},
	}}
	sess := func(ready bool, ts ...routerproto.TunnelInfo) *session {
		s := newSession()
		s.ready = ready
		for _, ti := range ts {
			s.tunnels[tunnelKey{ti.Direction, ti.TunnelID}] = ti
		}
		return s
	}
	in := func(id, exp uint32) routerproto.TunnelInfo {
		return routerproto.TunnelInfo{Direction: routerproto.Inbound, TunnelID: id, Expires: exp}
	}
	d := &destState{settings: fsm.Settings{Inbound: 3}, sessions: map[string]*session{
		"up3": sess(true, in(1, live), in(2, live), in(3, gone), routerproto.TunnelInfo{Direction: routerproto.Outbound, TunnelID: 4, Expires: live}),
		"up4": sess(true, in(5, live), in(6, live), in(7, live)),
		"up5": sess(false, in(8, live)),
		"r1":  sess(true, in(9, live)),
	}}
	got := l.upstreamInbound(d, now)
	want := map[string]status.InboundCount{"up3": {Have: 2, Want: 3}, "up4": {Have: 3, Want: 3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("upstreamInbound = %v, want %v", got, want)
	}
}

package router

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/routerproto"
)

// dialClient connects a routerproto Client (extensions on) to addr.
func dialClient(t *testing.T, addr string) *routerproto.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := routerproto.Dial(ctx, addr, routerproto.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clientSession creates or re-attaches the managed session of d at term.
func clientSession(t *testing.T, c *routerproto.Client, d *dest, term uint64) (uint16, error) {
	t.Helper()
	sc, err := routerproto.SignSessionConfig(d.keys, managed(term), uint64(c.RouterNow().UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return c.CreateSession(ctx, sc)
}

// nextEvent returns the next event whose message is a T.
func nextEvent[T routerproto.Message](t *testing.T, c *routerproto.Client) (T, routerproto.Event) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				var zero T
				t.Fatalf("events closed waiting for %T: %v", zero, c.Err())
			}
			if m, ok := ev.Message.(T); ok {
				return m, ev
			}
		case <-timeout:
			var zero T
			t.Fatalf("no %T within %v", zero, wait)
		}
	}
}

// disconnectReason waits for c to be cut and returns the router's reason.
func disconnectReason(t *testing.T, c *routerproto.Client) string {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("connection not closed")
	}
	var de *routerproto.DisconnectError
	if !errors.As(c.Err(), &de) {
		t.Fatalf("connection ended with %v, not a Disconnect", c.Err())
	}
	return de.Reason
}

// TestClientFailover is a balancer failover as the routerproto Client sees
// it: leader A controls the session; B takes over with a higher term (A is
// told and cut; the tunnel and session id survive); an old leader C with a
// stale term is refused and counted; B dies, payloads are queued for the
// grace period, and D re-attaches and receives them with their tunnel.
func TestClientFailover(t *testing.T) {
	tr := startRouter(t, time.Minute, func(c *Config) { c.GracePeriod = 2 * time.Second })
	d := newDest(t)
	ctx := context.Background()

	a := dialClient(t, tr.addr)
	id, err := clientSession(t, a, d, 7)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := a.CreateTunnel(ctx, &routerproto.CreateTunnel{SessionID: id, Direction: routerproto.Inbound, HopCount: 3})
	if err != nil || ts.Result != routerproto.ResultOK {
		t.Fatalf("create tunnel: %+v, %v", ts, err)
	}

	b := dialClient(t, tr.addr)
	if got, err := clientSession(t, b, d, 8); err != nil || got != id {
		t.Fatalf("take over: session %d, %v; want %d", got, err, id)
	}
	if r := disconnectReason(t, a); r != "imh: superseded by term 8" {
		t.Fatalf("old leader cut with %q", r)
	}
	tl, err := b.GetTunnelPool(ctx, id, routerproto.Inbound)
	if err != nil || len(tl.Tunnels) != 1 || tl.Tunnels[0].TunnelID != ts.Tunnel.TunnelID {
		t.Fatalf("tunnel pool after takeover: %+v, %v", tl, err)
	}

	c := dialClient(t, tr.addr)
	_, err = clientSession(t, c, d, 7)
	var se *routerproto.SessionStatusError
	if !errors.As(err, &se) || se.Status != routerproto.SessionRefused {
		t.Fatalf("stale leader: %v, want refused", err)
	}
	if r := disconnectReason(t, c); r != "imh: stale term" {
		t.Fatalf("stale leader cut with %q", r)
	}
	if s, _ := tr.sessionOf(id); s.StaleRefused != 1 || s.Term != 8 {
		t.Fatalf("status %+v", s)
	}

	_ = b.Close()
	eventually.True(t, wait, "detached", func() bool { s, _ := tr.sessionOf(id); return !s.ControlAttached })
	for i := range 3 {
		if !tr.be.deliver(d.hash(), ts.Tunnel.TunnelID, payloadN(i)) {
			t.Fatal("delivery refused during grace period")
		}
	}
	dd := dialClient(t, tr.addr)
	if got, err := clientSession(t, dd, d, 9); err != nil || got != id {
		t.Fatalf("re-attach: %d, %v", got, err)
	}
	for i := range 3 {
		p, ev := nextEvent[*routerproto.MessagePayload](t, dd)
		if string(p.Payload) != string(payloadN(i)) || ev.From == nil || ev.From.TunnelID != ts.Tunnel.TunnelID {
			t.Fatalf("queued payload %d: %q from %+v", i, p.Payload, ev.From)
		}
	}
	if tr.be.buildCount() != 1 {
		t.Fatalf("failover rebuilt tunnels: %d builds", tr.be.buildCount())
	}
	if ss := tr.r.Status(ctx).Sessions; len(ss) != 1 || ss[0].B32 != d.keys.Destination().B32() {
		t.Fatalf("sessions after failover: %+v", ss)
	}
}

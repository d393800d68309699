package main

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/servetest"
	"github.com/imh-project/imh/routerproto"
)

// echoRouter is a stock router as far as ping can tell: it asks for a
// LeaseSet, finds the target, and answers every other repliable datagram
// as the target's echo service would.
type echoRouter struct {
	routerproto.UnimplementedHandler
	target *i2p.PrivateKeys
	// silent: answer nothing; a non-zero fail is then reported as the
	// delivery status of every datagram that asks for one.
	silent bool
	fail   routerproto.MessageStatusCode

	mu        sync.Mutex
	protocols []uint8
	leaseSets int
}

func (e *echoRouter) CreateSession(_ context.Context, c *routerproto.ServerConn, m *routerproto.CreateSession) error {
	if m.Config.Verify() != nil || m.Config.Options["outbound.length"] != "0" {
		return c.SendSessionStatus(routerproto.NoSession, routerproto.SessionInvalid)
	}
	if err := c.SendSessionStatus(3, routerproto.SessionCreated); err != nil {
		return err
	}
	end := uint64(time.Now().Add(10 * time.Minute).UnixMilli())
	return c.RequestLeaseSet(3, []i2p.Lease{{TunnelID: 9, EndMs: end}})
}

func (e *echoRouter) CreateLeaseSet2(_ context.Context, _ *routerproto.ServerConn, m *routerproto.CreateLeaseSet2) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m.LeaseSet.Verify() == nil {
		e.leaseSets++
	}
	return nil
}

func (e *echoRouter) HostLookup(_ context.Context, c *routerproto.ServerConn, m *routerproto.HostLookup) error {
	if m.Hash != e.target.Destination().Hash() {
		return c.Send(&routerproto.HostReply{SessionID: m.SessionID, RequestID: m.RequestID, Result: routerproto.HostLeaseSetLookupFail})
	}
	return c.Send(&routerproto.HostReply{SessionID: m.SessionID, RequestID: m.RequestID, Destination: e.target.Destination()})
}

func (e *echoRouter) DestroySession(_ context.Context, c *routerproto.ServerConn, m *routerproto.DestroySession) error {
	return c.SendSessionStatus(m.SessionID, routerproto.SessionDestroyed)
}

func (e *echoRouter) SendMessageExpires(_ context.Context, c *routerproto.ServerConn, m *routerproto.SendMessageExpires) error {
	p, err := i2p.ParsePayload(m.Payload)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.protocols = append(e.protocols, p.Protocol)
	n := len(e.protocols)
	e.mu.Unlock()
	if e.silent {
		if e.fail != 0 && m.Nonce != 0 {
			return c.Send(&routerproto.MessageStatus{SessionID: m.SessionID, MessageID: uint32(n), Status: e.fail, Nonce: m.Nonce})
		}
		return nil
	}
	if p.Protocol != i2p.ProtoRepliableDatagram || n%2 == 0 {
		return nil
	}
	dg, err := i2p.ParseRepliableDatagram(p.Data)
	if err != nil || dg.Verify() != nil {
		return err
	}
	answer, err := i2p.NewRepliableDatagram(e.target, dg.Data)
	if err != nil {
		return err
	}
	body, err := answer.MarshalBinary()
	if err != nil {
		return err
	}
	out, err := i2p.Payload{Protocol: i2p.ProtoRepliableDatagram, Data: body}.MarshalBinary()
	if err != nil {
		return err
	}
	return c.Send(&routerproto.MessagePayload{SessionID: m.SessionID, MessageID: uint32(n), Payload: out})
}

func startEchoRouter(t *testing.T) (*echoRouter, string) {
	t.Helper()
	return startEchoRouterWith(t, &echoRouter{})
}

func startEchoRouterWith(t *testing.T, e *echoRouter) (*echoRouter, string) {
	t.Helper()
	target, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.target = target
	cfg := routerproto.DefaultServerConfig()
	cfg.Handler = e
	cfg.Capabilities = nil
	srv, err := routerproto.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := servetest.Loopback(t, srv)
	return e, addr
}

func TestPing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		oneway   bool
		received int
		proto    uint8
	}{
		{"echo, every other one answered", false, 2, i2p.ProtoRepliableDatagram},
		{"oneway", true, 0, i2p.ProtoRawDatagram},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, addr := startEchoRouter(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := runPing(ctx, addr, e.target.Destination().Hash(), pingOptions{count: 4, interval: 10 * time.Millisecond, oneway: tc.oneway, replyWait: time.Second}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != 4 || res.Received != tc.received || len(res.RTTms) != tc.received {
				t.Fatalf("result %+v, want 4 sent, %d received", res, tc.received)
			}
			for _, rtt := range res.RTTms {
				if rtt <= 0 || rtt > 30000 {
					t.Errorf("rtt %v ms", rtt)
				}
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.leaseSets != 1 {
				t.Errorf("%d valid leasesets handed over, want 1", e.leaseSets)
			}
			for _, p := range e.protocols {
				if p != tc.proto {
					t.Fatalf("sent protocols %v, want all %d", e.protocols, tc.proto)
				}
			}
		})
	}
}

func TestPingNotFound(t *testing.T) {
	_, addr := startEchoRouter(t)
	other, _ := i2p.NewPrivateKeys(rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := runPing(ctx, addr, other.Destination().Hash(), pingOptions{count: 1}, io.Discard)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("err %v, want exit 1", err)
	}
}

// TestPingUsage: malformed arguments are usage errors (exit 2); a router
// that cannot be reached is a failure (exit 1).
func TestPingUsage(t *testing.T) {
	target, _ := i2p.NewPrivateKeys(rand.Reader)
	b32 := target.Destination().B32()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		args []string
		exit int
	}{
		{[]string{"ping", b32}, 2},
		{[]string{"ping", "not-a-b32", "--via", "i2cp://127.0.0.1:7654"}, 2},
		{[]string{"ping", b32, "--via", "127.0.0.1"}, 2},
		{[]string{"ping", b32, "--via", "i2cp://127.0.0.1:7654", "--count", "0"}, 2},
		{[]string{"ping", b32, "--via", "i2cp://" + dead}, 1},
	} {
		root := newRootCmd()
		root.SetArgs(tc.args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		if got := exitCode(err); got != tc.exit {
			t.Errorf("imh %v: exit %d (%v), want %d", tc.args, got, err, tc.exit)
		}
	}
}

// TestPingNothingBack: a ping that gets no reply prints its summary and
// exits 1; when the router reported why (MessageStatus), the one-line error
// quotes it, and the command returns without waiting for replies that
// cannot come.
func TestPingNothingBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail routerproto.MessageStatusCode
		want string
	}{
		{"router says no route", routerproto.MsgNoLeaseSet, "simulated router"},
		{"router says network failure", routerproto.MsgNetworkFailure, `"network failure" for 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, addr := startEchoRouterWith(t, &echoRouter{silent: true, fail: tc.fail})
			root := newRootCmd()
			var out, errOut strings.Builder
			root.SetArgs([]string{"ping", e.target.Destination().B32(), "--via", "i2cp://" + addr, "--count", "3", "--interval", "10ms"})
			root.SetOut(&out)
			root.SetErr(&errOut)
			start := time.Now()
			err := root.Execute()
			if exitCode(err) != 1 || err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v (exit %d), want exit 1 and one line with %q", err, exitCode(err), tc.want)
			}
			if !strings.Contains(out.String(), "3 sent, 0 received, 3 lost") {
				t.Errorf("stdout %q, want the summary", out.String())
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v although the router reported every datagram undeliverable", d)
			}
		})
	}
	// A router that says nothing: the full reply wait (shortened here),
	// nothing to quote.
	t.Run("router says nothing", func(t *testing.T) {
		e, addr := startEchoRouterWith(t, &echoRouter{silent: true})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := runPing(ctx, addr, e.target.Destination().Hash(), pingOptions{count: 2, interval: 10 * time.Millisecond, replyWait: 300 * time.Millisecond}, io.Discard)
		if err != nil || res.Sent != 2 || res.Received != 0 || res.why != "" {
			t.Fatalf("res %+v, err %v", res, err)
		}
	})
}

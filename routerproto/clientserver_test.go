package routerproto

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/servetest"
)

// testHandler is a small router: it answers every message the way
// PROTOCOL.md says and records what it got.
type testHandler struct {
	UnimplementedHandler
	t *testing.T

	mu     sync.Mutex
	got    []Message
	conns  []*ServerConn
	closed chan *ServerConn
}

func newTestHandler(t *testing.T) *testHandler {
	return &testHandler{t: t, closed: make(chan *ServerConn, 16)}
}

func (h *testHandler) record(m Message) {
	h.mu.Lock()
	h.got = append(h.got, m)
	h.mu.Unlock()
}

func (h *testHandler) received(t Type) Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.got {
		if m.Type() == t {
			return m
		}
	}
	return nil
}

func (h *testHandler) ConnOpened(_ context.Context, c *ServerConn) {
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
}

func (h *testHandler) ConnClosed(c *ServerConn, _ error) { h.closed <- c }

var testGateway = i2p.Hash{0x11, 0x22}

func (h *testHandler) CreateSession(_ context.Context, c *ServerConn, m *CreateSession) error {
	h.record(m)
	if err := m.Config.Verify(); err != nil {
		return c.SendSessionStatus(0, SessionInvalid)
	}
	if m.Config.Options[OptTerm] == "0" {
		if err := c.SendSessionStatus(0, SessionRefused); err != nil {
			return err
		}
		return c.Disconnect("imh: stale term")
	}
	if err := c.SendSessionStatus(42, SessionCreated); err != nil {
		return err
	}
	return c.RequestLeaseSet(42, []i2p.Lease{{Gateway: testGateway, TunnelID: 7, EndMs: 1_900_000_000_000}})
}

func (h *testHandler) ReconfigureSession(_ context.Context, c *ServerConn, m *ReconfigureSession) error {
	h.record(m)
	return c.SendSessionStatus(m.SessionID, SessionUpdated)
}

func (h *testHandler) DestroySession(_ context.Context, c *ServerConn, m *DestroySession) error {
	h.record(m)
	return c.SendSessionStatus(m.SessionID, SessionDestroyed)
}

func (h *testHandler) CreateLeaseSet2(_ context.Context, c *ServerConn, m *CreateLeaseSet2) error {
	h.record(m)
	if !c.Extended() {
		return nil
	}
	state := LeaseSetStored
	if m.LeaseSet.Verify() != nil {
		state = LeaseSetRejected
	}
	return c.Send(&LeaseSetStatus{SessionID: m.SessionID, Published: m.LeaseSet.Published, State: state})
}

func (h *testHandler) SendMessage(_ context.Context, c *ServerConn, m *SendMessage) error {
	h.record(m)
	return c.Send(&MessageStatus{SessionID: m.SessionID, MessageID: 1, Status: MsgGuaranteedSuccess, Nonce: m.Nonce})
}

func (h *testHandler) SendMessageExpires(_ context.Context, c *ServerConn, m *SendMessageExpires) error {
	h.record(m)
	return c.Send(&MessageStatus{SessionID: m.SessionID, MessageID: 2, Status: MsgGuaranteedSuccess, Nonce: m.Nonce})
}

func (h *testHandler) HostLookup(_ context.Context, c *ServerConn, m *HostLookup) error {
	h.record(m)
	return c.Send(&HostReply{SessionID: m.SessionID, RequestID: m.RequestID, Result: HostFailed})
}

func (h *testHandler) GetBandwidthLimits(_ context.Context, c *ServerConn, m *GetBandwidthLimits) error {
	h.record(m)
	return c.Send(&BandwidthLimits{Limits: [16]uint32{100, 200}})
}

func (h *testHandler) GetFastTier(_ context.Context, c *ServerConn, m *GetFastTier) error {
	h.record(m)
	return c.Send(&PeerList{RequestID: m.RequestID, Peers: []Peer{{Hash: testGateway, Caps: "OfR", Bandwidth: 'O', Reliability: 9000, LatencyMs: 80}}})
}

func (h *testHandler) CreateTunnel(_ context.Context, c *ServerConn, m *CreateTunnel) error {
	h.record(m)
	// Answer from another goroutine, as a router whose build takes time
	// does, then report the tunnel's expiry unsolicited.
	go func() {
		ti := TunnelInfo{Direction: m.Direction, TunnelID: 99, Gateway: testGateway, Expires: 1_900_000_000, Hops: m.Hops}
		_ = c.Send(&TunnelStatus{RequestID: m.RequestID, SessionID: m.SessionID, Result: ResultOK, Tunnel: ti})
		_ = c.Send(&TunnelStatus{SessionID: m.SessionID, Result: ResultExpired, Tunnel: ti})
	}()
	return nil
}

func (h *testHandler) GetTunnelPool(_ context.Context, c *ServerConn, m *GetTunnelPool) error {
	h.record(m)
	return c.Send(&TunnelList{RequestID: m.RequestID, SessionID: m.SessionID, Tunnels: []TunnelInfo{{Direction: Inbound, TunnelID: 99, Gateway: testGateway, Expires: 5}}})
}

func (h *testHandler) SendVia(_ context.Context, c *ServerConn, m *SendVia) error {
	h.record(m)
	return c.Send(&MessageStatus{SessionID: m.SessionID, MessageID: 3, Status: MsgGuaranteedSuccess, Nonce: m.Nonce})
}

// startServer runs a Server on loopback until the test ends
// (servetest.Loopback).
func startServer(t *testing.T, h Handler, mod func(*ServerConfig)) (*Server, string) {
	t.Helper()
	cfg := DefaultServerConfig()
	cfg.Handler = h
	cfg.RouterHash = i2p.Hash{0xab}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := servetest.Loopback(t, srv)
	return srv, addr
}

func dialTest(t *testing.T, addr string, mod func(*ClientConfig)) *Client {
	t.Helper()
	cfg := DefaultClientConfig()
	cfg.RequestTimeout = 5 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// onlyConn waits until srv holds exactly one connection (the test's
// client, accepted) and returns it.
func onlyConn(t *testing.T, srv *Server) *ServerConn {
	t.Helper()
	var sc *ServerConn
	eventually.True(t, 5*time.Second, "the server's one connection", func() bool {
		cs := srv.Conns()
		if len(cs) != 1 {
			return false
		}
		sc = cs[0]
		return true
	})
	return sc
}

// nextEvent waits for the next event of type want, failing on others.
func nextEvent(t *testing.T, c *Client, want Type) Event {
	t.Helper()
	select {
	case e, ok := <-c.Events():
		if !ok {
			t.Fatalf("events closed waiting for %s (err %v)", want, c.Err())
		}
		if e.Message.Type() != want {
			t.Fatalf("event %s (%+v), want %s", e.Message.Type(), e.Message, want)
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s event", want)
	}
	return Event{}
}

func newSessionConfig(t *testing.T, opts i2p.Mapping) (*i2p.PrivateKeys, *SessionConfig) {
	t.Helper()
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := SignSessionConfig(keys, opts, uint64(time.Now().UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	return keys, sc
}

func TestClientServerEveryMessage(t *testing.T) {
	h := newTestHandler(t)
	srv, addr := startServer(t, h, nil)
	c := dialTest(t, addr, nil)
	ctx := context.Background()

	if !c.Extended() || !c.Has(CapFastTier) || c.RouterHash() != (i2p.Hash{0xab}) || c.RouterVersion() != DefaultRouterVersion {
		t.Fatalf("handshake: ext=%v caps=%v version=%q", c.Extended(), c.Capabilities(), c.RouterVersion())
	}
	if off := c.ClockOffset(); off > time.Second || off < -time.Second {
		t.Fatalf("clock offset %v on one machine", off)
	}

	keys, sc := newSessionConfig(t, i2p.Mapping{OptManaged: "true", OptTerm: "3"})
	sid, err := c.CreateSession(ctx, sc)
	if err != nil || sid != 42 {
		t.Fatalf("create session: %d %v", sid, err)
	}
	rq := nextEvent(t, c, TypeRequestVariableLeaseSet).Message.(*RequestVariableLeaseSet)
	if rq.SessionID != 42 || len(rq.Leases) != 1 || rq.Leases[0].Gateway != testGateway {
		t.Fatalf("lease request %+v", rq)
	}
	if got := h.received(TypeCreateSession).(*CreateSession); got.Config.Options[OptTerm] != "3" {
		t.Fatalf("server got options %v", got.Config.Options)
	}

	if err := c.ReconfigureSession(ctx, sid, sc); err != nil {
		t.Fatalf("reconfigure: %v", err)
	}

	lk, _ := i2p.NewLeaseSetKey(rand.Reader)
	ls := &i2p.LeaseSet2{Destination: keys.Destination(), Published: uint32(time.Now().Unix()), Expires: 600,
		Keys: []i2p.EncryptionKey{lk.EncryptionKey()}, Leases: []i2p.Lease2{rq.Leases[0].ToLease2()}}
	if err := ls.Sign(keys); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateLeaseSet2(&CreateLeaseSet2{SessionID: sid, LeaseSet: ls, PrivateKeys: []LeaseSetPrivateKey{{Type: i2p.EncX25519, Key: lk.Private()}}}); err != nil {
		t.Fatal(err)
	}
	lss := nextEvent(t, c, TypeLeaseSetStatus).Message.(*LeaseSetStatus)
	if lss.State != LeaseSetStored || lss.Published != ls.Published {
		t.Fatalf("leaseset status %+v", lss)
	}

	if err := c.SendMessage(&SendMessage{SessionID: sid, Destination: keys.Destination(), Payload: []byte("hi"), Nonce: 11}); err != nil {
		t.Fatal(err)
	}
	if ms := nextEvent(t, c, TypeMessageStatus).Message.(*MessageStatus); ms.Nonce != 11 || !ms.Status.Success() {
		t.Fatalf("status %+v", ms)
	}
	if err := c.SendMessageExpires(&SendMessageExpires{SendMessage: SendMessage{SessionID: sid, Destination: keys.Destination(), Payload: []byte("x"), Nonce: 12}, Expiration: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	if ms := nextEvent(t, c, TypeMessageStatus).Message.(*MessageStatus); ms.Nonce != 12 {
		t.Fatalf("status %+v", ms)
	}
	if err := c.SendVia(&SendVia{SessionID: sid, TunnelID: 99, Destination: keys.Destination(), Payload: []byte("v"), Nonce: 13}); err != nil {
		t.Fatal(err)
	}
	if ms := nextEvent(t, c, TypeMessageStatus).Message.(*MessageStatus); ms.Nonce != 13 || ms.MessageID != 3 {
		t.Fatalf("status %+v", ms)
	}

	hr, err := c.HostLookup(ctx, &HostLookup{SessionID: sid, TimeoutMs: 10000, LookupType: LookupHostname, Hostname: "x.i2p"})
	if err != nil || hr.Result != HostFailed || hr.RequestID == 0 {
		t.Fatalf("host lookup %+v %v", hr, err)
	}
	bw, err := c.GetBandwidthLimits(ctx)
	if err != nil || bw.Limits[0] != 100 || bw.Limits[1] != 200 {
		t.Fatalf("bandwidth %+v %v", bw, err)
	}
	pl, err := c.GetFastTier(ctx, 75)
	if err != nil || len(pl.Peers) != 1 || pl.Peers[0].Caps != "OfR" {
		t.Fatalf("fast tier %+v %v", pl, err)
	}
	ts, err := c.CreateTunnel(ctx, &CreateTunnel{SessionID: sid, Direction: Inbound, HopCount: 1, Hops: []i2p.Hash{testGateway}})
	if err != nil || ts.Result != ResultOK || ts.Tunnel.TunnelID != 99 || ts.Tunnel.Lease().Gateway != testGateway {
		t.Fatalf("create tunnel %+v %v", ts, err)
	}
	exp := nextEvent(t, c, TypeTunnelStatus).Message.(*TunnelStatus)
	if exp.RequestID != 0 || exp.Result != ResultExpired {
		t.Fatalf("unsolicited tunnel status %+v", exp)
	}
	tl, err := c.GetTunnelPool(ctx, sid, DirBoth)
	if err != nil || len(tl.Tunnels) != 1 {
		t.Fatalf("tunnel pool %+v %v", tl, err)
	}

	// Router-initiated events pushed from outside the handler.
	sc0 := srv.Conns()[0]
	if err := sc0.SendPayload(&MessagePayload{SessionID: sid, MessageID: 77, Payload: []byte("in")}, &PayloadFrom{TunnelID: 99, Gateway: testGateway}); err != nil {
		t.Fatal(err)
	}
	pe := nextEvent(t, c, TypeMessagePayload)
	if pe.From == nil || pe.From.TunnelID != 99 || pe.From.MessageID != 77 || string(pe.Message.(*MessagePayload).Payload) != "in" {
		t.Fatalf("payload event %+v from %+v", pe.Message, pe.From)
	}
	if err := sc0.Send(&NeedLeaseSet{SessionID: sid, Reason: NeedNotStored, DeadlineMs: 10000}); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, c, TypeNeedLeaseSet)

	if err := c.DestroySession(sid); err != nil {
		t.Fatal(err)
	}
	if st := nextEvent(t, c, TypeSessionStatus).Message.(*SessionStatus); st.Status != SessionDestroyed {
		t.Fatalf("destroy: %+v", st)
	}

	// Fencing: the router cuts this controller.
	if err := sc0.Disconnect("imh: superseded by term 4"); err != nil {
		t.Fatal(err)
	}
	d := nextEvent(t, c, TypeDisconnect).Message.(*Disconnect)
	if d.Reason != "imh: superseded by term 4" {
		t.Fatalf("reason %q", d.Reason)
	}
	<-c.Done()
	var de *DisconnectError
	if !errors.As(c.Err(), &de) || de.Reason != d.Reason {
		t.Fatalf("client err %v", c.Err())
	}
	select {
	case <-h.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("ConnClosed not called")
	}
	for _, typ := range []Type{TypeCreateSession, TypeReconfigureSession, TypeDestroySession, TypeCreateLeaseSet2, TypeSendMessage,
		TypeSendMessageExpires, TypeHostLookup, TypeGetBandwidthLimits, TypeGetFastTier, TypeCreateTunnel, TypeGetTunnelPool, TypeSendVia} {
		if h.received(typ) == nil {
			t.Errorf("server never received %s", typ)
		}
	}
}

func TestStaleTermRefused(t *testing.T) {
	h := newTestHandler(t)
	_, addr := startServer(t, h, nil)
	c := dialTest(t, addr, nil)
	_, sc := newSessionConfig(t, i2p.Mapping{OptManaged: "true", OptTerm: "0"})
	_, err := c.CreateSession(context.Background(), sc)
	var se *SessionStatusError
	if !errors.As(err, &se) || se.Status != SessionRefused {
		t.Fatalf("err %v", err)
	}
	<-c.Done()
	var de *DisconnectError
	if !errors.As(c.Err(), &de) || de.Reason != "imh: stale term" {
		t.Fatalf("client err %v", c.Err())
	}
}

// TestStockServerNeverSeesExtensions: a Server without capabilities behaves
// like a stock router; the client refuses every extension call locally.
func TestStockServerNeverSeesExtensions(t *testing.T) {
	h := newTestHandler(t)
	_, addr := startServer(t, h, func(c *ServerConfig) { c.Capabilities = nil })
	c := dialTest(t, addr, nil)
	if c.Extended() || c.Capabilities() != nil {
		t.Fatal("stock server reported extensions")
	}
	ctx := context.Background()
	if _, err := c.GetFastTier(ctx, 0); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("fast tier: %v", err)
	}
	if _, err := c.CreateTunnel(ctx, &CreateTunnel{HopCount: 1}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("create tunnel: %v", err)
	}
	if _, err := c.GetTunnelPool(ctx, 1, Inbound); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("tunnel pool: %v", err)
	}
	if err := c.SendVia(&SendVia{}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("send via: %v", err)
	}
	if err := c.Send(&GetFastTier{}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("raw send: %v", err)
	}
	// Standard messages still work.
	_, sc := newSessionConfig(t, nil)
	if _, err := c.CreateSession(ctx, sc); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, c, TypeRequestVariableLeaseSet)
	if _, err := c.GetBandwidthLimits(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRawStockRouter: a hand-written router that answers SetDate right after
// GetDate (what i2pd and Java do) and records every frame it receives.
func TestRawStockRouter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	frames := make(chan Message, 16)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		conn := NewConn(nc, time.Second)
		if conn.ReadProtocolByte() != nil {
			return
		}
		for {
			m, err := conn.ReadMessage()
			if err != nil {
				close(frames)
				return
			}
			frames <- m
			if m.Type() == TypeGetDate {
				_ = conn.WriteMessage(&SetDate{Date: uint64(time.Now().Add(time.Hour).UnixMilli()), Version: "0.9.58"})
			}
		}
	}()
	c := dialTest(t, ln.Addr().String(), func(cfg *ClientConfig) { cfg.Username, cfg.Password = "user", "pw" })
	gd := (<-frames).(*GetDate)
	if gd.Version != DefaultClientVersion || gd.Options[OptExt] != "1" || gd.Options[OptUsername] != "user" || gd.Options[OptPassword] != "pw" {
		t.Fatalf("GetDate %+v", gd)
	}
	if c.Extended() || c.RouterVersion() != "0.9.58" {
		t.Fatalf("ext=%v version=%q", c.Extended(), c.RouterVersion())
	}
	if off := c.ClockOffset(); off < 59*time.Minute || off > 61*time.Minute {
		t.Fatalf("offset %v, want about 1h", off)
	}
	if _, err := c.GetFastTier(context.Background(), 0); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("fast tier: %v", err)
	}
	if err := c.Send(&GetBandwidthLimits{}); err != nil {
		t.Fatal(err)
	}
	if m := <-frames; m.Type() != TypeGetBandwidthLimits {
		t.Fatalf("router got %s; an extension message leaked?", m.Type())
	}
	c.Close()
	for m := range frames {
		if m.Type().IsExtension() {
			t.Fatalf("stock router received %s", m.Type())
		}
	}
}

func TestAuth(t *testing.T) {
	h := newTestHandler(t)
	_, addr := startServer(t, h, func(c *ServerConfig) {
		c.Authenticate = func(u, p string) bool { return u == "admin" && p == "secret" }
	})
	dialTest(t, addr, func(c *ClientConfig) { c.Username, c.Password = "admin", "secret" })
	for _, tc := range []struct{ user, pass, reason string }{{"", "", "Authorization required"}, {"admin", "wrong", "Authorization failed"}} {
		cfg := DefaultClientConfig()
		cfg.Username, cfg.Password = tc.user, tc.pass
		_, err := Dial(context.Background(), addr, cfg)
		var de *DisconnectError
		if !errors.As(err, &de) || de.Reason != tc.reason {
			t.Fatalf("user %q: %v", tc.user, err)
		}
	}
}

// TestBadFramesCloseOnlyThatConnection sends a malformed, an oversized, an
// unknown and an un-negotiated frame on separate connections; each gets a
// Disconnect with a reason and is closed, while a good client keeps working.
func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	h := newTestHandler(t)
	_, addr := startServer(t, h, nil)
	good := dialTest(t, addr, nil)
	for _, tc := range []struct {
		name   string
		ext    bool
		frame  []byte
		reason string
	}{
		{"malformed", true, []byte{0, 0, 0, 1, byte(TypeDestroySession), 0}, "imh: malformed message"},
		{"oversized", true, []byte{0xff, 0xff, 0xff, 0xf0, byte(TypeSendMessage)}, "imh: frame too large"},
		{"just over the limit", true, []byte{0, 0, 0xff, 0xfb, byte(TypeSendMessage)}, "imh: frame too large"},
		{"unknown type", true, []byte{0, 0, 0, 0, 99}, "imh: unknown message type"},
		{"extension not negotiated", false, []byte{0, 0, 0, 6, byte(TypeGetFastTier), 0, 0, 0, 1, 0, 0}, "imh: extension message GetFastTier not negotiated"},
		{"router message from client", true, []byte{0, 0, 0, 3, byte(TypeSessionStatus), 0, 1, 1}, "imh: unexpected SessionStatus from client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			gd := &GetDate{Version: "0.9.67"}
			if tc.ext {
				gd.Options = i2p.Mapping{OptExt: "1"}
			}
			hs, _ := AppendFrame([]byte{ProtocolByte}, gd)
			if _, err := nc.Write(append(hs, tc.frame...)); err != nil {
				t.Fatal(err)
			}
			conn := NewConn(nc, time.Second)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			var reason string
			for {
				m, err := conn.ReadMessage()
				if err != nil {
					t.Fatalf("read: %v (no Disconnect)", err)
				}
				if d, ok := m.(*Disconnect); ok {
					reason = d.Reason
					break
				}
			}
			if !strings.HasPrefix(reason, tc.reason) {
				t.Fatalf("reason %q, want prefix %q", reason, tc.reason)
			}
			if _, err := conn.ReadMessage(); err == nil {
				t.Fatal("connection still open after Disconnect")
			}
		})
	}
	if _, err := good.GetBandwidthLimits(context.Background()); err != nil {
		t.Fatalf("good client hurt: %v", err)
	}
}

func TestBadProtocolByte(t *testing.T) {
	_, addr := startServer(t, newTestHandler(t), nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, _ = nc.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a connection that sent HTTP", n)
	}
}

// TestOversizedFrameNoAllocation: the length is refused from the header
// alone; reading a frame that claims 4 GiB allocates nothing large.
func TestOversizedFrameNoAllocation(t *testing.T) {
	hdr := []byte{0xff, 0xff, 0xff, 0xff, byte(TypeMessagePayload)}
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := ParseFrameHeader(hdr); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatal(err)
		}
	})
	if allocs > 10 {
		t.Fatalf("%v allocations", allocs)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = a.Write(hdr) }()
	var before, after runtimeMem
	before.read()
	_, _, err := NewConn(b, 0).ReadFrame()
	after.read()
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err %v", err)
	}
	if grew := after.total - before.total; grew > 1<<20 {
		t.Fatalf("reading a refused frame allocated %d bytes", grew)
	}
}

func TestTruncatedFrames(t *testing.T) {
	full := readHexFile(t, "createleaseset2.hex")
	for _, n := range []int{0, 3, HeaderLen, HeaderLen + 1, len(full) / 2, len(full) - 1} {
		if _, _, err := SplitFrame(full[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: decoded", n)
		}
		a, b := net.Pipe()
		go func() { _, _ = a.Write(full[:n]); a.Close() }()
		if _, _, err := NewConn(b, 0).ReadFrame(); err == nil {
			t.Fatalf("conn read of %d bytes: no error", n)
		}
		b.Close()
	}
	// A body shorter than its fields, with a correct frame length.
	body := readHexFile(t, "createleaseset2.hex")[HeaderLen:]
	for cut := 1; cut < len(body); cut += 37 {
		if _, err := Decode(TypeCreateLeaseSet2, body[:len(body)-cut]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("cut %d: %v", cut, err)
		}
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	baseline := runtime.NumGoroutine()
	h := newTestHandler(t)
	cfg := DefaultServerConfig()
	cfg.Handler = h
	srv, _ := NewServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c := dialTest(t, ln.Addr().String(), nil)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client connection still open after server stop")
	}
	if len(srv.Conns()) != 0 {
		t.Fatal("connections left")
	}
	select {
	case <-h.closed:
	default:
		t.Fatal("ConnClosed not called before Serve returned")
	}
	c.Close()
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > baseline; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left (baseline %d):\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
	}
}

func TestRequestTimeout(t *testing.T) {
	// A handler that never answers GetFastTier.
	h := &silentHandler{}
	_, addr := startServer(t, h, nil)
	c := dialTest(t, addr, func(cfg *ClientConfig) { cfg.RequestTimeout = 100 * time.Millisecond })
	if _, err := c.GetFastTier(context.Background(), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.GetFastTier(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

type silentHandler struct{ UnimplementedHandler }

func (silentHandler) GetFastTier(context.Context, *ServerConn, *GetFastTier) error { return nil }

func TestExtensionToStockClientRefused(t *testing.T) {
	h := newTestHandler(t)
	srv, addr := startServer(t, h, nil)
	c := dialTest(t, addr, func(cfg *ClientConfig) { cfg.Extensions = false })
	if c.Extended() {
		t.Fatal("extended without asking")
	}
	sc := onlyConn(t, srv)
	if sc.Extended() {
		t.Fatal("server conn extended")
	}
	if err := sc.Send(&NeedLeaseSet{}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("err %v", err)
	}
	// SendPayload drops PayloadFrom for a stock client.
	if err := sc.SendPayload(&MessagePayload{SessionID: 1, MessageID: 2, Payload: []byte{1}}, &PayloadFrom{TunnelID: 5}); err != nil {
		t.Fatal(err)
	}
	e := nextEvent(t, c, TypeMessagePayload)
	if e.From != nil || !bytes.Equal(e.Message.(*MessagePayload).Payload, []byte{1}) {
		t.Fatalf("event %+v", e)
	}
}

package streamnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
	"github.com/imh-project/imh/routerproto/routertest"
)

func TestParseTarget(t *testing.T) {
	var h i2p.Hash
	h[0], h[31] = 1, 2
	b32 := h.B32()
	bare := strings.TrimSuffix(b32, i2p.B32Suffix)
	tests := []struct {
		in       string
		wantPort uint16
		wantErr  string
	}{
		{b32, 0, ""},
		{b32 + ":80", 80, ""},
		{bare + ":65535", 65535, ""},
		{bare, 0, ""},
		{b32 + ":65536", 0, "port: want 0..65535"},
		{b32 + ":", 0, "port: want 0..65535"},
		{b32 + ":http", 0, "port: want 0..65535"},
		{"example.i2p:80", 0, `target "example.i2p:80": `},
		{"", 0, `target "": `},
	}
	for _, tt := range tests {
		got, port, err := ParseTarget(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTarget(%q): %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != h || port != tt.wantPort {
			t.Errorf("ParseTarget(%q) = %s, %d, %v; want %s, %d", tt.in, got.B32(), port, err, b32, tt.wantPort)
		}
	}
}

// tcpPair returns both ends of a loopback TCP connection (which, unlike
// net.Pipe, half-closes).
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// Copy sends stdin, half-closes, and still reads the whole answer: the
// other side answers only after it saw the end of the request.
func TestCopyHalfCloses(t *testing.T) {
	local, remote := tcpPair(t)
	go func() {
		req, _ := io.ReadAll(remote) // until Copy's CloseWrite
		_, _ = remote.Write(append([]byte("got: "), req...))
		remote.Close()
	}()
	var out bytes.Buffer
	if err := Copy(local, strings.NewReader("hello"), &out); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if out.String() != "got: hello" {
		t.Errorf("out %q, want %q", out.String(), "got: hello")
	}
}

// brokenConn fails reads as a reset stream does.
type brokenConn struct{ net.Conn }

func (brokenConn) Read([]byte) (int, error)    { return 0, errors.New("stream reset") }
func (brokenConn) Write(b []byte) (int, error) { return len(b), nil }
func (brokenConn) Close() error                { return nil }

func TestCopyReportsABrokenStream(t *testing.T) {
	err := Copy(brokenConn{}, strings.NewReader(""), io.Discard)
	if err == nil || err.Error() != "stream: stream reset" {
		t.Fatalf("Copy: %v, want stream: stream reset", err)
	}
}

// ServeTunnel splices each accepted connection to a dialed one, reports
// and closes a connection whose dial failed, and returns nil once ctx ends.
func TestServeTunnel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	service, echo := tcpPair(t) // the stream of the first connection
	go func() { _, _ = io.Copy(echo, echo); echo.Close() }()
	var (
		mu    sync.Mutex
		calls int
		errs  []error
	)
	dial := func(context.Context) (net.Conn, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 2 {
			return nil, errors.New("no route")
		}
		return service, nil
	}
	done := make(chan error, 1)
	go func() {
		done <- ServeTunnel(ctx, ln, dial, func(err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "ping" {
		t.Fatalf("through the tunnel: %q, %v; want ping", got, err)
	}

	c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("a connection whose dial failed: read %d, %v; want it closed (EOF)", n, err)
	}
	c.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeTunnel after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeTunnel did not return after cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 1 || errs[0].Error() != "no route" {
		t.Errorf("dial errors reported: %v, want [no route]", errs)
	}
}

// TestOpenRouter: the router is dialed without extensions and the client
// side opened on it; a dial that fails is reported naming the router, and
// a connection on which no session opens is closed again.
func TestOpenRouter(t *testing.T) {
	stock := routertest.NewStock(t, routertest.StockConfig{})
	log := slog.New(slog.DiscardHandler)
	var dialed *routerproto.Client
	dial := func(_ context.Context, cfg routerproto.ClientConfig) (*routerproto.Client, error) {
		if cfg.Extensions {
			t.Error("OpenRouter asked for the extensions")
		}
		c, err := routerproto.Dial(t.Context(), stock.Addr, cfg) // even when OpenRouter's context has ended
		dialed = c
		return c, err
	}
	n, err := OpenRouter(t.Context(), stock.Addr, dial, log)
	if err != nil {
		t.Fatalf("OpenRouter: %v", err)
	}
	if stock.Sessions() != 1 {
		t.Errorf("the router holds %d sessions, want 1", stock.Sessions())
	}
	n.Close()

	refused := errors.New("refused")
	_, err = OpenRouter(t.Context(), "127.0.0.1:1", func(context.Context, routerproto.ClientConfig) (*routerproto.Client, error) { return nil, refused }, log)
	if !errors.Is(err, refused) || !strings.HasPrefix(err.Error(), "router 127.0.0.1:1: ") {
		t.Errorf("OpenRouter with a failing dial: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the router is dialed, but no session can open
	if _, err := OpenRouter(ctx, stock.Addr, dial, log); err == nil || !strings.HasPrefix(err.Error(), "router "+stock.Addr+": ") {
		t.Fatalf("OpenRouter with no session: %v", err)
	}
	select {
	case <-dialed.Done():
	case <-time.After(5 * time.Second):
		t.Error("the connection of a failed OpenRouter is still open")
	}
}

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/router/simnet"
)

// brokenListener fails every Accept with a permanent error, as a status
// port whose socket died would.
type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) { return nil, errors.New("accept: socket gone") }

// TestRouterServeEndsWhenStatusServerFails: router serve's HTTP status
// server failing ends the daemon with an error (non-zero exit) instead of
// serving on without it.
func TestRouterServeEndsWhenStatusServerFails(t *testing.T) {
	cfg := simnet.DefaultConfig()
	cfg.Peers = 60
	cfg.Floodfills = min(cfg.Floodfills, max(cfg.StoreRedundancy, 3))
	n, err := simnet.NewWithLogger(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = simnet.Serve(ctx, sln, n, slog.New(slog.DiscardHandler)) }()

	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hln.Close()
	o := routerServeConfig{
		Listen: "127.0.0.1:0", Name: "r1", Network: "simnet://" + sln.Addr().String(),
		HTTP: hln.Addr().String(), httpListener: brokenListener{hln},
		GracePeriod: time.Minute, LogLevel: "error", MaxSessions: 16, MaxSessionsPerConn: 16,
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	start := time.Now()
	err = runRouterServe(rctx, o, io.Discard)
	if err == nil || rctx.Err() != nil {
		t.Fatalf("router serve returned %v after %v; want the status server's error at once", err, time.Since(start))
	}
	if !strings.Contains(err.Error(), "status server") {
		t.Fatalf("error %q does not name the status server", err)
	}
}

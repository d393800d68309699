package routerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/daemon"
	"github.com/imh-project/imh/router/simnet"
)

// brokenListener fails every Accept with a permanent error, as a status
// port whose socket died would.
type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) { return nil, errors.New("accept: socket gone") }

// TestRunEndsWhenStatusServerFails: the HTTP status server failing ends
// the daemon with an error (non-zero exit) instead of serving on without
// it.
func TestRunEndsWhenStatusServerFails(t *testing.T) {
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
	c := Config{
		Listen: "127.0.0.1:0", Name: "r1", Network: "simnet://" + sln.Addr().String(),
		HTTP: hln.Addr().String(), httpListener: brokenListener{hln},
		GracePeriod: time.Minute, MaxSessions: 16, MaxSessionsPerConn: 16,
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	start := time.Now()
	err = Run(rctx, c)
	if err == nil || rctx.Err() != nil {
		t.Fatalf("Run returned %v after %v; want the status server's error at once", err, time.Since(start))
	}
	if !errors.Is(err, daemon.ErrStatusServer) {
		t.Fatalf("error %q does not name the status server", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Listen: "127.0.0.1:0", Name: "r1", Network: "simnet://127.0.0.1:1", GracePeriod: time.Minute, MaxSessions: 16, MaxSessionsPerConn: 16}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" when valid
	}{
		{"valid", func(*Config) {}, ""},
		{"upstream", func(c *Config) { c.Network, c.Upstream = "", "i2cp://127.0.0.1:7654" }, ""},
		{"no listen", func(c *Config) { c.Listen = "" }, "router serve: --listen is required"},
		{"no name", func(c *Config) { c.Name = "" }, "router serve: --name is required"},
		{"no backend", func(c *Config) { c.Network = "" }, "router serve: one of --network simnet://H:P or --upstream i2cp://H:P is required"},
		{"both backends", func(c *Config) { c.Upstream = "i2cp://127.0.0.1:7654" }, "router serve: --network and --upstream are exclusive"},
		{"grace", func(c *Config) { c.GracePeriod = 0 }, "router serve: --grace-period 0s must be positive"},
		{"caps", func(c *Config) { c.MaxConns = -1 }, "router serve: --max-conns and --max-conns-per-source must be 0 (no cap) or positive"},
		{"sessions per conn", func(c *Config) { c.MaxSessionsPerConn = 0 }, "router serve: --max-sessions-per-conn 0 (want at least 1)"},
		{"sessions", func(c *Config) { c.MaxSessions = 65536 }, "router serve: --max-sessions 65536 (want 1..65535)"},
		{"network", func(c *Config) { c.Network = "simnet://nowhere" }, `router serve: --network "simnet://nowhere": want simnet://H:P`},
		{"upstream scheme", func(c *Config) { c.Network, c.Upstream = "", "127.0.0.1:7654" }, `router serve: --upstream "127.0.0.1:7654": want i2cp://H:P`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			err := c.Validate()
			if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

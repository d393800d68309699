package simnetd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/eventually"
)

func TestValidate(t *testing.T) {
	ok := Config{Listen: "127.0.0.1:0", Seed: 1, Peers: 200, TimeScale: 1}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // a prefix; "" when valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no listen", func(c *Config) { c.Listen = "" }, "simnet serve: --listen is required"},
		{"time scale", func(c *Config) { c.TimeScale = 0 }, "simnet serve: --time-scale 0 must be positive"},
		{"no peers", func(c *Config) { c.Peers = 0 }, "simnet serve: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			err := c.Validate()
			if (tt.want == "") != (err == nil) || !strings.HasPrefix(fmt.Sprint(err), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRunServesStatus: the daemon serves GET /status until its context
// ends, then Run returns nil.
func TestRunServesStatus(t *testing.T) {
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := hln.Addr().String()
	hln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Listen: "127.0.0.1:0", HTTP: httpAddr, Seed: 1, Peers: 200, TimeScale: 1})
	}()
	var status map[string]any
	eventually.True(t, 10*time.Second, "GET /status answers", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&status) == nil && len(status) > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil once its context ends", err)
	}
}

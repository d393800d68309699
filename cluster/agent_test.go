package cluster_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/logging"
)

// TestRunAgent runs a one-agent cluster through RunAgent: an extension's
// leader work starts on the leader, the agent stops cleanly when its
// context ends (the work's context ending too), and an extension that
// fails to wire stops the agent with its error.
func TestRunAgent(t *testing.T) {
	secret, _ := cluster.NewSecret()
	config := func() cluster.Config {
		cfg := cluster.DefaultConfig()
		cfg.NodeName = "n1"
		cfg.DataDir = t.TempDir()
		cfg.RaftBind, cfg.GossipBind, cfg.HTTPBind = freeAddr(t), freeAddr(t), freeAddr(t)
		cfg.BootstrapExpect = 1
		cfg.Secret = secret
		cfg.Logger = logging.Discard()
		return cfg
	}

	t.Run("leader work", func(t *testing.T) {
		started, stopped := make(chan struct{}), make(chan struct{})
		work := func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			close(stopped)
			return nil
		}
		ext := func(*cluster.Cluster, prometheus.Registerer, *slog.Logger) (func(context.Context) error, error) {
			return work, nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- cluster.RunAgent(ctx, config(), ext) }()
		select {
		case <-started:
		case err := <-done:
			t.Fatalf("RunAgent returned %v before the leader work started", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the leader work never started")
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("RunAgent = %v, want nil once its context ends", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("RunAgent did not return")
		}
		select {
		case <-stopped:
		default:
			t.Fatal("RunAgent returned before the leader work stopped")
		}
	})

	t.Run("extension fails", func(t *testing.T) {
		errWire := errors.New("wire failed")
		ext := func(*cluster.Cluster, prometheus.Registerer, *slog.Logger) (func(context.Context) error, error) {
			return nil, errWire
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cluster.RunAgent(ctx, config(), ext); !errors.Is(err, errWire) || ctx.Err() != nil {
			t.Fatalf("RunAgent = %v, want the extension's error at once", err)
		}
	})
}

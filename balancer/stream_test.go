package balancer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/router/simnet"
	"github.com/imh-project/imh/streaming"
)

// streamClient is a remote I2P client on the simulated network that speaks
// streaming: a Mux over its own endpoint.
func streamClient(t *testing.T, n *simnet.Network, seed byte) *streaming.Mux {
	t.Helper()
	keys, err := i2p.NewEd25519PrivateKeys(bytes.Repeat([]byte{seed}, 32), [32]byte{seed}, bytes.Repeat([]byte{seed}, 256))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := n.AttachEndpoint(keys, simnet.BehaviourI2pd)
	if err != nil {
		t.Fatal(err)
	}
	mux, err := streaming.NewClientMux(keys, ep.Send, ep.Lookup, testLogger(t).With("client", seed))
	if err != nil {
		t.Fatal(err)
	}
	ep.SetHandler(func(p []byte) { _ = mux.HandlePayload(p) })
	t.Cleanup(func() { mux.Close(); ep.Close() })
	return mux
}

// blobServer is a TCP backend that writes blob to every connection after
// reading one line (a request), then closes.
func blobServer(t *testing.T, blob []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				line := make([]byte, 0, 64)
				one := make([]byte, 1)
				for len(line) < 64 {
					if _, err := c.Read(one); err != nil || one[0] == '\n' {
						break
					}
					line = append(line, one[0])
				}
				_, _ = c.Write(blob)
			}()
		}
	}()
	return ln.Addr().String()
}

// A TCP service in single-client mode: remote clients on the simulated
// network open I2P streams to the destination, the leader's balancer
// bridges each to the backend, and every download arrives exact; a backend
// that refuses ends the client's stream at once instead of hanging it.
func TestStreamServiceSimnet(t *testing.T) {
	n := fastSimnet(t, 300, 10)
	blob := make([]byte, 1<<20)
	rand.Read(blob)
	backend := blobServer(t, blob)

	cl := newFakeCluster(3)
	for _, name := range []string{"r1", "r2"} {
		cl.mustApply(t, &fsm.RouterPut{Name: name, Addr: startSimRouter(t, n, name).addr})
	}
	st := fsm.Settings{Inbound: 2, Outbound: 2, Hops: 1, Policy: fsm.PolicyFailover, Service: fsm.ServiceTCP, ServiceAddr: backend}
	keys, _ := cl.addDest(t, "web", 9, st)
	dead := st
	dead.ServiceAddr = deadAddr(t)
	cl.addDest(t, "dead", 10, dead)

	b := runSimnetBalancer(t, cl, 100*time.Millisecond)
	eventually.True(t, 30*time.Second, "a LeaseSet stored", func() bool { return storedLeaseSet(t, n, keys.Destination().Hash()) != nil })

	want := sha256.Sum256(blob)
	var wg sync.WaitGroup
	for i := range streamClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mux := streamClient(t, n, byte(100+i))
			dctx, dcancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer dcancel()
			c, err := mux.Dial(dctx, keys.Destination().B32())
			if err != nil {
				t.Errorf("client %d: dial: %v", i, err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := io.WriteString(c, "GET\n"); err != nil {
				t.Errorf("client %d: write: %v", i, err)
				return
			}
			got, err := io.ReadAll(c)
			if err != nil || sha256.Sum256(got) != want {
				t.Errorf("client %d: read %d bytes (want %d), err %v; client %+v", i, len(got), len(blob), err, mux.Stats())
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		live, _ := b.Destination("web")
		t.Fatalf("server %+v; routers %+v", live.Streams, n.Stats())
	}
	// A server stream stays open until the client's CLOSE is acked both
	// ways; on a loaded machine that takes seconds.
	eventually.True(t, 30*time.Second, "status: 4 streams accepted, 4 MiB out, none open", func() bool {
		live, _ := b.Destination("web")
		return live.Streams.Accepted == streamClients && live.Streams.BytesOut == streamClients<<20 && live.Streams.Open == 0
	})

	// The refusing backend: the stream is reset, quickly.
	deadKeys := cl.state.Destinations()
	var deadDest *fsm.Destination
	for _, d := range deadKeys {
		if d.Name == "dead" {
			deadDest = d
		}
	}
	eventually.True(t, 30*time.Second, "the dead service's LeaseSet", func() bool { return storedLeaseSet(t, n, deadDest.Hash()) != nil })
	mux := streamClient(t, n, 200)
	start := time.Now()
	c, err := mux.Dial(t.Context(), deadDest.Hash().B32())
	if err == nil {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if !(errors.Is(err, streaming.ErrReset) || errors.Is(err, streaming.ErrRefused)) || time.Since(start) > 20*time.Second {
		t.Fatalf("refused backend: err %v after %s, want a prompt end", err, time.Since(start))
	}
	eventually.True(t, 5*time.Second, "status: the refusal counted", func() bool {
		live, _ := b.Destination("dead")
		return live.Streams.Refused == 1
	})
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// streamClients is how many clients download at once.
const streamClients = 4

// Streams under each lease policy on the simulated network, whose senders
// behave as i2pd's (they re-pick a lease every 100 messages) and whose
// routers bind a sender's end-to-end session to the router that answered
// first: under failover every download completes; under spread the
// figure is measured and reported (docs/policies.md), not asserted.
func TestStreamPoliciesSimnet(t *testing.T) {
	const clients = 6
	blob := make([]byte, 1<<20)
	rand.Read(blob)
	want := sha256.Sum256(blob)
	for _, policy := range []fsm.Policy{fsm.PolicyFailover, fsm.PolicySpread} {
		t.Run(policy.String(), func(t *testing.T) {
			n := fastSimnet(t, 300, 10)
			backend := blobServer(t, blob)
			cl := newFakeCluster(3)
			for _, name := range []string{"r1", "r2"} {
				cl.mustApply(t, &fsm.RouterPut{Name: name, Addr: startSimRouter(t, n, name).addr})
			}
			st := fsm.Settings{Inbound: 2, Outbound: 2, Hops: 1, Policy: policy, Service: fsm.ServiceTCP, ServiceAddr: backend}
			keys, _ := cl.addDest(t, "web", 9, st)
			runSimnetBalancer(t, cl, 100*time.Millisecond)
			eventually.True(t, 30*time.Second, "a LeaseSet stored", func() bool {
				ls := storedLeaseSet(t, n, keys.Destination().Hash())
				return ls != nil && (policy == fsm.PolicyFailover || len(ls.Leases) == 4)
			})
			// Failover must complete whatever the load; under spread the
			// stalled downloads need not be waited for long.
			allowed := 60 * time.Second
			if policy == fsm.PolicySpread {
				allowed = 30 * time.Second
			}
			var ok atomic.Int32
			var wg sync.WaitGroup
			start := time.Now()
			for i := range clients {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(t.Context(), allowed)
					defer cancel()
					if err := download(ctx, t, streamClient(t, n, byte(100+i)), keys.Destination().B32(), want); err == nil {
						ok.Add(1)
					}
				})
			}
			wg.Wait()
			t.Logf("policy %s: %d of %d 1 MiB downloads completed (%s each at most), in %s", policy, ok.Load(), clients, allowed, time.Since(start).Round(time.Millisecond))
			if policy == fsm.PolicyFailover && ok.Load() != clients {
				t.Fatalf("failover: %d of %d downloads completed", ok.Load(), clients)
			}
		})
	}
}

package streaming

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBackendDialTimeout bounds the TCP connect to a service's backend;
// a backend that does not answer in time refuses the stream.
const DefaultBackendDialTimeout = 10 * time.Second

// BridgeStats are a bridge's live figures (read by status views while it
// runs).
type BridgeStats struct {
	Open, Refused, BytesIn, BytesOut Counter
	// BackendDown is whether the last backend dial failed.
	BackendDown atomic.Bool
}

// Bridge connects each accepted stream to a TCP backend, the way an I2P
// server tunnel does. The single-client balancer and the multi-client
// frontends serve a destination's streams with it, so both behave alike.
type Bridge struct {
	Backend     string        // HOST:PORT
	DialTimeout time.Duration // 0: DefaultBackendDialTimeout
	Log         *slog.Logger  // required
	Stats       *BridgeStats  // required
	// Refuse, when set and true, resets a new stream at once (a draining
	// frontend accepts nothing new).
	Refuse func() bool
	// Dial connects to the backend; nil uses net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Serve accepts streams until ln closes or ctx ends, bridges each one, and
// returns once every bridge has ended.
func (b *Bridge) Serve(ctx context.Context, ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				b.Log.Warn("stream service stopped accepting", "err", err)
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.bridge(ctx, c)
		}()
	}
}

// bridge connects one stream to the backend. A backend that refuses or
// does not answer resets the stream at once, so the client sees an error,
// not a hang or an empty answer.
func (b *Bridge) bridge(ctx context.Context, c net.Conn) {
	if b.Refuse != nil && b.Refuse() {
		b.Stats.Refused.Add(1)
		resetConn(c)
		return
	}
	timeout := b.DialTimeout
	if timeout <= 0 {
		timeout = DefaultBackendDialTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := b.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	be, err := dial(dctx, "tcp", b.Backend)
	b.Stats.BackendDown.Store(err != nil)
	if err != nil {
		b.Stats.Refused.Add(1)
		b.Log.Warn("stream refused: backend unreachable", "backend", b.Backend, "from", c.RemoteAddr(), "err", err)
		resetConn(c)
		return
	}
	b.Stats.Open.Add(1)
	defer b.Stats.Open.Add(^uint64(0))
	in, out, err := Splice(c, be, &b.Stats.BytesIn, &b.Stats.BytesOut)
	b.Log.Debug("stream ended", "from", c.RemoteAddr(), "in", in, "out", out, "err", err)
}

// resetConn ends a stream with a RESET (the peer sees a refusal), or
// closes any other connection.
func resetConn(c net.Conn) {
	if sc, ok := c.(*Conn); ok {
		sc.Reset()
		return
	}
	c.Close()
}

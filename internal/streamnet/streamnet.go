// Package streamnet is the client side of I2P streaming for a command
// (`imh nc`, `imh tunnel`, tests, the demo): a transient destination made
// for this run, on an I2P router over standard I2CP or on the simulated
// network, with a streaming.Mux over it; and the two ways a command uses
// streams: one copied to stdin/stdout (Copy), or one per accepted TCP
// connection (ServeTunnel).
//
// The destination is transient on purpose: a client leaves no key file
// behind and is not linkable across runs.
package streamnet

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/i2cpclient"
	"github.com/imh-project/imh/router/simnet"
	"github.com/imh-project/imh/routerproto"
	"github.com/imh-project/imh/streaming"
)

// SetupTimeout bounds getting a client side ready on a router: a stock
// router's first tunnels take seconds on a private network, minutes on
// the real one.
const SetupTimeout = 3 * time.Minute

// Net is a client side of I2P streaming: a transient destination with a
// Mux over it. Close it when done.
type Net struct {
	mux   *streaming.Mux
	close func()
}

// ParseTarget splits B32[:PORT] (the .b32.i2p suffix optional; port 0
// when none is given).
func ParseTarget(s string) (i2p.Hash, uint16, error) {
	host, port := s, uint64(0)
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		p, err := strconv.ParseUint(s[i+1:], 10, 16)
		if err != nil {
			return i2p.Hash{}, 0, fmt.Errorf("target %q: port: want 0..65535", s)
		}
		host, port = s[:i], p
	}
	h, err := i2p.ParseB32(host)
	if err != nil {
		return i2p.Hash{}, 0, fmt.Errorf("target %q: %v", s, err)
	}
	return h, uint16(port), nil
}

// OpenSimnet attaches a transient endpoint to the simulated network at
// addr (H:P).
func OpenSimnet(ctx context.Context, addr string, log *slog.Logger) (*Net, error) {
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		return nil, err
	}
	ep, err := simnet.DialEndpoint(ctx, addr, keys, simnet.BehaviourI2pd, log)
	if err != nil {
		return nil, fmt.Errorf("simulated network %s: %w", addr, err)
	}
	mux, err := streaming.NewClientMux(keys, ep.Send, ep.Lookup, log)
	if err != nil {
		ep.Close()
		return nil, err
	}
	ep.SetHandler(func(p []byte) { _ = mux.HandlePayload(p) })
	return &Net{mux: mux, close: func() { mux.Close(); ep.Close() }}, nil
}

// OpenRouter dials the router at addr with dial, speaking standard I2CP
// whatever the router is (no extensions), and opens the client side on
// it (OpenI2CP); the connection is closed again when that fails. Errors
// name the router and wrap dial's.
func OpenRouter(ctx context.Context, addr string, dial func(context.Context, routerproto.ClientConfig) (*routerproto.Client, error), log *slog.Logger) (*Net, error) {
	cfg := routerproto.DefaultClientConfig()
	cfg.Extensions = false
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("router %s: %w", addr, err)
	}
	n, err := OpenI2CP(ctx, c, log)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("router %s: %w", addr, err)
	}
	return n, nil
}

// OpenI2CP opens a session with a transient destination over c, a
// connection to an I2P router speaking standard I2CP, and waits (at most
// SetupTimeout) until the router asked for its first LeaseSet: until then
// nobody can answer a stream. On success the Net owns c and closes it;
// on failure the caller still does.
func OpenI2CP(ctx context.Context, c *routerproto.Client, log *slog.Logger) (*Net, error) {
	la, err := i2cpclient.OpenTransient(ctx, c, i2cpclient.TransientOptions("imh-stream"))
	if err != nil {
		return nil, err
	}
	keys, sid := la.Keys(), la.SessionID()
	send := func(ctx context.Context, to *i2p.Destination, payload []byte) error {
		return c.SendMessageExpires(&routerproto.SendMessageExpires{
			SendMessage: routerproto.SendMessage{SessionID: sid, Destination: to, Payload: payload},
			Expiration:  uint64(c.RouterNow().Add(time.Minute).UnixMilli()),
		})
	}
	lookup := func(ctx context.Context, h i2p.Hash) (*i2p.Destination, error) {
		return i2cpclient.Lookup(ctx, c, sid, h)
	}
	mux, err := streaming.NewClientMux(keys, send, lookup, log)
	if err != nil {
		return nil, err
	}
	leased := make(chan error, 1)
	go serveI2CPEvents(c, la, mux, leased)
	setup, cancel := context.WithTimeout(ctx, SetupTimeout)
	defer cancel()
	select {
	case err := <-leased:
		if err != nil {
			mux.Close()
			return nil, err
		}
	case <-setup.Done():
		mux.Close()
		return nil, fmt.Errorf("no tunnels: %w", setup.Err())
	}
	return &Net{mux: mux, close: func() {
		mux.Close()
		_ = c.DestroySession(sid)
		c.Close()
	}}, nil
}

// serveI2CPEvents answers lease requests and feeds payloads to the Mux
// until the connection ends; the first lease answer (or a failure before
// it) is reported on leased.
func serveI2CPEvents(c *routerproto.Client, la *i2cpclient.LeaseAnswerer, mux *streaming.Mux, leased chan<- error) {
	first := true
	report := func(err error) {
		if first {
			first = false
			leased <- err
		}
	}
	defer report(fmt.Errorf("connection closed: %w", c.Err()))
	for e := range c.Events() {
		switch m := e.Message.(type) {
		case *routerproto.RequestVariableLeaseSet:
			if m.SessionID != la.SessionID() {
				continue
			}
			if err := la.Answer(m); err != nil {
				report(err)
				c.Close()
				return
			}
			report(nil)
		case *routerproto.MessagePayload:
			_ = mux.HandlePayload(m.Payload)
		case *routerproto.Disconnect:
			report(fmt.Errorf("router disconnected: %s", m.Reason))
		}
	}
}

// Dial opens a stream to port of the destination h, looking it up first.
func (n *Net) Dial(ctx context.Context, h i2p.Hash, port uint16) (net.Conn, error) {
	c, err := n.mux.Dial(ctx, h.B32()+":"+strconv.Itoa(int(port)))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", h.B32(), err)
	}
	return c, nil
}

// Close ends the streams, the destination and its connection.
func (n *Net) Close() { n.close() }

// Copy copies in to c (then half-closes it) and c to out, like nc; it
// returns when c has nothing more to say, with the error of the stream if
// it broke. It closes c.
func Copy(c net.Conn, in io.Reader, out io.Writer) error {
	defer c.Close()
	go func() {
		if _, err := io.Copy(c, in); err == nil {
			if hc, ok := c.(interface{ CloseWrite() error }); ok {
				_ = hc.CloseWrite()
			}
		}
	}()
	if _, err := io.Copy(out, c); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	return nil
}

// ServeTunnel accepts on ln until ctx ends and splices each connection to
// a new stream from dial, like an i2pd client tunnel. A connection whose
// stream cannot be opened is closed at once and its error given to
// onDialErr. It returns nil when ctx ends (after the open splices end),
// or the error that stopped Accept.
func ServeTunnel(ctx context.Context, ln net.Listener, dial func(context.Context) (net.Conn, error), onDialErr func(error)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := dial(ctx)
			if err != nil {
				onDialErr(err)
				c.Close()
				return
			}
			_, _, _ = streaming.Splice(c, s, nil, nil)
		}()
	}
}

package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/i2cpclient"
	"github.com/imh-project/imh/router/simnet"
	"github.com/imh-project/imh/routerproto"
	"github.com/imh-project/imh/streaming"
)

// streamSetupTimeout bounds getting a client side ready: a stock router's
// first tunnels (seconds on a private network, minutes on the real one).
const streamSetupTimeout = 3 * time.Minute

// streamNetFlags choose where a client's streams leave from.
type streamNetFlags struct {
	via     string // i2cp://H:P (or i2cps:// for a TLS imh router): a session of its own on that router
	network string // simnet://H:P: an endpoint on the simulated network
}

// streamNet is a client side of I2P streaming: a transient destination on
// a router or on the simulated network, with a Mux over it.
type streamNet struct {
	mux   *streaming.Mux
	close func()
}

// parseStreamTarget splits B32[:PORT] (the .b32.i2p suffix optional).
func parseStreamTarget(s string) (i2p.Hash, uint16, error) {
	host, port := s, uint64(0)
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		p, err := strconv.ParseUint(s[i+1:], 10, 16)
		if err != nil {
			return i2p.Hash{}, 0, usageErrorf("target %q: port: want 0..65535", s)
		}
		host, port = s[:i], p
	}
	h, err := i2p.ParseB32(host)
	if err != nil {
		return i2p.Hash{}, 0, usageErrorf("target %q: %v", s, err)
	}
	return h, uint16(port), nil
}

// open starts the client side the flags name.
func (f streamNetFlags) open(ctx context.Context, log *slog.Logger) (*streamNet, error) {
	switch {
	case (f.via == "") == (f.network == ""):
		return nil, usageErrorf("give exactly one of --via i2cp://H:P and --network simnet://H:P")
	case f.network != "":
		addr, err := simnet.ParseAddr(f.network)
		if err != nil {
			return nil, usageErrorf("--network: %v", err)
		}
		return openSimnetStreams(ctx, addr, log)
	}
	addr, err := parseI2CPAddr(f.via)
	if err != nil {
		return nil, err
	}
	return openI2CPStreams(ctx, addr, log)
}

// openSimnetStreams attaches a transient endpoint to the simulated network.
func openSimnetStreams(ctx context.Context, addr string, log *slog.Logger) (*streamNet, error) {
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
	return &streamNet{mux: mux, close: func() { mux.Close(); ep.Close() }}, nil
}

// openI2CPStreams opens a session with a transient destination on an I2P
// router over standard I2CP and waits for its first tunnels.
func openI2CPStreams(ctx context.Context, addr string, log *slog.Logger) (*streamNet, error) {
	ccfg := routerproto.DefaultClientConfig()
	ccfg.Extensions = false // standard I2CP, whatever the router is
	c, err := dialRouterCLI(ctx, addr, ccfg)
	if err != nil {
		return nil, fmt.Errorf("router %s: %w", addr, err)
	}
	s, err := newI2CPStreamSession(ctx, c, log)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("router %s: %w", addr, err)
	}
	return s, nil
}

func newI2CPStreamSession(ctx context.Context, c *routerproto.Client, log *slog.Logger) (*streamNet, error) {
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
	setup, cancel := context.WithTimeout(ctx, streamSetupTimeout)
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
	return &streamNet{mux: mux, close: func() {
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

// dialTarget opens a stream to the target, looking it up first.
func (s *streamNet) dialTarget(ctx context.Context, h i2p.Hash, port uint16) (net.Conn, error) {
	c, err := s.mux.Dial(ctx, h.B32()+":"+strconv.Itoa(int(port)))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", h.B32(), err)
	}
	return c, nil
}

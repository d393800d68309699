package balancer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/imh-project/imh/routerproto"
)

// ErrRouterRefused reports a request the router answered with a failure
// result (e.g. a GetFastTier or GetTunnelPool it could not serve).
var ErrRouterRefused = errors.New("balancer: router refused the request")

// RouterDialer returns a Dialer over routerproto.Dial with cfg
// (extensions are always requested). tlsFor, when not nil, gives the TLS
// config for the router added as name: it must make the handshake fail
// unless the router's certificate names that router, so nothing is sent
// to an impostor.
func RouterDialer(cfg routerproto.ClientConfig, tlsFor func(name string) *tls.Config) Dialer {
	cfg.Extensions = true
	return func(ctx context.Context, name, addr string) (RouterConn, error) {
		cfg := cfg
		if tlsFor != nil {
			cfg.TLS = tlsFor(name)
		}
		c, err := routerproto.Dial(ctx, addr, cfg)
		if err != nil {
			return nil, err
		}
		return NewClientConn(c), nil
	}
}

// TCPFrontendDialer returns a FrontendDialer over TCP. tlsFor, when not
// nil, gives the TLS config for the frontend added as name: like
// RouterDialer's, it must make the handshake fail unless the frontend's
// certificate names that frontend, since it is sent transient keys of the
// destinations. Without it the link is plain TCP.
func TCPFrontendDialer(tlsFor func(name string) *tls.Config) FrontendDialer {
	return func(ctx context.Context, name, addr string) (net.Conn, error) {
		var d net.Dialer
		if tlsFor == nil {
			return d.DialContext(ctx, "tcp", addr)
		}
		td := tls.Dialer{NetDialer: &d, Config: tlsFor(name)}
		return td.DialContext(ctx, "tcp", addr)
	}
}

// clientConn adapts a routerproto.Client to RouterConn: events become a
// plain message stream (PayloadFrom ahead of its MessagePayload).
type clientConn struct {
	c      *routerproto.Client
	events chan routerproto.Message
}

// NewClientConn adapts an open routerproto.Client.
func NewClientConn(c *routerproto.Client) RouterConn {
	cc := &clientConn{c: c, events: make(chan routerproto.Message, 64)}
	go cc.pump()
	return cc
}

// pump converts the client's events; its reader (the loop's connection
// goroutine) drains the channel until it is closed.
func (cc *clientConn) pump() {
	defer close(cc.events)
	for e := range cc.c.Events() {
		if e.From != nil {
			cc.events <- e.From
		}
		cc.events <- e.Message
	}
}

func (cc *clientConn) Capabilities() *routerproto.Capabilities {
	if !cc.c.Extended() {
		return nil
	}
	return &routerproto.Capabilities{Version: routerproto.ExtVersion, Names: cc.c.Capabilities(), RouterHash: cc.c.RouterHash()}
}

func (cc *clientConn) CreateSession(ctx context.Context, sc *routerproto.SessionConfig) (uint16, error) {
	return cc.c.CreateSession(ctx, sc)
}

func (cc *clientConn) FastTier(ctx context.Context) ([]routerproto.Peer, error) {
	pl, err := cc.c.GetFastTier(ctx, 0)
	if err != nil {
		return nil, err
	}
	if pl.Result != routerproto.ResultOK {
		return nil, fmt.Errorf("%w: fast tier: %s", ErrRouterRefused, pl.Result)
	}
	return pl.Peers, nil
}

func (cc *clientConn) CreateTunnel(ctx context.Context, m *routerproto.CreateTunnel) (*routerproto.TunnelStatus, error) {
	return cc.c.CreateTunnel(ctx, m)
}

func (cc *clientConn) TunnelPool(ctx context.Context, session uint16, dir routerproto.Direction) ([]routerproto.TunnelInfo, error) {
	tl, err := cc.c.GetTunnelPool(ctx, session, dir)
	if err != nil {
		return nil, err
	}
	if tl.Result != routerproto.ResultOK {
		return nil, fmt.Errorf("%w: tunnel pool: %s", ErrRouterRefused, tl.Result)
	}
	return tl.Tunnels, nil
}

func (cc *clientConn) CreateLeaseSet2(_ context.Context, m *routerproto.CreateLeaseSet2) error {
	return cc.c.CreateLeaseSet2(m)
}

func (cc *clientConn) DestroySession(_ context.Context, session uint16) error {
	return cc.c.DestroySession(session)
}

func (cc *clientConn) Send(_ context.Context, m *routerproto.SendMessageExpires) error {
	return cc.c.SendMessageExpires(m)
}

// binder is a RouterConn over TLS: its CreateSessions carry the
// connection's binding so they cannot be replayed on another connection.
type binder interface{ Binding() []byte }

// Binding is the TLS session binding (nil without TLS).
func (cc *clientConn) Binding() []byte { return cc.c.Binding() }

// RouterNow is the client's RouterNow; its handshake waited for SetDate.
func (cc *clientConn) RouterNow() (time.Time, bool) { return cc.c.RouterNow(), true }

func (cc *clientConn) Events() <-chan routerproto.Message { return cc.events }
func (cc *clientConn) Err() error                         { return cc.c.Err() }
func (cc *clientConn) Close() error                       { return cc.c.Close() }

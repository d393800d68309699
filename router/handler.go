package router

import (
	"context"
	"errors"

	"github.com/imh-project/imh/routerproto"
)

var _ routerproto.Handler = (*Router)(nil)

// serverConn adapts a *routerproto.ServerConn to the writer of client.
type serverConn struct{ sc *routerproto.ServerConn }

func (w serverConn) Send(m routerproto.Message) error {
	err := w.sc.Send(m)
	if err != nil && (errors.Is(err, routerproto.ErrNotSupported) || errors.Is(err, routerproto.ErrFrameTooLarge) || errors.Is(err, routerproto.ErrMalformed)) {
		// One message that cannot go to this client (not negotiated, too
		// large): the connection itself is fine.
		return nil
	}
	return err
}
func (w serverConn) Disconnect(reason string) error { return w.sc.Disconnect(reason) }
func (w serverConn) Close() error                   { return w.sc.Close() }

// Capabilities lists the extensions this router announces for its backend:
// fast tier and explicit hops only where the backend really has them; in
// front of a router that builds its own tunnels (Features.UpstreamTunnels)
// no tunnel builds and no SendVia (its outbound tunnels are unknown), but
// need-leaseset.
func (r *Router) Capabilities() []string {
	f := r.be.Features()
	caps := []string{routerproto.CapManagedSessions}
	if f.UpstreamTunnels {
		if f.FastTier {
			caps = append(caps, routerproto.CapFastTier)
		}
		return append(caps, routerproto.CapTunnelPool, routerproto.CapPayloadFrom, routerproto.CapLeaseSetStatus, routerproto.CapNeedLeaseSet)
	}
	if f.FastTier {
		caps = append(caps, routerproto.CapFastTier)
	}
	caps = append(caps, routerproto.CapCreateTunnel)
	if f.ExplicitHops {
		caps = append(caps, routerproto.CapExplicitHops)
	}
	return append(caps, routerproto.CapTunnelPool, routerproto.CapSendVia, routerproto.CapPayloadFrom, routerproto.CapLeaseSetStatus)
}

// clientOf returns the router's state for a server connection.
func (r *Router) clientOf(sc *routerproto.ServerConn) *client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byConn[sc]
}

// ConnOpened implements routerproto.Handler.
func (r *Router) ConnOpened(_ context.Context, sc *routerproto.ServerConn) {
	c := r.attach(serverConn{sc}, sc.Extended())
	r.mu.Lock()
	r.byConn[sc] = c
	r.mu.Unlock()
}

// ConnClosed implements routerproto.Handler: unmanaged sessions of the
// connection end, managed ones it controlled start their grace period.
func (r *Router) ConnClosed(sc *routerproto.ServerConn, _ error) {
	r.mu.Lock()
	c := r.byConn[sc]
	delete(r.byConn, sc)
	r.mu.Unlock()
	if c != nil {
		r.detach(c)
	}
}

// with runs f for the connection's client state, if the connection is known.
func (r *Router) with(sc *routerproto.ServerConn, f func(c *client)) error {
	if c := r.clientOf(sc); c != nil {
		f(c)
	}
	return nil
}

// CreateSession implements routerproto.Handler.
func (r *Router) CreateSession(ctx context.Context, sc *routerproto.ServerConn, m *routerproto.CreateSession) error {
	peer := peerOf(sc)
	return r.with(sc, func(c *client) { r.createSession(ctx, c, m.Config, peer) })
}

// ReconfigureSession implements routerproto.Handler.
func (r *Router) ReconfigureSession(_ context.Context, sc *routerproto.ServerConn, m *routerproto.ReconfigureSession) error {
	return r.with(sc, func(c *client) { r.reconfigure(c, m) })
}

// DestroySession implements routerproto.Handler.
func (r *Router) DestroySession(_ context.Context, sc *routerproto.ServerConn, m *routerproto.DestroySession) error {
	return r.with(sc, func(c *client) { r.destroySession(c, m.SessionID) })
}

// CreateLeaseSet2 implements routerproto.Handler.
func (r *Router) CreateLeaseSet2(_ context.Context, sc *routerproto.ServerConn, m *routerproto.CreateLeaseSet2) error {
	return r.with(sc, func(c *client) { r.createLeaseSet2(c, m) })
}

// SendMessage implements routerproto.Handler.
func (r *Router) SendMessage(_ context.Context, sc *routerproto.ServerConn, m *routerproto.SendMessage) error {
	return r.with(sc, func(c *client) { r.sendMessage(c, m, 0) })
}

// SendMessageExpires implements routerproto.Handler.
func (r *Router) SendMessageExpires(_ context.Context, sc *routerproto.ServerConn, m *routerproto.SendMessageExpires) error {
	return r.with(sc, func(c *client) { r.sendMessage(c, &m.SendMessage, 0) })
}

// HostLookup implements routerproto.Handler.
func (r *Router) HostLookup(_ context.Context, sc *routerproto.ServerConn, m *routerproto.HostLookup) error {
	return r.with(sc, func(c *client) { r.hostLookup(c, m) })
}

// GetBandwidthLimits implements routerproto.Handler.
func (r *Router) GetBandwidthLimits(_ context.Context, sc *routerproto.ServerConn, _ *routerproto.GetBandwidthLimits) error {
	return r.with(sc, func(c *client) { c.send(&routerproto.BandwidthLimits{Limits: bandwidthLimits}) })
}

// GetFastTier implements routerproto.Handler.
func (r *Router) GetFastTier(_ context.Context, sc *routerproto.ServerConn, m *routerproto.GetFastTier) error {
	return r.with(sc, func(c *client) { r.getFastTier(c, m) })
}

// CreateTunnel implements routerproto.Handler.
func (r *Router) CreateTunnel(_ context.Context, sc *routerproto.ServerConn, m *routerproto.CreateTunnel) error {
	return r.with(sc, func(c *client) { r.createTunnel(c, m) })
}

// GetTunnelPool implements routerproto.Handler.
func (r *Router) GetTunnelPool(_ context.Context, sc *routerproto.ServerConn, m *routerproto.GetTunnelPool) error {
	return r.with(sc, func(c *client) { r.getTunnelPool(c, m) })
}

// SendVia implements routerproto.Handler.
func (r *Router) SendVia(_ context.Context, sc *routerproto.ServerConn, m *routerproto.SendVia) error {
	return r.with(sc, func(c *client) { r.sendVia(c, m) })
}

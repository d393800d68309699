package routerproto

import (
	"context"
	"errors"
)

// ErrNotSupported reports an extension the other side does not offer. A
// Client returns it for extension calls on a stock router (or one that did
// not list the capability); a ServerConn returns it when asked to send an
// extension message to a client that did not ask for extensions.
var ErrNotSupported = errors.New("routerproto: not supported by peer")

// Handler is what package router implements: one method per client→router
// message. The Server calls them from the connection's read goroutine, in
// the order the frames arrived, so a method should return quickly; work
// that takes time (building a tunnel, publishing) runs elsewhere and
// reports later through the *ServerConn (which any goroutine may use).
//
// ctx is the connection's context: it ends when the connection closes or
// the server stops. Return nil after answering (or when nothing is
// owed). Return an error only when the connection must end: the Server
// then sends Disconnect with the error text as the reason and closes that
// connection; other connections are unaffected. Protocol-level refusals
// are answers, not errors: a refused CreateSession is SessionStatus
// SessionRefused (plus, for a stale term, c.Disconnect("imh: stale term")),
// an impossible CreateTunnel is TunnelStatus with a Result code, and so on
// (PROTOCOL.md says which).
//
// The Server itself handles the handshake (protocol byte, GetDate,
// Capabilities, SetDate, authentication), later GetDate frames (answered
// with SetDate), a client's Disconnect (the connection is closed), frames
// that do not decode, oversized frames, unknown types and extension
// messages from a client that did not negotiate them (each answered with a
// Disconnect naming the problem, then the connection is closed).
type Handler interface {
	// ConnOpened is called once per connection after a successful
	// handshake, before any other method for it.
	ConnOpened(ctx context.Context, c *ServerConn)
	// ConnClosed is called once when the connection has ended (err says
	// why; nil for a clean close or server shutdown). No other method is
	// called for c afterwards; sends on c fail with ErrClosed. Managed
	// sessions whose controller this was enter their grace period here.
	ConnClosed(c *ServerConn, err error)

	// CreateSession must answer with c.SendSessionStatus: SessionCreated
	// with the session id (for a re-attach by a managed controller: the
	// SAME id as before), or SessionInvalid / SessionRefused. Verify
	// m.Config.Verify() first. Fencing (imh.term) is described in
	// PROTOCOL.md; the previous controller's *ServerConn is closed with
	// Disconnect("imh: superseded by term N").
	CreateSession(ctx context.Context, c *ServerConn, m *CreateSession) error
	// ReconfigureSession answers SessionUpdated or SessionInvalid.
	ReconfigureSession(ctx context.Context, c *ServerConn, m *ReconfigureSession) error
	// DestroySession ends the session; answer SessionDestroyed (as i2pd does).
	DestroySession(ctx context.Context, c *ServerConn, m *DestroySession) error
	// CreateLeaseSet2 stores and publishes the LeaseSet; no direct answer,
	// but extension clients get LeaseSetStatus (stored/rejected, then
	// published/failed) via c.SendLeaseSetStatus.
	CreateLeaseSet2(ctx context.Context, c *ServerConn, m *CreateLeaseSet2) error
	// SendMessage sends a payload; MessageStatus follows when Nonce != 0.
	SendMessage(ctx context.Context, c *ServerConn, m *SendMessage) error
	// SendMessageExpires is SendMessage with flags and an expiration.
	SendMessageExpires(ctx context.Context, c *ServerConn, m *SendMessageExpires) error
	// HostLookup answers with HostReply (same RequestID).
	HostLookup(ctx context.Context, c *ServerConn, m *HostLookup) error
	// GetBandwidthLimits answers with BandwidthLimits.
	GetBandwidthLimits(ctx context.Context, c *ServerConn, m *GetBandwidthLimits) error

	// Extensions (only called for connections that negotiated them and
	// whose server announced the capability).

	// GetFastTier answers with PeerList (same RequestID).
	GetFastTier(ctx context.Context, c *ServerConn, m *GetFastTier) error
	// CreateTunnel answers, when the build ends, with TunnelStatus (same
	// RequestID); later expiry or failure of that tunnel is reported with
	// an unsolicited TunnelStatus (RequestID 0).
	CreateTunnel(ctx context.Context, c *ServerConn, m *CreateTunnel) error
	// GetTunnelPool answers with TunnelList (same RequestID).
	GetTunnelPool(ctx context.Context, c *ServerConn, m *GetTunnelPool) error
	// SendVia sends through the named outbound tunnel; MessageStatus with
	// the nonce follows when Nonce != 0.
	SendVia(ctx context.Context, c *ServerConn, m *SendVia) error
}

// UnimplementedHandler can be embedded in a Handler to get methods that
// refuse politely: session calls answer SessionRefused, requests with a
// request id answer ResultUnsupported, lookups fail, sends report
// MsgRouterFailure, and the rest do nothing. Embedders override what they
// support.
type UnimplementedHandler struct{}

// ConnOpened does nothing.
func (UnimplementedHandler) ConnOpened(context.Context, *ServerConn) {}

// ConnClosed does nothing.
func (UnimplementedHandler) ConnClosed(*ServerConn, error) {}

// CreateSession refuses.
func (UnimplementedHandler) CreateSession(_ context.Context, c *ServerConn, _ *CreateSession) error {
	return c.SendSessionStatus(0, SessionRefused)
}

// ReconfigureSession refuses.
func (UnimplementedHandler) ReconfigureSession(_ context.Context, c *ServerConn, m *ReconfigureSession) error {
	return c.SendSessionStatus(m.SessionID, SessionInvalid)
}

// DestroySession answers destroyed.
func (UnimplementedHandler) DestroySession(_ context.Context, c *ServerConn, m *DestroySession) error {
	return c.SendSessionStatus(m.SessionID, SessionDestroyed)
}

// CreateLeaseSet2 ignores the LeaseSet.
func (UnimplementedHandler) CreateLeaseSet2(context.Context, *ServerConn, *CreateLeaseSet2) error {
	return nil
}

// SendMessage reports a router failure.
func (UnimplementedHandler) SendMessage(_ context.Context, c *ServerConn, m *SendMessage) error {
	return sendFailure(c, m.SessionID, m.Nonce)
}

// SendMessageExpires reports a router failure.
func (UnimplementedHandler) SendMessageExpires(_ context.Context, c *ServerConn, m *SendMessageExpires) error {
	return sendFailure(c, m.SessionID, m.Nonce)
}

func sendFailure(c *ServerConn, sid uint16, nonce uint32) error {
	if nonce == 0 {
		return nil
	}
	return c.Send(&MessageStatus{SessionID: sid, Status: MsgRouterFailure, Nonce: nonce})
}

// HostLookup fails.
func (UnimplementedHandler) HostLookup(_ context.Context, c *ServerConn, m *HostLookup) error {
	return c.Send(&HostReply{SessionID: m.SessionID, RequestID: m.RequestID, Result: HostFailed})
}

// GetBandwidthLimits answers all zeros.
func (UnimplementedHandler) GetBandwidthLimits(_ context.Context, c *ServerConn, _ *GetBandwidthLimits) error {
	return c.Send(&BandwidthLimits{})
}

// GetFastTier answers ResultUnsupported.
func (UnimplementedHandler) GetFastTier(_ context.Context, c *ServerConn, m *GetFastTier) error {
	return c.Send(&PeerList{RequestID: m.RequestID, Result: ResultUnsupported})
}

// CreateTunnel answers ResultUnsupported.
func (UnimplementedHandler) CreateTunnel(_ context.Context, c *ServerConn, m *CreateTunnel) error {
	return c.Send(&TunnelStatus{RequestID: m.RequestID, SessionID: m.SessionID, Result: ResultUnsupported,
		Tunnel: TunnelInfo{Direction: m.Direction}})
}

// GetTunnelPool answers ResultUnsupported.
func (UnimplementedHandler) GetTunnelPool(_ context.Context, c *ServerConn, m *GetTunnelPool) error {
	return c.Send(&TunnelList{RequestID: m.RequestID, SessionID: m.SessionID, Result: ResultUnsupported})
}

// SendVia reports a router failure.
func (UnimplementedHandler) SendVia(_ context.Context, c *ServerConn, m *SendVia) error {
	return sendFailure(c, m.SessionID, m.Nonce)
}

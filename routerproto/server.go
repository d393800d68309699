package routerproto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imh-project/imh/i2p"
)

// DefaultRouterVersion is the I2CP API version a Server announces in SetDate.
const DefaultRouterVersion = "0.9.67"

// ServerConfig configures a Server.
type ServerConfig struct {
	// Handler receives every client message. Required.
	Handler Handler
	// Logger gets connection-level events; nil discards.
	Logger *slog.Logger
	// Version is the router API version sent in SetDate.
	Version string
	// EchoVersion answers SetDate with the client's own version string,
	// as i2pd 2.45.1 does (for fakes of stock routers).
	EchoVersion bool
	// Capabilities are the extension names announced to clients that ask
	// (imh.ext=1). Empty makes the server behave like a stock router: it
	// answers SetDate directly and refuses every extension message.
	Capabilities []string
	// RouterHash is sent in Capabilities (zero if the router has none to show).
	RouterHash i2p.Hash
	// Authenticate, if set, is required to accept the i2cp.username and
	// i2cp.password from GetDate; a connection without valid credentials
	// gets Disconnect "Authorization required"/"Authorization failed".
	Authenticate func(user, password string) bool
	// HandshakeTimeout bounds the protocol byte and GetDate.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to a client; a client that does not
	// read for this long is cut off.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing for this long
	// (0 = never; I2CP clients may be silent for hours).
	IdleTimeout time.Duration
	// Now is the router clock for SetDate (nil = time.Now).
	Now func() time.Time
}

// DefaultServerConfig returns a config with the defaults filled in; set
// Handler (and Capabilities for an imh router) before use.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		Version:          DefaultRouterVersion,
		Capabilities:     append([]string(nil), AllCapabilities...),
		HandshakeTimeout: 10 * time.Second,
		WriteTimeout:     10 * time.Second,
	}
}

// Validate checks the config.
func (c *ServerConfig) Validate() error {
	if c.Handler == nil {
		return errors.New("routerproto: server config: no handler")
	}
	if len(c.Capabilities) > MaxCapabilities {
		return fmt.Errorf("routerproto: server config: %d capabilities (max %d)", len(c.Capabilities), MaxCapabilities)
	}
	if c.HandshakeTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 {
		return errors.New("routerproto: server config: negative timeout")
	}
	return nil
}

// Server accepts routerproto connections and dispatches them to a Handler.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	nextID atomic.Uint64

	mu    sync.Mutex
	conns map[uint64]*ServerConn
}

// NewServer checks cfg and builds a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = DefaultRouterVersion
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	return &Server{cfg: cfg, log: cfg.Logger.With("component", "routerproto"), conns: map[uint64]*ServerConn{}}, nil
}

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection and waits for their goroutines (and ConnClosed calls) to
// finish. It returns nil after ctx ends, or the accept error otherwise.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		_ = ln.Close()
	}()
	var err error
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("accept on %s: %w", ln.Addr(), aerr)
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, nc)
		}()
	}
	cancel()
	wg.Wait()
	return err
}

// Conns returns the open connections (handshake done).
func (s *Server) Conns() []*ServerConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*ServerConn, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Conn returns the open connection with that id, or nil.
func (s *Server) Conn(id uint64) *ServerConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// ServerConn is one client connection as the router sees it. Any goroutine
// may send on it at any time (events, answers); a router keeps the
// *ServerConn it got in CreateSession to push lease requests, payloads and
// statuses, and to fence it (Disconnect) when a newer controller attaches.
type ServerConn struct {
	id       uint64
	conn     *Conn
	srv      *Server
	ctx      context.Context
	cancel   context.CancelCauseFunc
	version  string
	username string
	extended bool
	log      *slog.Logger
}

// ID is unique per Server for the life of the process.
func (c *ServerConn) ID() uint64 { return c.id }

// String identifies the connection in logs.
func (c *ServerConn) String() string {
	return "conn " + strconv.FormatUint(c.id, 10) + " from " + c.conn.RemoteAddr().String()
}

// RemoteAddr is the client's address.
func (c *ServerConn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Binding is the connection's session binding (Conn.Binding): nil without
// TLS.
func (c *ServerConn) Binding() []byte { return c.conn.Binding() }

// TLSState is the connection's TLS state (the client's verified
// certificate among it), or nil without TLS.
func (c *ServerConn) TLSState() *tls.ConnectionState { return c.conn.TLSState() }

// ClientVersion is the I2CP version the client sent in GetDate.
func (c *ServerConn) ClientVersion() string { return c.version }

// Username is the authenticated i2cp.username ("" without authentication).
func (c *ServerConn) Username() string { return c.username }

// Extended reports whether the client negotiated extensions (it sent
// imh.ext=1 and this server announced Capabilities). Only then may
// extension messages be sent to it.
func (c *ServerConn) Extended() bool { return c.extended }

// Context ends when the connection closes or the server stops.
func (c *ServerConn) Context() context.Context { return c.ctx }

// Done is closed when the connection has closed.
func (c *ServerConn) Done() <-chan struct{} { return c.ctx.Done() }

// Send writes msgs as one unit. Extension messages to a client that did
// not negotiate them fail with ErrNotSupported (nothing is sent). A write
// error closes the connection.
func (c *ServerConn) Send(msgs ...Message) error {
	for _, m := range msgs {
		if m.Type().IsExtension() && !c.extended {
			return fmt.Errorf("send %s to %s: %w", m.Type(), c, ErrNotSupported)
		}
	}
	if err := c.conn.WriteMessage(msgs...); err != nil {
		if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrFrameTooLarge) && !errors.Is(err, ErrMalformed) {
			c.closeWith(err)
		}
		return err
	}
	return nil
}

// SendSessionStatus sends SessionStatus.
func (c *ServerConn) SendSessionStatus(sessionID uint16, status SessionStatusCode) error {
	return c.Send(&SessionStatus{SessionID: sessionID, Status: status})
}

// RequestLeaseSet sends RequestVariableLeaseSet with the router's inbound
// leases (at most 16).
func (c *ServerConn) RequestLeaseSet(sessionID uint16, leases []i2p.Lease) error {
	return c.Send(&RequestVariableLeaseSet{SessionID: sessionID, Leases: leases})
}

// SendPayload delivers a received payload. If from is not nil and the
// client negotiated extensions, PayloadFrom (with m's session and message
// id) goes first, in the same write; stock clients get MessagePayload only.
func (c *ServerConn) SendPayload(m *MessagePayload, from *PayloadFrom) error {
	if from == nil || !c.extended {
		return c.Send(m)
	}
	f := *from
	f.SessionID, f.MessageID = m.SessionID, m.MessageID
	return c.Send(&f, m)
}

// Disconnect sends Disconnect with reason and closes the connection, e.g.
// "imh: superseded by term 7" when fencing an old controller.
func (c *ServerConn) Disconnect(reason string) error {
	err := c.conn.CloseWith(reason)
	c.cancel(&DisconnectError{Reason: reason, Local: true})
	return err
}

// Close closes the connection without a message.
func (c *ServerConn) Close() error {
	err := c.conn.Close()
	c.cancel(nil)
	return err
}

func (c *ServerConn) closeWith(err error) {
	c.cancel(err)
	_ = c.conn.Close()
}

// serveConn runs one connection: handshake, then the read loop.
func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	sc := &ServerConn{id: s.nextID.Add(1), conn: NewConn(nc, s.cfg.WriteTimeout), srv: s}
	sc.ctx, sc.cancel = context.WithCancelCause(ctx)
	sc.log = s.log.With("conn", sc.id, "remote", nc.RemoteAddr().String())
	stop := context.AfterFunc(sc.ctx, func() { _ = sc.conn.Close() })
	defer stop()
	defer sc.cancel(nil)
	if err := s.handshake(sc); err != nil {
		sc.log.Debug("handshake failed", "err", err)
		_ = sc.conn.Close()
		return
	}
	s.mu.Lock()
	s.conns[sc.id] = sc
	s.mu.Unlock()
	s.cfg.Handler.ConnOpened(sc.ctx, sc)
	err := s.readLoop(sc)
	_ = sc.conn.Close()
	sc.cancel(err)
	s.mu.Lock()
	delete(s.conns, sc.id)
	s.mu.Unlock()
	if ctx.Err() != nil {
		err = nil
	}
	sc.log.Debug("connection closed", "err", err)
	s.cfg.Handler.ConnClosed(sc, err)
}

func (s *Server) handshake(sc *ServerConn) error {
	_ = sc.conn.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if err := sc.conn.ReadProtocolByte(); err != nil {
		return err
	}
	m, err := sc.conn.ReadMessage()
	if err != nil {
		_ = sc.conn.CloseWith("imh: bad handshake: " + err.Error())
		return err
	}
	gd, ok := m.(*GetDate)
	if !ok {
		_ = sc.conn.CloseWith("imh: expected GetDate, got " + m.Type().String())
		return fmt.Errorf("handshake: got %s before GetDate", m.Type())
	}
	_ = sc.conn.SetReadDeadline(time.Time{})
	sc.version = gd.Version
	if err := s.authenticate(sc, gd.Options); err != nil {
		return err
	}
	var out []Message
	if wantsExt(gd.Options) && len(s.cfg.Capabilities) > 0 {
		sc.extended = true
		out = append(out, &Capabilities{Version: ExtVersion, Names: s.cfg.Capabilities, RouterHash: s.cfg.RouterHash})
	}
	sd := &SetDate{Date: uint64(s.cfg.Now().UnixMilli())}
	if gd.Version != "" {
		sd.Version = s.cfg.Version
		if s.cfg.EchoVersion {
			sd.Version = gd.Version
		}
	}
	return sc.conn.WriteMessage(append(out, sd)...)
}

func wantsExt(opts i2p.Mapping) bool {
	v, err := strconv.Atoi(opts[OptExt])
	return err == nil && v >= 1
}

func (s *Server) authenticate(sc *ServerConn, opts i2p.Mapping) error {
	if s.cfg.Authenticate == nil {
		return nil
	}
	user, ok := opts[OptUsername]
	if !ok {
		_ = sc.conn.CloseWith("Authorization required")
		return errors.New("handshake: no credentials")
	}
	if !s.cfg.Authenticate(user, opts[OptPassword]) {
		_ = sc.conn.CloseWith("Authorization failed")
		return fmt.Errorf("handshake: bad credentials for %q", user)
	}
	sc.username = user
	return nil
}

// readLoop reads frames until the connection ends and dispatches them.
func (s *Server) readLoop(sc *ServerConn) error {
	for {
		if s.cfg.IdleTimeout > 0 {
			_ = sc.conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		}
		m, err := sc.conn.ReadMessage()
		if err != nil {
			return s.readFailed(sc, err)
		}
		if t := m.Type(); t.IsExtension() && !sc.extended {
			return s.refuse(sc, fmt.Errorf("%w: %s without extension handshake", ErrNotSupported, t), "imh: extension message "+t.String()+" not negotiated")
		}
		if err := s.dispatch(sc, m); err != nil {
			if errors.Is(err, errClientDisconnect) || sc.ctx.Err() != nil {
				return nil
			}
			return s.refuse(sc, err, err.Error())
		}
	}
}

var errClientDisconnect = errors.New("client sent disconnect")

// readFailed decides whether a read error deserves a Disconnect.
func (s *Server) readFailed(sc *ServerConn, err error) error {
	switch {
	case sc.ctx.Err() != nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return nil
	case errors.Is(err, ErrFrameTooLarge):
		return s.refuse(sc, err, "imh: frame too large")
	case errors.Is(err, ErrUnknownType):
		return s.refuse(sc, err, "imh: unknown message type")
	case errors.Is(err, ErrMalformed):
		return s.refuse(sc, err, "imh: malformed message: "+err.Error())
	}
	return err
}

func (s *Server) refuse(sc *ServerConn, err error, reason string) error {
	sc.log.Info("closing connection", "reason", reason, "err", err)
	_ = sc.conn.CloseWith(reason)
	return err
}

func (s *Server) dispatch(sc *ServerConn, m Message) error {
	h, ctx := s.cfg.Handler, sc.ctx
	switch m := m.(type) {
	case *CreateSession:
		return h.CreateSession(ctx, sc, m)
	case *ReconfigureSession:
		return h.ReconfigureSession(ctx, sc, m)
	case *DestroySession:
		return h.DestroySession(ctx, sc, m)
	case *CreateLeaseSet2:
		return h.CreateLeaseSet2(ctx, sc, m)
	case *SendMessage:
		return h.SendMessage(ctx, sc, m)
	case *SendMessageExpires:
		return h.SendMessageExpires(ctx, sc, m)
	case *HostLookup:
		return h.HostLookup(ctx, sc, m)
	case *GetBandwidthLimits:
		return h.GetBandwidthLimits(ctx, sc, m)
	case *GetDate:
		sd := &SetDate{Date: uint64(s.cfg.Now().UnixMilli()), Version: s.cfg.Version}
		return sc.Send(sd)
	case *Disconnect:
		sc.log.Debug("client disconnected", "reason", m.Reason)
		return errClientDisconnect
	}
	if need, ok := capabilityFor[m.Type()]; ok && !s.hasCap(need) {
		return fmt.Errorf("imh: extension %s not offered", need)
	}
	switch m := m.(type) {
	case *GetFastTier:
		return h.GetFastTier(ctx, sc, m)
	case *CreateTunnel:
		return h.CreateTunnel(ctx, sc, m)
	case *GetTunnelPool:
		return h.GetTunnelPool(ctx, sc, m)
	case *SendVia:
		return h.SendVia(ctx, sc, m)
	}
	return fmt.Errorf("imh: unexpected %s from client", m.Type())
}

func (s *Server) hasCap(name string) bool {
	for _, n := range s.cfg.Capabilities {
		if n == name {
			return true
		}
	}
	return false
}

package routerproto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imh-project/imh/i2p"
)

// DefaultClientVersion is the I2CP API version a Client sends in GetDate.
const DefaultClientVersion = "0.9.67"

// ErrEventOverflow ends a client whose consumer stopped reading Events: its
// queue reached ClientConfig.MaxQueuedEvents or MaxQueuedBytes.
var ErrEventOverflow = errors.New("routerproto: event queue overflow")

// ClientConfig configures a Client.
type ClientConfig struct {
	// Version is the I2CP API version sent in GetDate.
	Version string
	// Extensions asks an imh router for extensions (imh.ext=1 in GetDate).
	// A stock router ignores the option and answers SetDate directly.
	Extensions bool
	// Username and Password are sent in GetDate as i2cp.username and
	// i2cp.password when Username is set (Java routers with i2cp.auth).
	Username, Password string
	// Logger gets connection events; nil discards.
	Logger *slog.Logger
	// HandshakeTimeout bounds the dial and the GetDate/SetDate exchange
	// when the context has no earlier deadline.
	HandshakeTimeout time.Duration
	// RequestTimeout bounds a call that waits for an answer when its
	// context has no deadline.
	RequestTimeout time.Duration
	// WriteTimeout bounds each write.
	WriteTimeout time.Duration
	// MaxQueuedEvents is how many router-initiated messages may wait for
	// the Events consumer before the client gives up (ErrEventOverflow).
	MaxQueuedEvents int
	// MaxQueuedBytes bounds the same queue by size (WireSize of each
	// message). Whichever bound is hit first ends the client with
	// ErrEventOverflow: the connection is closed, nothing is dropped
	// silently (a consumer that cannot keep up is cut, and reconnects).
	MaxQueuedBytes int
	// TLS, when set, wraps the connection in TLS: Dial completes the TLS
	// handshake (and whatever peer checks TLS.VerifyConnection makes)
	// before the first I2CP byte is sent. nil: plain TCP (a stock router's
	// I2CP port).
	TLS *tls.Config
}

// DefaultClientConfig asks for extensions, with 10 s handshake, 30 s
// request and 10 s write timeouts.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		Version:          DefaultClientVersion,
		Extensions:       true,
		HandshakeTimeout: 10 * time.Second,
		RequestTimeout:   30 * time.Second,
		WriteTimeout:     10 * time.Second,
		MaxQueuedEvents:  1 << 16,
		MaxQueuedBytes:   64 << 20,
	}
}

func (cfg *ClientConfig) fill() {
	d := DefaultClientConfig()
	if cfg.Version == "" {
		cfg.Version = d.Version
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = d.HandshakeTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = d.RequestTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = d.WriteTimeout
	}
	if cfg.MaxQueuedEvents <= 0 {
		cfg.MaxQueuedEvents = d.MaxQueuedEvents
	}
	if cfg.MaxQueuedBytes <= 0 {
		cfg.MaxQueuedBytes = d.MaxQueuedBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}

// Event is a router-initiated message: RequestVariableLeaseSet,
// MessagePayload (with From set when an extension router said which inbound
// tunnel it came through), MessageStatus, SessionStatus not consumed by a
// CreateSession/ReconfigureSession call (e.g. SessionDestroyed),
// TunnelStatus with request id 0 (expiry, failure), LeaseSetStatus,
// NeedLeaseSet, and a final Disconnect if the router sent one.
type Event struct {
	Message Message
	From    *PayloadFrom
}

// Client is one connection to a router (imh or stock). Its methods are
// safe for concurrent use. Router-initiated messages arrive on Events;
// answers to requests go to the call that made them.
type Client struct {
	cfg  ClientConfig
	conn *Conn
	log  *slog.Logger

	routerVersion string
	caps          *Capabilities
	offsetMs      atomic.Int64 // router clock minus local clock

	sessMu sync.Mutex // one CreateSession/ReconfigureSession at a time
	bwMu   sync.Mutex // one GetBandwidthLimits at a time

	mu          sync.Mutex
	nextReq     uint32
	pending     map[uint32]chan Message
	statusWait  chan *SessionStatus
	bwWait      chan *BandwidthLimits
	payloadFrom *PayloadFrom
	err         error

	events     chan Event
	queue      []Event
	queueSizes []int // WireSize of each queued event's message
	queueBytes int   // their sum
	queueCond  *sync.Cond
	closed     chan struct{} // connection is dead
	stopped    chan struct{} // Close was called: stop delivering events
	stopOnce   sync.Once
	wg         sync.WaitGroup
}

// Dial connects to a router at addr (host:port) and performs the handshake.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) {
	cfg.fill()
	dctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial router %s: %w", addr, err)
	}
	if cfg.TLS != nil {
		tc := tls.Client(nc, cfg.TLS)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("router %s: tls: %w", addr, err)
		}
		nc = tc
	}
	c, err := NewClient(dctx, nc, cfg)
	if err != nil {
		return nil, fmt.Errorf("router %s: %w", addr, err)
	}
	return c, nil
}

// NewClient performs the handshake on an open connection and starts the
// client's goroutines. On error nc is closed.
func NewClient(ctx context.Context, nc net.Conn, cfg ClientConfig) (*Client, error) {
	cfg.fill()
	c := &Client{
		cfg:     cfg,
		conn:    NewConn(nc, cfg.WriteTimeout),
		log:     cfg.Logger.With("component", "routerproto", "router", nc.RemoteAddr().String()),
		pending: map[uint32]chan Message{},
		events:  make(chan Event, 64),
		closed:  make(chan struct{}),
		stopped: make(chan struct{}),
	}
	c.queueCond = sync.NewCond(&c.mu)
	if err := c.handshake(ctx); err != nil {
		_ = c.conn.Close()
		return nil, err
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.pump()
	return c, nil
}

func (c *Client) handshake(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	deadline := time.Now().Add(c.cfg.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.conn.SetReadDeadline(deadline)
	gd := &GetDate{Version: c.cfg.Version}
	if c.cfg.Extensions || c.cfg.Username != "" {
		gd.Options = i2p.Mapping{}
	}
	if c.cfg.Extensions {
		gd.Options[OptExt] = "1"
	}
	if c.cfg.Username != "" {
		gd.Options[OptUsername] = c.cfg.Username
		gd.Options[OptPassword] = c.cfg.Password
	}
	frame, err := AppendFrame([]byte{ProtocolByte}, gd)
	if err != nil {
		return err
	}
	if err := c.conn.writeRaw(frame); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	for {
		m, err := c.conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("handshake: %w", context.Cause(ctx))
			}
			return fmt.Errorf("handshake: %w", err)
		}
		switch m := m.(type) {
		case *Capabilities:
			if c.caps != nil {
				return fmt.Errorf("handshake: %w: second Capabilities", ErrMalformed)
			}
			if !c.cfg.Extensions {
				return fmt.Errorf("handshake: %w: Capabilities without imh.ext", ErrMalformed)
			}
			c.caps = m
		case *SetDate:
			c.routerVersion = m.Version
			c.offsetMs.Store(int64(m.Date) - time.Now().UnixMilli())
			return c.conn.SetReadDeadline(time.Time{})
		case *Disconnect:
			return fmt.Errorf("handshake: %w", &DisconnectError{Reason: m.Reason})
		default:
			return fmt.Errorf("handshake: %w: %s before SetDate", ErrMalformed, m.Type())
		}
	}
}

// RouterVersion is the API version string from SetDate ("" if none).
func (c *Client) RouterVersion() string { return c.routerVersion }

// ClockOffset is the router's clock minus ours, from the latest SetDate.
func (c *Client) ClockOffset() time.Duration {
	return time.Duration(c.offsetMs.Load()) * time.Millisecond
}

// RouterNow is the router's current time, as SessionConfig dates need it.
func (c *Client) RouterNow() time.Time { return time.Now().Add(c.ClockOffset()) }

// Extended reports whether the router answered with Capabilities (an imh
// router); false means a stock router, which never sees an extension message.
func (c *Client) Extended() bool { return c.caps != nil }

// Capabilities returns the extension names the router offered (nil for a
// stock router).
func (c *Client) Capabilities() []string {
	if c.caps == nil {
		return nil
	}
	return append([]string(nil), c.caps.Names...)
}

// RouterHash is the router identity hash from Capabilities (zero if none).
func (c *Client) RouterHash() i2p.Hash {
	if c.caps == nil {
		return i2p.Hash{}
	}
	return c.caps.RouterHash
}

// Has reports whether the router offered the named extension.
func (c *Client) Has(name string) bool { return c.caps != nil && c.caps.Has(name) }

// Events delivers router-initiated messages in arrival order. It is closed
// after the connection ends and every queued event was delivered, or when
// Close is called.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.closed }

// Err says why the connection ended (a *DisconnectError if the router sent
// Disconnect); nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection and stops event delivery; it waits for the
// client's goroutines.
func (c *Client) Close() error {
	c.stopOnce.Do(func() { close(c.stopped) })
	c.fail(ErrClosed)
	c.mu.Lock()
	c.queueCond.Broadcast()
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// fail records the first error and closes the connection.
func (c *Client) fail(err error) {
	c.mu.Lock()
	first := c.err == nil
	if first {
		c.err = err
	}
	c.mu.Unlock()
	if first {
		_ = c.conn.Close()
		close(c.closed)
		c.mu.Lock()
		c.queueCond.Broadcast()
		c.mu.Unlock()
	}
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	for {
		m, err := c.conn.ReadMessage()
		if errors.Is(err, ErrUnknownType) {
			c.log.Debug("skipping unknown message", "type", m.Type())
			continue
		}
		if err != nil {
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		if err := c.handle(m); err != nil {
			c.fail(err)
			return
		}
	}
}

// handle routes one router message to its waiter or to the event queue.
func (c *Client) handle(m Message) error {
	switch m := m.(type) {
	case *SetDate:
		c.offsetMs.Store(int64(m.Date) - time.Now().UnixMilli())
		return nil
	case *Disconnect:
		c.enqueue(Event{Message: m})
		return &DisconnectError{Reason: m.Reason}
	case *SessionStatus:
		c.mu.Lock()
		w := c.statusWait
		if w != nil && m.Status != SessionDestroyed {
			c.statusWait = nil
		} else {
			w = nil
		}
		c.mu.Unlock()
		if w != nil {
			w <- m
			return nil
		}
	case *BandwidthLimits:
		c.mu.Lock()
		w := c.bwWait
		c.bwWait = nil
		c.mu.Unlock()
		if w != nil {
			w <- m
		}
		return nil
	case *PayloadFrom:
		c.mu.Lock()
		c.payloadFrom = m
		c.mu.Unlock()
		return nil
	case *MessagePayload:
		c.mu.Lock()
		from := c.payloadFrom
		c.payloadFrom = nil
		c.mu.Unlock()
		if from != nil && (from.SessionID != m.SessionID || from.MessageID != m.MessageID) {
			from = nil
		}
		c.enqueue(Event{Message: m, From: from})
		return nil
	case *HostReply:
		c.answer(m.RequestID, m)
		return nil
	case *PeerList:
		c.answer(m.RequestID, m)
		return nil
	case *TunnelList:
		c.answer(m.RequestID, m)
		return nil
	case *TunnelStatus:
		if m.RequestID != 0 && c.answer(m.RequestID, m) {
			return nil
		}
	case *Capabilities:
		return fmt.Errorf("%w: Capabilities after handshake", ErrMalformed)
	}
	if !isRouterMessage(m.Type()) {
		return fmt.Errorf("%w: %s is not a router message", ErrMalformed, m.Type())
	}
	c.enqueue(Event{Message: m})
	return nil
}

func isRouterMessage(t Type) bool {
	switch t {
	case TypeSessionStatus, TypeRequestVariableLeaseSet, TypeMessageStatus, TypeTunnelStatus,
		TypeLeaseSetStatus, TypeNeedLeaseSet:
		return true
	}
	return false
}

// answer hands m to the call waiting on request id; false if none waits.
func (c *Client) answer(id uint32, m Message) bool {
	c.mu.Lock()
	ch, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ok {
		ch <- m
	}
	return ok
}

func (c *Client) enqueue(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size := WireSize(e.Message)
	if len(c.queue) >= c.cfg.MaxQueuedEvents || c.queueBytes+size > c.cfg.MaxQueuedBytes {
		if c.err == nil {
			go c.fail(ErrEventOverflow)
		}
		return
	}
	c.queue = append(c.queue, e)
	c.queueSizes = append(c.queueSizes, size)
	c.queueBytes += size
	c.queueCond.Signal()
}

// pump moves queued events to the Events channel, so the read loop never
// blocks on a slow consumer.
func (c *Client) pump() {
	defer c.wg.Done()
	defer close(c.events)
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && c.err == nil {
			c.queueCond.Wait()
		}
		if len(c.queue) == 0 {
			c.mu.Unlock()
			return
		}
		e := c.queue[0]
		c.queue[0] = Event{}
		c.queue = c.queue[1:]
		c.queueBytes -= c.queueSizes[0]
		c.queueSizes = c.queueSizes[1:]
		c.mu.Unlock()
		select {
		case c.events <- e:
		case <-c.stopped:
			return
		}
	}
}

// Send writes a message as is. Extension messages need an extension
// router (ErrNotSupported otherwise). Prefer the typed methods.
func (c *Client) Send(m Message) error {
	if m.Type().IsExtension() && !c.Extended() {
		return fmt.Errorf("send %s: %w", m.Type(), ErrNotSupported)
	}
	if err := c.conn.WriteMessage(m); err != nil {
		if e := c.Err(); e != nil {
			return fmt.Errorf("send %s: %w", m.Type(), e)
		}
		return fmt.Errorf("send %s: %w", m.Type(), err)
	}
	return nil
}

func (c *Client) need(name string) error {
	if !c.Has(name) {
		return fmt.Errorf("extension %s: %w", name, ErrNotSupported)
	}
	return nil
}

// withTimeout applies RequestTimeout when ctx has no deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// await waits for one answer on ch.
func await[T any](ctx context.Context, c *Client, what string, ch <-chan T) (T, error) {
	var zero T
	select {
	case m := <-ch:
		return m, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("%s: %w", what, ctx.Err())
	case <-c.closed:
		// The answer may have arrived just before the connection ended
		// (e.g. SessionStatus refused, then Disconnect): prefer it.
		select {
		case m := <-ch:
			return m, nil
		default:
		}
		return zero, fmt.Errorf("%s: %w", what, c.Err())
	}
}

// CreateSession sends CreateSession and waits for the SessionStatus. It
// returns the session id for SessionCreated, a *SessionStatusError for any
// other status, and a *DisconnectError if the router disconnected instead
// (Java's way of refusing).
func (c *Client) CreateSession(ctx context.Context, sc *SessionConfig) (uint16, error) {
	st, err := c.sessionCall(ctx, "create session", &CreateSession{Config: sc})
	if err != nil {
		return 0, err
	}
	if st.Status != SessionCreated {
		return 0, &SessionStatusError{SessionID: st.SessionID, Status: st.Status}
	}
	return st.SessionID, nil
}

// ReconfigureSession sends ReconfigureSession and waits for SessionUpdated.
func (c *Client) ReconfigureSession(ctx context.Context, sessionID uint16, sc *SessionConfig) error {
	st, err := c.sessionCall(ctx, "reconfigure session", &ReconfigureSession{SessionID: sessionID, Config: sc})
	if err != nil {
		return err
	}
	if st.Status != SessionUpdated {
		return &SessionStatusError{SessionID: st.SessionID, Status: st.Status}
	}
	return nil
}

func (c *Client) sessionCall(ctx context.Context, what string, m Message) (*SessionStatus, error) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	ch := make(chan *SessionStatus, 1)
	c.mu.Lock()
	c.statusWait = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.statusWait == ch {
			c.statusWait = nil
		}
		c.mu.Unlock()
	}()
	if err := c.Send(m); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return await(ctx, c, what, ch)
}

// DestroySession asks the router to end a session. Routers answer with
// SessionDestroyed (i2pd, imh; on Events) or by closing the connection
// (Java, when it was the last session).
func (c *Client) DestroySession(sessionID uint16) error {
	return c.Send(&DestroySession{SessionID: sessionID})
}

// CreateLeaseSet2 hands the router a signed LeaseSet2 and its private keys.
// Stock routers do not answer; imh routers report LeaseSetStatus events.
func (c *Client) CreateLeaseSet2(m *CreateLeaseSet2) error { return c.Send(m) }

// SendMessage sends a payload; a MessageStatus event follows if Nonce != 0.
func (c *Client) SendMessage(m *SendMessage) error { return c.Send(m) }

// SendMessageExpires sends a payload with flags and an expiration.
func (c *Client) SendMessageExpires(m *SendMessageExpires) error { return c.Send(m) }

// HostLookup assigns a request id, sends the lookup and waits for the reply.
func (c *Client) HostLookup(ctx context.Context, m *HostLookup) (*HostReply, error) {
	r, err := request(ctx, c, "host lookup", func(id uint32) Message { m.RequestID = id; return m })
	if err != nil {
		return nil, err
	}
	return r.(*HostReply), nil
}

// GetBandwidthLimits asks for the router's bandwidth limits.
func (c *Client) GetBandwidthLimits(ctx context.Context) (*BandwidthLimits, error) {
	c.bwMu.Lock()
	defer c.bwMu.Unlock()
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	ch := make(chan *BandwidthLimits, 1)
	c.mu.Lock()
	c.bwWait = ch
	c.mu.Unlock()
	if err := c.Send(&GetBandwidthLimits{}); err != nil {
		return nil, err
	}
	return await(ctx, c, "bandwidth limits", ch)
}

// GetFastTier asks an imh router for its fast tier (max 0 = all peers).
func (c *Client) GetFastTier(ctx context.Context, maxPeers uint16) (*PeerList, error) {
	if err := c.need(CapFastTier); err != nil {
		return nil, err
	}
	r, err := request(ctx, c, "get fast tier", func(id uint32) Message { return &GetFastTier{RequestID: id, Max: maxPeers} })
	if err != nil {
		return nil, err
	}
	return r.(*PeerList), nil
}

// CreateTunnel asks an imh router to build a tunnel and waits for the
// build's TunnelStatus (whatever its Result). Explicit hops need the
// explicit-hops capability.
func (c *Client) CreateTunnel(ctx context.Context, m *CreateTunnel) (*TunnelStatus, error) {
	if err := c.need(CapCreateTunnel); err != nil {
		return nil, err
	}
	if len(m.Hops) > 0 {
		if err := c.need(CapExplicitHops); err != nil {
			return nil, err
		}
	}
	r, err := request(ctx, c, "create tunnel", func(id uint32) Message { m.RequestID = id; return m })
	if err != nil {
		return nil, err
	}
	return r.(*TunnelStatus), nil
}

// GetTunnelPool asks an imh router for a session's live tunnels.
func (c *Client) GetTunnelPool(ctx context.Context, sessionID uint16, dir Direction) (*TunnelList, error) {
	if err := c.need(CapTunnelPool); err != nil {
		return nil, err
	}
	r, err := request(ctx, c, "get tunnel pool", func(id uint32) Message {
		return &GetTunnelPool{RequestID: id, SessionID: sessionID, Direction: dir}
	})
	if err != nil {
		return nil, err
	}
	return r.(*TunnelList), nil
}

// SendVia sends through a named outbound tunnel of an imh router; a
// MessageStatus event with the nonce follows if Nonce != 0.
func (c *Client) SendVia(m *SendVia) error {
	if err := c.need(CapSendVia); err != nil {
		return err
	}
	return c.Send(m)
}

// request sends the message build makes with a fresh request id and waits
// for the answer carrying that id.
func request(ctx context.Context, c *Client, what string, build func(id uint32) Message) (Message, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	ch := make(chan Message, 1)
	c.mu.Lock()
	c.nextReq++
	if c.nextReq == 0 {
		c.nextReq = 1
	}
	id := c.nextReq
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.Send(build(id)); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return await(ctx, c, what, ch)
}

// Binding is the connection's session binding (Conn.Binding): nil without
// TLS.
func (c *Client) Binding() []byte { return c.conn.Binding() }

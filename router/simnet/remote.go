package simnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
)

// The daemon protocol between `imh simnet serve` (Serve) and the routers and
// senders of other processes (Dial, RemoteSend). It is internal to imh and
// not versioned beyond the hello. Over one TCP connection both sides send
// frames: a 4-byte big-endian length (at most MaxFrame) and a JSON object
// (wireFrame). A request carries a fresh id and an op; the answer carries the
// same id and resp=true. Routers send hello (first), fast_tier, build,
// publish, lookup, router_send (a payload to an endpoint) and close; the
// daemon sends deliver to a router, which answers with accepted. A sender's
// connection carries one send request. An endpoint's connection starts with
// ep_hello (its Destination's bytes and behaviour), then carries ep_lookup,
// ep_send and close; the daemon sends it ep_payload frames (what routers
// sent it, in order), which are not answered. An error answer carries the
// sentinel's code and, for not_delivered, the Reason. A request that breaks
// the protocol gets an error answer; on the first frame it also ends that
// connection, and nothing else.

// MaxFrame bounds a frame's JSON body; a LeaseSet2 is at most a few KiB.
const MaxFrame = 1 << 20

// DeliveryTimeout is how long the daemon waits for a remote router to
// accept a delivery before counting it refused.
const DeliveryTimeout = 5 * time.Second

// protocolVersion is sent in hello; the daemon refuses other versions.
const protocolVersion = 1

type wireFrame struct {
	ID       uint64        `json:"id"`
	Op       string        `json:"op,omitempty"`
	Resp     bool          `json:"resp,omitempty"`
	Err      string        `json:"err,omitempty"`
	Code     string        `json:"code,omitempty"`
	Version  int           `json:"version,omitempty"`
	Name     string        `json:"name,omitempty"`
	Hash     *i2p.Hash     `json:"hash,omitempty"`
	Build    *BuildRequest `json:"build,omitempty"`
	Tunnel   *Tunnel       `json:"tunnel,omitempty"`
	Peers    []Peer        `json:"peers,omitempty"`
	LeaseSet []byte        `json:"leaseset,omitempty"`
	Delivery *Delivery     `json:"delivery,omitempty"`
	Accepted bool          `json:"accepted,omitempty"`
	Send     *SendConfig   `json:"send,omitempty"`
	Result   *SendResult   `json:"result,omitempty"`
	// Dest is a Destination's bytes (router_send, ep_hello, ep_send and the
	// answer to ep_lookup); Payload an I2CP payload; Reason why a payload
	// was not delivered (with code not_delivered).
	Dest      []byte    `json:"dest,omitempty"`
	Payload   []byte    `json:"payload,omitempty"`
	Behaviour Behaviour `json:"behaviour,omitempty"`
	Reason    Reason    `json:"reason,omitempty"`
}

// errorCodes give sentinels their identity across the wire.
var errorCodes = map[string]error{
	"build_failed":      ErrBuildFailed,
	"no_such_router":    ErrNoSuchRouter,
	"name_in_use":       ErrNameInUse,
	"unknown_peer":      ErrUnknownPeer,
	"bad_request":       ErrBadRequest,
	"leaseset_rejected": ErrLeaseSetRejected,
	"not_found":         ErrNotFound,
	"closed":            ErrClosed,
	"not_delivered":     ErrNotDelivered,
	"dest_in_use":       ErrDestInUse,
	"no_endpoint":       ErrNoEndpoint,
	"canceled":          context.Canceled,
	"deadline":          context.DeadlineExceeded,
}

func errorCode(err error) string {
	for code, sentinel := range errorCodes {
		if errors.Is(err, sentinel) {
			return code
		}
	}
	return ""
}

// remoteError is an error that came over the wire: its text as the daemon
// wrote it, and the sentinel it wrapped.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func frameError(f *wireFrame) error {
	if f.Err == "" {
		return nil
	}
	sentinel := errorCodes[f.Code]
	if f.Reason != "" && sentinel == ErrNotDelivered {
		sentinel = &NotDeliveredError{Reason: f.Reason}
	}
	return &remoteError{msg: f.Err, sentinel: sentinel}
}

func setFrameError(f *wireFrame, err error) {
	if err == nil {
		return
	}
	f.Err, f.Code = err.Error(), errorCode(err)
	var nd *NotDeliveredError
	if errors.As(err, &nd) {
		f.Reason = nd.Reason
	}
}

// parseDest decodes a Destination sent on the wire, whole.
func parseDest(b []byte) (*i2p.Destination, error) {
	d, n, err := i2p.ParseDestination(b)
	if err != nil {
		return nil, fmt.Errorf("%w: destination: %w", ErrBadRequest, err)
	}
	if n != len(b) {
		return nil, fmt.Errorf("%w: destination: %d trailing bytes", ErrBadRequest, len(b)-n)
	}
	return d, nil
}

// ErrProtocol reports a malformed frame or a peer that broke the protocol.
var ErrProtocol = errors.New("simnet: protocol error")

// conn is one framed connection, used by both sides.
type conn struct {
	c  net.Conn
	r  *bufio.Reader
	wm sync.Mutex

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan *wireFrame
	done    chan struct{}
	err     error
}

func newConn(c net.Conn) *conn {
	return &conn{c: c, r: bufio.NewReader(c), pending: make(map[uint64]chan *wireFrame), done: make(chan struct{})}
}

func (c *conn) write(f *wireFrame) error {
	body, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode %s frame: %w", f.Op, err)
	}
	if len(body) > MaxFrame {
		return fmt.Errorf("%w: %s frame of %d bytes", ErrProtocol, f.Op, len(body))
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	buf = append(buf, body...)
	c.wm.Lock()
	defer c.wm.Unlock()
	if _, err := c.c.Write(buf); err != nil {
		return fmt.Errorf("write %s frame: %w", f.Op, err)
	}
	return nil
}

func readFrame(r io.Reader) (*wireFrame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > MaxFrame {
		return nil, fmt.Errorf("%w: frame length %d", ErrProtocol, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read frame body: %w", err)
	}
	return decodeFrame(body)
}

// decodeFrame parses one frame body; it never panics.
func decodeFrame(body []byte) (*wireFrame, error) {
	var f wireFrame
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if !f.Resp && f.Op == "" {
		return nil, fmt.Errorf("%w: frame without op", ErrProtocol)
	}
	return &f, nil
}

// call sends a request and waits for its answer.
func (c *conn) call(ctx context.Context, f *wireFrame) (*wireFrame, error) {
	ch := make(chan *wireFrame, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.nextID++
	f.ID = c.nextID
	c.pending[f.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, f.ID)
		c.mu.Unlock()
	}()
	if err := c.write(f); err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, frameError(resp)
	case <-c.done:
		// The reader hands over an answer before it closes done: a
		// daemon that answers (an error) and then hangs up must be
		// heard, not reported as a lost connection.
		select {
		case resp := <-ch:
			return resp, frameError(resp)
		default:
		}
		return nil, c.closeErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *conn) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// dispatchResp hands an answer to its waiting call.
func (c *conn) dispatchResp(f *wireFrame) {
	c.mu.Lock()
	ch := c.pending[f.ID]
	c.mu.Unlock()
	if ch != nil {
		ch <- f
	}
}

// shut closes the connection once, recording why.
func (c *conn) shut(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	c.mu.Unlock()
	close(c.done)
	c.c.Close()
}

// RemoteLink is a Link to a router's attachment held by an `imh simnet
// serve` daemon. When the connection is lost the router is down: the daemon
// kills its tunnels, and every method returns ErrClosed.
type RemoteLink struct {
	c      *conn
	name   string
	hash   i2p.Hash
	logger *slog.Logger

	hmu     sync.Mutex
	handler func(Delivery) bool
}

var _ Link = (*RemoteLink)(nil)

// Dial attaches a router called name to the network served at addr
// ("H:P" or "simnet://H:P"). ctx bounds the dial and the attach only; the
// link lives until Close or until the connection is lost (the router is
// then down for the network).
func Dial(ctx context.Context, addr, name string, logger *slog.Logger) (Link, error) {
	l, err := DialRemote(ctx, addr, name, logger)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// DialRemote is Dial returning the concrete type (for Done).
func DialRemote(ctx context.Context, addr, name string, logger *slog.Logger) (*RemoteLink, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c, err := dialConn(ctx, addr)
	if err != nil {
		return nil, err
	}
	l := &RemoteLink{c: c, name: name, logger: logger.With("component", "simnet-link", "router", name)}
	go l.readLoop()
	resp, err := c.call(ctx, &wireFrame{Op: "hello", Version: protocolVersion, Name: name})
	if err != nil {
		c.shut(ErrClosed)
		return nil, fmt.Errorf("attach %s to simnet %s: %w", name, addr, err)
	}
	if resp.Hash == nil {
		c.shut(ErrClosed)
		return nil, fmt.Errorf("attach %s to simnet %s: %w: hello answer without hash", name, addr, ErrProtocol)
	}
	l.hash = *resp.Hash
	return l, nil
}

// ParseAddr accepts "simnet://H:P" or "H:P".
func ParseAddr(addr string) (string, error) {
	const scheme = "simnet://"
	if len(addr) > len(scheme) && addr[:len(scheme)] == scheme {
		addr = addr[len(scheme):]
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("%w: simnet address %q: %w", ErrBadRequest, addr, err)
	}
	return addr, nil
}

func dialConn(ctx context.Context, addr string) (*conn, error) {
	hp, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", hp)
	if err != nil {
		return nil, fmt.Errorf("dial simnet %s: %w", hp, err)
	}
	return newConn(nc), nil
}

func (l *RemoteLink) readLoop() {
	for {
		f, err := readFrame(l.c.r)
		if err != nil {
			l.logger.Debug("simnet connection lost", "err", err)
			l.c.shut(fmt.Errorf("%w: connection lost: %w", ErrClosed, err))
			return
		}
		switch {
		case f.Resp:
			l.c.dispatchResp(f)
		case f.Op == "deliver" && f.Delivery != nil:
			go l.deliver(f)
		default:
			resp := &wireFrame{ID: f.ID, Resp: true}
			setFrameError(resp, fmt.Errorf("%w: unexpected op %q", ErrProtocol, f.Op))
			_ = l.c.write(resp)
		}
	}
}

func (l *RemoteLink) deliver(f *wireFrame) {
	l.hmu.Lock()
	h := l.handler
	l.hmu.Unlock()
	ok := h != nil && h(*f.Delivery)
	_ = l.c.write(&wireFrame{ID: f.ID, Resp: true, Accepted: ok})
}

// Name is the router's name.
func (l *RemoteLink) Name() string { return l.name }

// Hash is the router's identity hash, as the daemon derived it.
func (l *RemoteLink) Hash() i2p.Hash { return l.hash }

// Done is closed when the connection to the daemon is lost or closed.
func (l *RemoteLink) Done() <-chan struct{} { return l.c.done }

// FastTier asks the daemon for this router's fast tier.
func (l *RemoteLink) FastTier(ctx context.Context) ([]Peer, error) {
	resp, err := l.c.call(ctx, &wireFrame{Op: "fast_tier"})
	if err != nil {
		return nil, fmt.Errorf("fast tier of %s: %w", l.name, err)
	}
	return resp.Peers, nil
}

// BuildTunnel builds a tunnel at the daemon.
func (l *RemoteLink) BuildTunnel(ctx context.Context, req BuildRequest) (Tunnel, error) {
	resp, err := l.c.call(ctx, &wireFrame{Op: "build", Build: &req})
	if err != nil {
		return Tunnel{}, err
	}
	if resp.Tunnel == nil {
		return Tunnel{}, fmt.Errorf("build tunnel on %s: %w: answer without tunnel", l.name, ErrProtocol)
	}
	return *resp.Tunnel, nil
}

// Publish stores a LeaseSet2 at the daemon's floodfills.
func (l *RemoteLink) Publish(ctx context.Context, ls []byte) error {
	_, err := l.c.call(ctx, &wireFrame{Op: "publish", LeaseSet: ls})
	return err
}

// Lookup fetches a LeaseSet2 from the daemon's floodfills.
func (l *RemoteLink) Lookup(ctx context.Context, dest i2p.Hash) ([]byte, error) {
	resp, err := l.c.call(ctx, &wireFrame{Op: "lookup", Hash: &dest})
	if err != nil {
		return nil, err
	}
	return resp.LeaseSet, nil
}

// SetDeliveryHandler installs the handler for deliveries to this router.
func (l *RemoteLink) SetDeliveryHandler(h func(Delivery) bool) {
	l.hmu.Lock()
	defer l.hmu.Unlock()
	l.handler = h
}

// Send sends a payload of from to the endpoint of to at the daemon.
func (l *RemoteLink) Send(ctx context.Context, from i2p.Hash, to *i2p.Destination, payload []byte) error {
	if to == nil {
		return fmt.Errorf("send from %s: %w: no destination", l.name, ErrBadRequest)
	}
	_, err := l.c.call(ctx, &wireFrame{Op: "router_send", Hash: &from, Dest: to.Bytes(), Payload: payload})
	return err
}

// Close detaches the router (its tunnels die) and closes the connection.
func (l *RemoteLink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := l.c.call(ctx, &wireFrame{Op: "close"})
	l.c.shut(ErrClosed)
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("close simnet link %s: %w", l.name, err)
	}
	return nil
}

// RemoteSend runs `imh simnet send` traffic in the daemon at addr and
// returns its result once every message is resolved.
func RemoteSend(ctx context.Context, addr string, cfg SendConfig) (SendResult, error) {
	if err := cfg.Validate(); err != nil {
		return NewSendResult(), err
	}
	c, err := dialConn(ctx, addr)
	if err != nil {
		return NewSendResult(), err
	}
	defer c.shut(ErrClosed)
	// The outcomes sent ahead in send_part frames; the reader appends them
	// before it hands over the answer that follows them.
	var parts []MessageOutcome
	maxParts := cfg.Clients * cfg.Count
	go func() {
		for {
			f, err := readFrame(c.r)
			if err != nil {
				c.shut(fmt.Errorf("%w: connection lost: %w", ErrClosed, err))
				return
			}
			switch {
			case f.Resp:
				c.dispatchResp(f)
			case f.Op == "send_part" && f.Result != nil:
				if len(parts)+len(f.Result.Messages) > maxParts {
					c.shut(fmt.Errorf("%w: more outcomes than the run's %d messages", ErrProtocol, maxParts))
					return
				}
				parts = append(parts, f.Result.Messages...)
			default:
				c.shut(fmt.Errorf("%w: unexpected %q frame during a send run", ErrProtocol, f.Op))
				return
			}
		}
	}()
	resp, err := c.call(ctx, &wireFrame{Op: "send", Version: protocolVersion, Send: &cfg})
	if err != nil {
		return NewSendResult(), fmt.Errorf("simnet send via %s: %w", addr, err)
	}
	if resp.Result == nil {
		return NewSendResult(), fmt.Errorf("simnet send via %s: %w: answer without result", addr, ErrProtocol)
	}
	res := NewSendResult()
	res.Delivered, res.Failed = resp.Result.Delivered, resp.Result.Failed
	for k, v := range resp.Result.Reasons {
		res.Reasons[k] = v
	}
	for k, v := range resp.Result.ByRouter {
		res.ByRouter[k] = v
	}
	if len(parts) > 0 {
		res.Messages = append(parts, resp.Result.Messages...)
	} else {
		res.Messages = resp.Result.Messages
	}
	return res, nil
}

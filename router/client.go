package router

import (
	"sync"
	"sync/atomic"

	"github.com/imh-project/imh/routerproto"
)

// wireConn is the router's view of one client connection: the routerproto
// server connection it was handed (serverConn in handler.go).
type wireConn interface {
	// Send writes one message (blocking until written or failed).
	Send(m routerproto.Message) error
	// Disconnect sends Disconnect with reason and closes the connection.
	Disconnect(reason string) error
	// Close closes the connection.
	Close() error
}

// outboxLimit and outboxBytesLimit bound what waits to be written to one
// client: messages, and their size on the wire (routerproto.WireSize). A
// client that falls this far behind (either bound) is disconnected with
// "imh: client too slow, outbox full" rather than letting the router's
// memory grow; a managed session it controlled enters its grace period.
const (
	outboxLimit      = 8192
	outboxBytesLimit = 64 << 20
)

// client is the router's state for one connection: the sessions it
// attached to (with the term it attached with) and an outbox written by one
// goroutine, so the router can queue messages under its lock without ever
// blocking on a slow socket, and messages keep their order.
type client struct {
	seq  uint64 // order of arrival, for stable round robin
	conn wireConn
	ext  bool // the client negotiated imh extensions

	// Guarded by Router.mu.
	attached map[uint16]uint64 // session id -> term this connection attached with
	dataOf   map[uint16]bool   // sessions this connection is a data attachment of

	maxMsgs, maxBytes int // outboxLimit, outboxBytesLimit (tests lower them)

	mu          sync.Mutex
	outbox      []routerproto.Message
	outboxBytes int    // WireSize of what outbox holds
	closing     string // non-empty: send a Disconnect with this reason, then close
	closed      bool
	wake        chan struct{}
	done        chan struct{}
}

var clientSeq atomic.Uint64

func newClient(conn wireConn, ext bool) *client {
	return &client{
		seq:      clientSeq.Add(1),
		conn:     conn,
		ext:      ext,
		attached: make(map[uint16]uint64),
		dataOf:   make(map[uint16]bool),
		maxMsgs:  outboxLimit,
		maxBytes: outboxBytesLimit,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

// send queues m for the writer. It never blocks; a client too far behind is
// disconnected.
func (c *client) send(m routerproto.Message) {
	c.mu.Lock()
	if c.closed || c.closing != "" {
		c.mu.Unlock()
		return
	}
	size := routerproto.WireSize(m)
	if len(c.outbox) >= c.maxMsgs || c.outboxBytes+size > c.maxBytes {
		c.closing = "imh: client too slow, outbox full"
		c.outbox, c.outboxBytes = nil, 0
	} else {
		c.outbox = append(c.outbox, m)
		c.outboxBytes += size
	}
	c.mu.Unlock()
	c.poke()
}

// disconnect queues a Disconnect with reason after what is already queued
// and closes the connection once it is written.
func (c *client) disconnect(reason string) {
	c.mu.Lock()
	if c.closed || c.closing != "" {
		c.mu.Unlock()
		return
	}
	c.closing = reason
	c.mu.Unlock()
	c.poke()
}

func (c *client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// markClosed stops the writer: the connection is gone.
func (c *client) markClosed() {
	c.mu.Lock()
	c.closed = true
	c.outbox, c.outboxBytes = nil, 0
	c.mu.Unlock()
	c.poke()
}

// run writes the outbox until the connection closes or is disconnected.
func (c *client) run() {
	defer close(c.done)
	for {
		c.mu.Lock()
		batch, reason, closed := c.outbox, c.closing, c.closed
		c.outbox, c.outboxBytes = nil, 0
		c.mu.Unlock()
		if closed {
			return
		}
		for _, m := range batch {
			if err := c.conn.Send(m); err != nil {
				c.markClosed()
				_ = c.conn.Close()
				return
			}
		}
		if reason != "" && len(batch) == 0 {
			c.markClosed()
			_ = c.conn.Disconnect(reason)
			return
		}
		if len(batch) == 0 {
			<-c.wake
		}
	}
}

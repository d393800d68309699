package frontendproto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// keepBuf is the largest read or write buffer a Conn keeps between frames.
// Reports and most Assigns fit; a rare bigger frame gets a buffer of its own
// so that an idle connection does not hold a megabyte.
const keepBuf = 64 << 10

// preamble is what each side writes first.
var preamble = [PreambleLen]byte{Magic[0], Magic[1], Magic[2], Magic[3], Version}

// Conn frames messages over a net.Conn (TLS in production). Call Handshake
// first. Send is safe for concurrent use (a write lock keeps frames whole);
// Recv must be called from one goroutine at a time. Close is safe to call
// more than once and from any goroutine, and unblocks Send and Recv.
//
// Conn sets no deadlines of its own after the handshake: a caller that must
// not block on a peer that stops reading sets them on NetConn.
type Conn struct {
	nc net.Conn
	br *bufio.Reader

	rbuf []byte // body buffer reused by Recv; messages never alias it

	wmu          sync.Mutex
	wbuf         []byte
	writeTimeout time.Duration // per Send (SetWriteTimeout); 0: none

	closeOnce sync.Once
	closeErr  error
}

// NewConn wraps nc. The Conn owns nc from now on: Close closes it.
func NewConn(nc net.Conn) *Conn {
	return &Conn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}
}

// NetConn returns the underlying connection, e.g. to read the peer's TLS
// certificate or to set deadlines.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Handshake writes our preamble and reads and checks the peer's, both at
// once (neither side waits for the other's preamble before writing its own,
// so that an unbuffered transport like net.Pipe cannot deadlock). It fails
// with ErrBadPreamble or ErrVersion for a peer that is not this protocol, and
// with the context's error when ctx ends first: ctx's deadline is set on the
// connection for the duration of the handshake, and cancelling ctx
// interrupts it. After an error the Conn is unusable; close it.
func (c *Conn) Handshake(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("frontendproto handshake: %w", err)
	}
	deadline, hasDeadline := ctx.Deadline()
	if err := c.nc.SetDeadline(deadline); err != nil { // zero time: none
		return fmt.Errorf("frontendproto handshake: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })

	werr := make(chan error, 1)
	go func() {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		_, err := c.nc.Write(preamble[:])
		werr <- err
	}()

	var peer [PreambleLen]byte
	_, err := io.ReadFull(c.br, peer[:])
	if err == nil {
		err = checkPreamble(peer)
	}
	if err != nil {
		// Unblock our write: a peer that is not reading (or not this
		// protocol) must not hold the handshake forever.
		_ = c.nc.SetDeadline(time.Unix(1, 0))
	}
	if w := <-werr; err == nil && w != nil {
		err = fmt.Errorf("write preamble: %w", w)
	}
	if !stop() {
		// ctx ended while we were at it; the deadline is in the past now.
		return fmt.Errorf("frontendproto handshake: %w", ctx.Err())
	}
	if err != nil {
		if hasDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection's deadline (ctx's) can fire just before ctx's
			// own timer: report it as the context's.
			return fmt.Errorf("frontendproto handshake: %w: %w", context.DeadlineExceeded, err)
		}
		return fmt.Errorf("frontendproto handshake: %w", err)
	}
	if err := c.nc.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("frontendproto handshake: %w", err)
	}
	return nil
}

// checkPreamble checks the magic, then the version.
func checkPreamble(p [PreambleLen]byte) error {
	if string(p[:len(Magic)]) != Magic {
		return fmt.Errorf("%w: %q", ErrBadPreamble, p[:len(Magic)])
	}
	if v := p[len(Magic)]; v != Version {
		return fmt.Errorf("%w: peer speaks version %d, we speak %d", ErrVersion, v, Version)
	}
	return nil
}

// Send encodes m and writes it as one frame under the write lock.
func (c *Conn) Send(m Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeTimeout > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
			return fmt.Errorf("send %s: %w", m.Type(), err)
		}
	}
	b, err := AppendFrame(c.wbuf[:0], m)
	if err != nil {
		return err
	}
	if cap(b) <= keepBuf {
		c.wbuf = b
	}
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("send %s: %w", m.Type(), err)
	}
	return nil
}

// SetWriteTimeout bounds every later Send: a peer that stops reading
// makes Send fail after d instead of blocking its caller for good (the
// connection is then unusable: close it). 0 means no bound.
func (c *Conn) SetWriteTimeout(d time.Duration) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeTimeout = d
}

// Recv reads and decodes one frame. The body length is checked against
// MaxBody before anything is read or allocated: an oversized frame fails
// with ErrTooLarge and leaves the stream unusable (close it). A frame of an
// unknown type (ErrUnknownType) or one that does not decode (ErrMalformed)
// has been consumed whole, so the stream is still in step; whether to skip
// it or hang up is the caller's choice. The returned message does not alias
// the Conn's buffers.
func (c *Conn) Recv() (Message, error) {
	var h [HeaderLen]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return nil, fmt.Errorf("read frame header: %w", err)
	}
	t, n, err := parseHeader(h)
	if err != nil {
		return nil, err
	}
	body := c.rbuf
	if n > cap(body) {
		body = make([]byte, n)
		if n <= keepBuf {
			c.rbuf = body
		}
	}
	body = body[:n]
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, fmt.Errorf("read %s body of %d bytes: %w", t, n, err)
	}
	return Unmarshal(t, body)
}

// Close closes the connection; later calls return the first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.nc.Close() })
	return c.closeErr
}

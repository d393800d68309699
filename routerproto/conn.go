package routerproto

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ErrClosed reports use of a closed connection.
var ErrClosed = errors.New("routerproto: connection closed")

// Conn frames messages over a net.Conn: reads from one goroutine, writes
// from any number (a write lock keeps frames whole), deadlines per
// operation, a frame size limit checked before allocating, and a Close
// that is safe to call more than once.
type Conn struct {
	nc   net.Conn
	br   *bufio.Reader
	rbuf []byte // payload bodies, reused by ReadMessage (one reader)

	wmu          sync.Mutex
	wbuf         []byte
	writeTimeout time.Duration

	closeOnce sync.Once
	closed    chan struct{}
}

// NewConn wraps nc. writeTimeout bounds every write (0 = none), so a peer
// that stops reading cannot block its writers forever.
func NewConn(nc net.Conn, writeTimeout time.Duration) *Conn {
	return &Conn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10), writeTimeout: writeTimeout, closed: make(chan struct{})}
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Done is closed when Close has been called.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// SetReadDeadline bounds the next reads (zero time = none).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// WriteProtocolByte sends the 0x2A that opens a client connection.
func (c *Conn) WriteProtocolByte() error {
	return c.writeRaw([]byte{ProtocolByte})
}

// ReadProtocolByte reads the opening byte and fails with ErrBadProtocolByte
// if it is not 0x2A.
func (c *Conn) ReadProtocolByte() error {
	b, err := c.br.ReadByte()
	if err != nil {
		return fmt.Errorf("read protocol byte: %w", err)
	}
	if b != ProtocolByte {
		return fmt.Errorf("%w: 0x%02x", ErrBadProtocolByte, b)
	}
	return nil
}

// ReadFrame reads one frame. The length is checked against MaxFrameLen
// before the body is allocated; an oversized frame fails with
// ErrFrameTooLarge and leaves the stream unusable (close it).
func (c *Conn) ReadFrame() (Type, []byte, error) {
	t, n, err := c.readHeader()
	if err != nil {
		return t, nil, err
	}
	body, err := c.readBody(t, make([]byte, n))
	return t, body, err
}

// ReadMessage reads and decodes one frame. For an unknown type it returns
// the *Unknown message together with an error wrapping ErrUnknownType.
//
// A payload's body is read into a buffer the Conn keeps (as http2's Framer
// does): its decoder copies the payload out, so the payload is copied once
// and not allocated twice. Other types keep their own body, since their
// decoders may alias it. ReadMessage is for one reader at a time.
func (c *Conn) ReadMessage() (Message, error) {
	t, n, err := c.readHeader()
	if err != nil {
		return nil, err
	}
	var buf []byte
	if t == TypeMessagePayload {
		if cap(c.rbuf) < n {
			c.rbuf = make([]byte, n)
		}
		buf = c.rbuf[:n]
	} else {
		buf = make([]byte, n)
	}
	body, err := c.readBody(t, buf)
	if err != nil {
		return nil, err
	}
	return Decode(t, body)
}

// readHeader reads a frame header and checks its length.
func (c *Conn) readHeader() (Type, int, error) {
	var h [HeaderLen]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, 0, fmt.Errorf("read frame header: %w", err)
	}
	return ParseFrameHeader(h[:])
}

// readBody fills body, a frame's body of type t.
func (c *Conn) readBody(t Type, body []byte) ([]byte, error) {
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, fmt.Errorf("read %s body of %d bytes: %w", t, len(body), err)
	}
	return body, nil
}

// WriteMessage encodes msgs and writes them as one write under the write
// lock, so frames that belong together (PayloadFrom + MessagePayload) are
// never separated by another writer's frame.
func (c *Conn) WriteMessage(msgs ...Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.wbuf[:0]
	for _, m := range msgs {
		var err error
		if b, err = AppendFrame(b, m); err != nil {
			return err
		}
	}
	if cap(b) <= 128<<10 {
		c.wbuf = b
	}
	return c.writeLocked(b)
}

func (c *Conn) writeRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b)
}

func (c *Conn) writeLocked(b []byte) error {
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	if c.writeTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("write to %s: %w", c.nc.RemoteAddr(), err)
	}
	return nil
}

// Close closes the connection; later calls return nil.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.nc.Close()
	})
	return err
}

// CloseWith sends a Disconnect with reason (best effort, bounded by a short
// write deadline) and closes the connection.
func (c *Conn) CloseWith(reason string) error {
	c.wmu.Lock()
	b, err := AppendFrame(nil, NewDisconnect(reason))
	if err == nil {
		select {
		case <-c.closed:
		default:
			_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.nc.Write(b)
		}
	}
	c.wmu.Unlock()
	return c.Close()
}

// BindingLabel is the TLS exporter label of the session binding
// (PROTOCOL.md 5.5).
const BindingLabel = "EXPORTER-imh-session-binding"

// Binding returns 32 bytes both ends of a TLS connection derive alike
// (RFC 8446 section 7.5 exporter, label BindingLabel) and nobody can
// reproduce on another connection; nil on a plain TCP connection. A
// CreateSession carries it, signed, in imh.binding so that it is valid on
// this connection only.
func (c *Conn) Binding() []byte {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	cs := tc.ConnectionState()
	if !cs.HandshakeComplete {
		return nil
	}
	b, err := cs.ExportKeyingMaterial(BindingLabel, nil, 32)
	if err != nil {
		return nil
	}
	return b
}

// TLSState is the TLS connection state (peer certificates included), or
// nil on a plain TCP connection.
func (c *Conn) TLSState() *tls.ConnectionState {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	cs := tc.ConnectionState()
	return &cs
}

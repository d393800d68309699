package routerproto

import (
	"errors"
	"fmt"

	"github.com/imh-project/imh/internal/wire"
)

// ProtocolByte is the single byte a client sends before its first frame
// (I2P-WIRE 1.1). A router closes a connection that starts with anything else.
const ProtocolByte = 0x2A

// HeaderLen is the frame header: u32 body length, u8 type (I2P-WIRE 1.2).
const HeaderLen = 5

// MaxFrameLen is the largest frame, header included, that either side sends
// or accepts. It is i2pd's limit (65535 bytes total), so nothing we send is
// ever refused by a stock router. The length field is checked against it
// before any body buffer is allocated.
const MaxFrameLen = 65535

// MaxBodyLen is the largest body a frame can carry.
const MaxBodyLen = MaxFrameLen - HeaderLen

// Errors callers test for.
var (
	// ErrFrameTooLarge reports a frame over MaxFrameLen (read or write).
	ErrFrameTooLarge = errors.New("routerproto: frame too large")
	// ErrMalformed reports a body that does not decode as its type.
	ErrMalformed = errors.New("routerproto: malformed message")
	// ErrUnknownType reports a type number the decoder does not know.
	ErrUnknownType = errors.New("routerproto: unknown message type")
	// ErrBadProtocolByte reports a connection that did not start with 0x2A.
	ErrBadProtocolByte = errors.New("routerproto: bad protocol byte")
)

// AppendFrame appends m as a complete frame (header and body) to b. It fails
// with ErrFrameTooLarge rather than produce a frame a router would refuse.
func AppendFrame(b []byte, m Message) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, byte(m.Type()))
	b, err := m.AppendBody(b)
	if err != nil {
		return b[:start], fmt.Errorf("encode %s: %w", m.Type(), err)
	}
	n := len(b) - start
	if n > MaxFrameLen {
		return b[:start], fmt.Errorf("encode %s: %w: %d bytes", m.Type(), ErrFrameTooLarge, n)
	}
	body := uint32(n - HeaderLen)
	b[start], b[start+1], b[start+2], b[start+3] = byte(body>>24), byte(body>>16), byte(body>>8), byte(body)
	return b, nil
}

// Marshal returns m as a complete frame.
func Marshal(m Message) ([]byte, error) { return AppendFrame(nil, m) }

// ParseFrameHeader reads a 5-byte header and checks the length against
// MaxFrameLen, so a caller can allocate the body safely.
func ParseFrameHeader(h []byte) (Type, int, error) {
	if len(h) < HeaderLen {
		return 0, 0, fmt.Errorf("frame header: %w", wire.ErrShort)
	}
	n := uint64(h[0])<<24 | uint64(h[1])<<16 | uint64(h[2])<<8 | uint64(h[3])
	t := Type(h[4])
	if n > MaxBodyLen {
		return t, 0, fmt.Errorf("%w: %s body of %d bytes (max %d)", ErrFrameTooLarge, t, n, MaxBodyLen)
	}
	return t, int(n), nil
}

// SplitFrame decodes the first complete frame in b and returns the message
// and the number of bytes it used. It is the pure counterpart of
// Conn.ReadMessage, for tests and fuzzing.
func SplitFrame(b []byte) (Message, int, error) {
	t, n, err := ParseFrameHeader(b)
	if err != nil {
		return nil, 0, err
	}
	if len(b)-HeaderLen < n {
		return nil, 0, fmt.Errorf("%s frame: %w: body %d bytes, have %d", t, wire.ErrShort, n, len(b)-HeaderLen)
	}
	m, err := Decode(t, b[HeaderLen:HeaderLen+n])
	if err != nil {
		return nil, 0, err
	}
	return m, HeaderLen + n, nil
}

package frontendproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/imh-project/imh/internal/wire"
)

// Magic opens every connection, in both directions, followed by Version.
const Magic = "IMHF"

// Version is the protocol version this package speaks. A peer announcing
// another one is refused (ErrVersion): there is no negotiation, an
// incompatible change gets a new number and both ends upgrade together.
const Version = 1

// PreambleLen is the length of the preamble: Magic and the version byte.
const PreambleLen = len(Magic) + 1

// HeaderLen is the frame header: u32 body length, u8 type.
const HeaderLen = 5

// MaxBody is the largest frame body either side sends or accepts. The
// largest legitimate frame, an Assign of MaxAssignments entries with long
// names and big Destinations, is well under it; the length field is checked
// against it before a body buffer is allocated.
const MaxBody = 1 << 20

// Errors callers test for.
var (
	// ErrBadPreamble reports a peer whose first bytes are not Magic.
	ErrBadPreamble = errors.New("frontendproto: bad preamble")
	// ErrVersion reports a peer that speaks another protocol version.
	ErrVersion = errors.New("frontendproto: unsupported version")
	// ErrTooLarge reports a frame body over MaxBody (read or write).
	ErrTooLarge = errors.New("frontendproto: frame too large")
	// ErrMalformed reports a message that breaks the wire format's rules:
	// a body that does not decode as its type, or a value an encoder refuses
	// to write (the same rules apply on both sides).
	ErrMalformed = errors.New("frontendproto: malformed message")
	// ErrUnknownType reports a type number this package does not know.
	ErrUnknownType = errors.New("frontendproto: unknown message type")
)

// MsgType is a message type number. The numbers are part of the wire format
// (PROTOCOL.md section 9): only append, never renumber.
type MsgType uint8

// Message types.
const (
	TypeAssign     MsgType = 1 // leader → frontend
	TypeKeyRequest MsgType = 2 // frontend → leader
	TypeKeyGrant   MsgType = 3 // leader → frontend, answers KeyRequest
	TypeKeyRefused MsgType = 4 // leader → frontend, answers KeyRequest
	TypeReport     MsgType = 5 // frontend → leader
)

var typeNames = map[MsgType]string{
	TypeAssign:     "Assign",
	TypeKeyRequest: "KeyRequest",
	TypeKeyGrant:   "KeyGrant",
	TypeKeyRefused: "KeyRefused",
	TypeReport:     "Report",
}

// String names the type, or gives its number if it is unknown.
func (t MsgType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "MsgType(" + strconv.Itoa(int(t)) + ")"
}

// Message is one typed frame body. Every message type of the protocol
// implements it; Unmarshal returns one, Marshal encodes one.
type Message interface {
	// Type is the frame's type byte.
	Type() MsgType
	// AppendBinary appends the body (without the 5-byte header) to b. On
	// error b is returned unchanged.
	AppendBinary(b []byte) ([]byte, error)
}

// decoders is the type table Unmarshal dispatches on.
var decoders = map[MsgType]func(*wire.Reader) (Message, error){
	TypeAssign:     decodeAssign,
	TypeKeyRequest: decodeKeyRequest,
	TypeKeyGrant:   decodeKeyGrant,
	TypeKeyRefused: decodeKeyRefused,
	TypeReport:     decodeReport,
}

// AppendFrame appends m as a complete frame (header and body) to b. It fails
// with ErrTooLarge rather than write a body the peer would refuse; on error
// b is returned unchanged.
func AppendFrame(b []byte, m Message) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, byte(m.Type()))
	b, err := m.AppendBinary(b)
	if err != nil {
		return b[:start], err
	}
	n := len(b) - start - HeaderLen
	if n > MaxBody {
		return b[:start], fmt.Errorf("encode %s: %w: body of %d bytes (max %d)", m.Type(), ErrTooLarge, n, MaxBody)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// Marshal returns m as a complete frame: length, type, body.
func Marshal(m Message) ([]byte, error) { return AppendFrame(nil, m) }

// Unmarshal decodes a frame body of type typ. It is pure and total: every
// input gives a message or an error (ErrTooLarge, ErrUnknownType naming the
// number, or ErrMalformed), never a panic. The message does not alias body.
func Unmarshal(typ MsgType, body []byte) (Message, error) {
	if len(body) > MaxBody {
		return nil, fmt.Errorf("%w: %s body of %d bytes (max %d)", ErrTooLarge, typ, len(body), MaxBody)
	}
	dec, ok := decoders[typ]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, uint8(typ))
	}
	m, err := dec(wire.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, typ, err)
	}
	return m, nil
}

// parseHeader reads a frame header and checks the length against MaxBody,
// so that the caller can allocate the body safely.
func parseHeader(h [HeaderLen]byte) (MsgType, int, error) {
	n := binary.BigEndian.Uint32(h[:4])
	t := MsgType(h[4])
	if n > MaxBody {
		return t, 0, fmt.Errorf("%w: %s body of %d bytes (max %d)", ErrTooLarge, t, n, MaxBody)
	}
	return t, int(n), nil
}

package fsm

import (
	"errors"
	"fmt"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/wire"
)

// CommandType names a command in the Raft log. The values are persisted in
// every log and snapshot: only append new ones, never renumber or reuse.
// A type with IgnorableFlag set may be skipped by an older binary that does
// not know it (during a rolling upgrade); any other unknown type is an error.
type CommandType uint8

// Command types. Persisted in the log: append only.
const (
	CmdRouterPut         CommandType = 1  // router added or its address changed
	CmdRouterRemove      CommandType = 2  // router removed with its tunnels
	CmdDestinationPut    CommandType = 3  // destination created or imported
	CmdDestinationSet    CommandType = 4  // destination settings changed
	CmdDestinationRemove CommandType = 5  // destination removed with its tunnels
	CmdTunnelRecorded    CommandType = 6  // the leader built (or adopted) a tunnel
	CmdTunnelExpired     CommandType = 7  // a tunnel expired, failed or was dropped
	CmdTunnelsPruned     CommandType = 8  // every tunnel expiring before a time dropped
	CmdLeaseSetPublished CommandType = 9  // the leader published a LeaseSet
	CmdFrontendPut       CommandType = 10 // frontend added (multi-client mode)
	CmdFrontendRemove    CommandType = 11 // frontend removed
	CmdSecretRotated     CommandType = 12 // destinations re-sealed under a new cluster secret
	IgnorableFlag        CommandType = 0x80
	commandVersion       uint8       = 1 // the only payload version so far
	maxBlob                          = 0xFFFF
	maxNameLen                       = 64
)

// MaxHops bounds a tunnel's hops and a destination's hops setting
// (Settings.Validate); clients check settings against it before asking.
const MaxHops = 8

// Sentinel errors. Apply returns them (wrapped) as deterministic results, so
// callers on any node can test them with errors.Is.
var (
	ErrUnknownCommand = errors.New("fsm: unknown command type")
	ErrVersion        = errors.New("fsm: unsupported command version")
	ErrMalformed      = errors.New("fsm: malformed command")
	ErrInvalid        = errors.New("fsm: invalid value")
	ErrNotFound       = errors.New("fsm: not found")
	ErrExists         = errors.New("fsm: already exists")
	// ErrAddrInUse: a router added at the address of another router. It
	// is an invalid value (errors.Is(err, ErrInvalid) holds): the API
	// answers 400 and the CLI exits 2.
	ErrAddrInUse       = fmt.Errorf("%w: address in use", ErrInvalid)
	ErrStalePublish    = errors.New("fsm: published time not after the high-water mark")
	ErrBadSnapshot     = errors.New("fsm: malformed snapshot")
	ErrSnapshotVersion = errors.New("fsm: unsupported snapshot version")
)

// Command is one change to the replicated state. Encode turns it into a log
// entry; Decode reverses that.
type Command interface {
	// Type is the command's persisted type byte.
	Type() CommandType
	appendPayload(b []byte) ([]byte, error)
	readPayload(r *wire.Reader)
}

// Encode returns the log entry for c: [type u8][version u8][payload].
func Encode(c Command) ([]byte, error) {
	v := commandVersion
	if u, ok := c.(*UnknownCommand); ok {
		v = u.Version
	}
	b := []byte{byte(c.Type()), v}
	b, err := c.appendPayload(b)
	if err != nil {
		return nil, fmt.Errorf("%w: encode %s: %w", ErrInvalid, c.Type(), err) // a value too long for its field
	}
	return b, nil
}

// newCommand is the dispatch table of known command types.
func newCommand(t CommandType) Command {
	switch t {
	case CmdRouterPut:
		return &RouterPut{}
	case CmdRouterRemove:
		return &RouterRemove{}
	case CmdDestinationPut:
		return &DestinationPut{}
	case CmdDestinationSet:
		return &DestinationSet{}
	case CmdDestinationRemove:
		return &DestinationRemove{}
	case CmdTunnelRecorded:
		return &TunnelRecorded{}
	case CmdTunnelExpired:
		return &TunnelExpired{}
	case CmdTunnelsPruned:
		return &TunnelsPruned{}
	case CmdLeaseSetPublished:
		return &LeaseSetPublished{}
	case CmdFrontendPut:
		return &FrontendPut{}
	case CmdFrontendRemove:
		return &FrontendRemove{}
	case CmdSecretRotated:
		return &SecretRotated{}
	}
	return nil
}

// UnknownCommand is what Decode returns for an ignorable type it does not
// know: Apply skips it.
type UnknownCommand struct {
	T       CommandType
	Version uint8
	Payload []byte
}

// Type implements Command.
func (u *UnknownCommand) Type() CommandType { return u.T }

func (u *UnknownCommand) appendPayload(b []byte) ([]byte, error) {
	return append(b, u.Payload...), nil
}
func (u *UnknownCommand) readPayload(r *wire.Reader) { u.Payload = r.Copy("payload", r.Len()) }

// Decode parses one log entry. It is pure, never panics, and rejects
// trailing bytes, unknown non-ignorable types and unknown versions.
func Decode(b []byte) (Command, error) {
	r := wire.NewReader(b)
	t := CommandType(r.Uint8("type"))
	v := r.Uint8("version")
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	c := newCommand(t)
	if c == nil {
		if t&IgnorableFlag != 0 {
			return &UnknownCommand{T: t, Version: v, Payload: append([]byte(nil), r.Rest()...)}, nil
		}
		return nil, fmt.Errorf("%w: %d", ErrUnknownCommand, uint8(t))
	}
	if v != commandVersion {
		return nil, fmt.Errorf("%w: %s version %d", ErrVersion, t, v)
	}
	c.readPayload(r)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, t, err)
	}
	return c, nil
}

// String names the type for logs and errors.
func (t CommandType) String() string {
	names := map[CommandType]string{
		CmdRouterPut: "router-put", CmdRouterRemove: "router-remove",
		CmdDestinationPut: "destination-put", CmdDestinationSet: "destination-set",
		CmdDestinationRemove: "destination-remove", CmdTunnelRecorded: "tunnel-recorded",
		CmdTunnelExpired: "tunnel-expired", CmdTunnelsPruned: "tunnels-pruned",
		CmdLeaseSetPublished: "leaseset-published", CmdFrontendPut: "frontend-put",
		CmdFrontendRemove: "frontend-remove", CmdSecretRotated: "secret-rotated",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("command(%d)", uint8(t))
}

// RouterPut adds a router or changes its address.
// Payload: name String | addr String.
type RouterPut struct {
	Name string
	Addr string
}

// Type implements Command.
func (*RouterPut) Type() CommandType { return CmdRouterPut }

func (c *RouterPut) appendPayload(b []byte) ([]byte, error) {
	return appendStrings(b, c.Name, c.Addr)
}

func (c *RouterPut) readPayload(r *wire.Reader) {
	c.Name = r.String("name")
	c.Addr = r.String("addr")
}

// RouterRemove removes a router and every tunnel recorded on it.
// Payload: name String.
type RouterRemove struct{ Name string }

// Type implements Command.
func (*RouterRemove) Type() CommandType { return CmdRouterRemove }

func (c *RouterRemove) appendPayload(b []byte) ([]byte, error) { return appendStrings(b, c.Name) }
func (c *RouterRemove) readPayload(r *wire.Reader)             { c.Name = r.String("name") }

// DestinationPut creates a destination (imh dest create|import). It fails
// with ErrExists if the name is taken by different keys or the same
// Destination is hosted under another name; the same command applied twice
// is a no-op.
// Payload: name String | destination Blob | sealed key file Blob |
// sealed LeaseSet key Blob | LeaseSet public key Blob | settings (Settings).
type DestinationPut struct {
	Name              string
	Destination       []byte // the public Destination bytes
	SealedKeys        []byte // the private key file, sealed with the cluster key
	SealedLeaseSetKey []byte // the X25519 LeaseSet private key, sealed
	LeaseSetPublicKey []byte // its X25519 public key (32 bytes)
	Settings          Settings
}

// Type implements Command.
func (*DestinationPut) Type() CommandType { return CmdDestinationPut }

func (c *DestinationPut) appendPayload(b []byte) ([]byte, error) {
	b, err := wire.AppendString(b, c.Name)
	if err != nil {
		return b, err
	}
	for _, blob := range [][]byte{c.Destination, c.SealedKeys, c.SealedLeaseSetKey, c.LeaseSetPublicKey} {
		if b, err = appendBlob(b, blob); err != nil {
			return b, err
		}
	}
	return c.Settings.append(b)
}

func (c *DestinationPut) readPayload(r *wire.Reader) {
	c.Name = r.String("name")
	c.Destination = readBlob(r, "destination")
	c.SealedKeys = readBlob(r, "sealed keys")
	c.SealedLeaseSetKey = readBlob(r, "sealed leaseset key")
	c.LeaseSetPublicKey = readBlob(r, "leaseset public key")
	c.Settings = readSettings(r)
}

// DestinationSet changes the settings of an existing destination.
// Payload: name String | settings (Settings).
type DestinationSet struct {
	Name     string
	Settings Settings
}

// Type implements Command.
func (*DestinationSet) Type() CommandType { return CmdDestinationSet }

func (c *DestinationSet) appendPayload(b []byte) ([]byte, error) {
	b, err := wire.AppendString(b, c.Name)
	if err != nil {
		return b, err
	}
	return c.Settings.append(b)
}

func (c *DestinationSet) readPayload(r *wire.Reader) {
	c.Name = r.String("name")
	c.Settings = readSettings(r)
}

// DestinationRemove removes a destination, its tunnels and its last
// LeaseSet. Its published high-water mark is kept (keyed by Destination
// hash) so a re-import never publishes an older LeaseSet.
// Payload: name String.
type DestinationRemove struct{ Name string }

// Type implements Command.
func (*DestinationRemove) Type() CommandType { return CmdDestinationRemove }

func (c *DestinationRemove) appendPayload(b []byte) ([]byte, error) { return appendStrings(b, c.Name) }
func (c *DestinationRemove) readPayload(r *wire.Reader)             { c.Name = r.String("name") }

// TunnelRecorded records a tunnel the leader built for a destination on a
// router. Recording the same key again replaces it.
// Payload: router String | destination String | direction u8 | id u32 |
// gateway Hash | hop count u8 | hops Hash* | expires u32 (seconds).
type TunnelRecorded struct{ Tunnel Tunnel }

// Type implements Command.
func (*TunnelRecorded) Type() CommandType { return CmdTunnelRecorded }

func (c *TunnelRecorded) appendPayload(b []byte) ([]byte, error) { return c.Tunnel.append(b) }
func (c *TunnelRecorded) readPayload(r *wire.Reader)             { c.Tunnel = readTunnel(r) }

// TunnelExpired drops one tunnel; dropping an unknown tunnel is a no-op.
// Payload: router String | destination String | direction u8 | id u32.
type TunnelExpired struct{ Key TunnelKey }

// Type implements Command.
func (*TunnelExpired) Type() CommandType { return CmdTunnelExpired }

func (c *TunnelExpired) appendPayload(b []byte) ([]byte, error) { return c.Key.append(b) }
func (c *TunnelExpired) readPayload(r *wire.Reader)             { c.Key = readTunnelKey(r) }

// TunnelsPruned drops every tunnel that expires before Before (seconds), for
// a new leader cleaning up after its predecessor.
// Payload: before u32.
type TunnelsPruned struct{ Before uint32 }

// Type implements Command.
func (*TunnelsPruned) Type() CommandType { return CmdTunnelsPruned }

func (c *TunnelsPruned) appendPayload(b []byte) ([]byte, error) {
	return wire.AppendUint32(b, c.Before), nil
}
func (c *TunnelsPruned) readPayload(r *wire.Reader) { c.Before = r.Uint32("before") }

// LeaseSetPublished records the LeaseSet the leader published for a
// destination. Published must be strictly after the destination's
// high-water mark (ErrStalePublish otherwise) and equal the LeaseSet2's own
// published field; Routers names, per lease in order, the router whose
// tunnel it is.
// Payload: destination String | leaseset Blob (LeaseSet2 without the store
// type byte) | published u32 | lease count u8 | router String*.
type LeaseSetPublished struct {
	Destination string
	LeaseSet    []byte
	Published   uint32
	Routers     []string
}

// Type implements Command.
func (*LeaseSetPublished) Type() CommandType { return CmdLeaseSetPublished }

func (c *LeaseSetPublished) appendPayload(b []byte) ([]byte, error) {
	b, err := wire.AppendString(b, c.Destination)
	if err != nil {
		return b, err
	}
	if b, err = appendBlob(b, c.LeaseSet); err != nil {
		return b, err
	}
	b = wire.AppendUint32(b, c.Published)
	if len(c.Routers) > i2p.MaxLeases {
		return b, fmt.Errorf("%w: %d leases", ErrInvalid, len(c.Routers))
	}
	b = append(b, byte(len(c.Routers)))
	return appendStrings(b, c.Routers...)
}

func (c *LeaseSetPublished) readPayload(r *wire.Reader) {
	c.Destination = r.String("destination")
	c.LeaseSet = readBlob(r, "leaseset")
	c.Published = r.Uint32("published")
	n := int(r.Uint8("lease count"))
	if n > i2p.MaxLeases {
		r.Fail("lease count", fmt.Errorf("%w: %d leases", ErrInvalid, n))
		return
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		c.Routers = append(c.Routers, r.String("router"))
	}
}

// FrontendPut adds a frontend beside a router. The same frontend again is
// a no-op; it fails with ErrExists if the name is taken by a different
// address or router, or if another frontend already sits beside the router.
// The router need not exist (it may be added later).
// Payload: name String | addr String | router String.
type FrontendPut struct {
	Name   string
	Addr   string
	Router string
}

// Type implements Command.
func (*FrontendPut) Type() CommandType { return CmdFrontendPut }

func (c *FrontendPut) appendPayload(b []byte) ([]byte, error) {
	return appendStrings(b, c.Name, c.Addr, c.Router)
}

func (c *FrontendPut) readPayload(r *wire.Reader) {
	c.Name = r.String("name")
	c.Addr = r.String("addr")
	c.Router = r.String("router")
}

// FrontendRemove removes a frontend. Removing a router leaves its frontend.
// Payload: name String.
type FrontendRemove struct{ Name string }

// Type implements Command.
func (*FrontendRemove) Type() CommandType { return CmdFrontendRemove }

func (c *FrontendRemove) appendPayload(b []byte) ([]byte, error) { return appendStrings(b, c.Name) }
func (c *FrontendRemove) readPayload(r *wire.Reader)             { c.Name = r.String("name") }

func appendStrings(b []byte, ss ...string) ([]byte, error) {
	var err error
	for _, s := range ss {
		if b, err = wire.AppendString(b, s); err != nil {
			return b, err
		}
	}
	return b, nil
}

// appendBlob appends a u16 length and the bytes.
func appendBlob(b, blob []byte) ([]byte, error) {
	if len(blob) > maxBlob {
		return b, fmt.Errorf("%w: blob of %d bytes", ErrInvalid, len(blob))
	}
	b = wire.AppendUint16(b, uint16(len(blob)))
	return append(b, blob...), nil
}

func readBlob(r *wire.Reader, field string) []byte {
	n := r.Uint16(field + " length")
	return r.Copy(field, int(n))
}

package routerproto

import (
	"errors"
	"fmt"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/wire"
)

// Message is one typed frame body. Every message type of the protocol
// implements it; Decode returns one, AppendFrame encodes one.
type Message interface {
	// Type is the frame's type byte.
	Type() Type
	// AppendBody appends the body (without the 5-byte header) to b.
	AppendBody(b []byte) ([]byte, error)
}

// WireSize is the size of m's frame on the wire, header included: computed
// for a MessagePayload (the bulk of what queues hold) without encoding it,
// from the encoded body otherwise (a message that does not encode counts
// as a header). Queues use it to bound what they hold by bytes.
func WireSize(m Message) int {
	if p, ok := m.(*MessagePayload); ok {
		return HeaderLen + 10 + len(p.Payload)
	}
	b, err := m.AppendBody(nil)
	if err != nil {
		return HeaderLen
	}
	return HeaderLen + len(b)
}

// MaxPayloadLen bounds an end-to-end payload so the frame that carries it
// (SendMessage with a 391-byte Destination and all its fields) stays under
// MaxFrameLen.
const MaxPayloadLen = MaxBodyLen - 2 - i2p.MaxDestinationLen - 4 - 4 - 8 - 4 - 4

// ErrPayloadTooLarge reports a payload over MaxPayloadLen.
var ErrPayloadTooLarge = errors.New("routerproto: payload too large")

// GetDate (32, C→R) opens every session: the client's I2CP API version and,
// optionally, a Mapping with i2cp.username/i2cp.password and imh.ext=1
// (I2P-WIRE 4.2). Options nil means no mapping on the wire.
//
//	version String | [options Mapping]
type GetDate struct {
	Version string
	Options i2p.Mapping
}

// Type implements Message.
func (*GetDate) Type() Type { return TypeGetDate }

// AppendBody implements Message.
func (m *GetDate) AppendBody(b []byte) ([]byte, error) {
	b, err := wire.AppendString(b, m.Version)
	if err != nil || m.Options == nil {
		return b, err
	}
	return m.Options.AppendBinary(b)
}

func decodeGetDate(r *wire.Reader) (Message, error) {
	m := &GetDate{}
	if r.Len() == 0 {
		return m, nil // pre-0.8.7 client: empty body
	}
	m.Version = r.String("version")
	if r.Err() == nil && r.Len() > 0 {
		m.Options = readMapping(r, "options")
	}
	return m, r.Finish()
}

// SetDate (33, R→C) answers GetDate and may come again at any time when the
// router's clock shifts (I2P-WIRE 4.3).
//
//	date u64 ms | [version String]
type SetDate struct {
	Date    uint64 // router time, ms since epoch
	Version string // router API version; "" = absent
}

// Type implements Message.
func (*SetDate) Type() Type { return TypeSetDate }

// AppendBody implements Message.
func (m *SetDate) AppendBody(b []byte) ([]byte, error) {
	b = wire.AppendUint64(b, m.Date)
	if m.Version == "" {
		return b, nil
	}
	return wire.AppendString(b, m.Version)
}

func decodeSetDate(r *wire.Reader) (Message, error) {
	m := &SetDate{Date: r.Uint64("date")}
	if r.Err() == nil && r.Len() > 0 {
		m.Version = r.String("version")
	}
	return m, r.Finish()
}

// CreateSession (1, C→R): the body is a signed SessionConfig (I2P-WIRE 4.5).
// Managed sessions carry imh.managed=true and imh.term=N in its options.
type CreateSession struct {
	Config *SessionConfig
}

// Type implements Message.
func (*CreateSession) Type() Type { return TypeCreateSession }

// AppendBody implements Message.
func (m *CreateSession) AppendBody(b []byte) ([]byte, error) {
	if m.Config == nil {
		return b, fmt.Errorf("%w: no config", ErrBadSessionConfig)
	}
	return m.Config.AppendBinary(b)
}

func decodeCreateSession(r *wire.Reader) (Message, error) {
	m := &CreateSession{Config: readSessionConfig(r)}
	return m, r.Finish()
}

// ReconfigureSession (2, C→R) (I2P-WIRE 4.6).
//
//	session u16 | SessionConfig
type ReconfigureSession struct {
	SessionID uint16
	Config    *SessionConfig
}

// Type implements Message.
func (*ReconfigureSession) Type() Type { return TypeReconfigureSession }

// AppendBody implements Message.
func (m *ReconfigureSession) AppendBody(b []byte) ([]byte, error) {
	if m.Config == nil {
		return b, fmt.Errorf("%w: no config", ErrBadSessionConfig)
	}
	return m.Config.AppendBinary(wire.AppendUint16(b, m.SessionID))
}

func decodeReconfigureSession(r *wire.Reader) (Message, error) {
	m := &ReconfigureSession{SessionID: r.Uint16("session id")}
	m.Config = readSessionConfig(r)
	return m, r.Finish()
}

// SessionStatus (20, R→C) (I2P-WIRE 4.7).
//
//	session u16 | status u8
type SessionStatus struct {
	SessionID uint16
	Status    SessionStatusCode
}

// Type implements Message.
func (*SessionStatus) Type() Type { return TypeSessionStatus }

// AppendBody implements Message.
func (m *SessionStatus) AppendBody(b []byte) ([]byte, error) {
	return append(wire.AppendUint16(b, m.SessionID), byte(m.Status)), nil
}

func decodeSessionStatus(r *wire.Reader) (Message, error) {
	m := &SessionStatus{SessionID: r.Uint16("session id"), Status: SessionStatusCode(r.Uint8("status"))}
	return m, r.Finish()
}

// DestroySession (3, C→R) (I2P-WIRE 4.8).
//
//	session u16
type DestroySession struct {
	SessionID uint16
}

// Type implements Message.
func (*DestroySession) Type() Type { return TypeDestroySession }

// AppendBody implements Message.
func (m *DestroySession) AppendBody(b []byte) ([]byte, error) {
	return wire.AppendUint16(b, m.SessionID), nil
}

func decodeDestroySession(r *wire.Reader) (Message, error) {
	m := &DestroySession{SessionID: r.Uint16("session id")}
	return m, r.Finish()
}

// RequestVariableLeaseSet (37, R→C): the router's inbound leases, asking the
// client for a signed LeaseSet (I2P-WIRE 4.9). Leases are the 44-byte LS1
// form with ms end dates.
//
//	session u16 | n u8 (≤16) | n × Lease(44)
type RequestVariableLeaseSet struct {
	SessionID uint16
	Leases    []i2p.Lease
}

// Type implements Message.
func (*RequestVariableLeaseSet) Type() Type { return TypeRequestVariableLeaseSet }

// AppendBody implements Message.
func (m *RequestVariableLeaseSet) AppendBody(b []byte) ([]byte, error) {
	if len(m.Leases) > i2p.MaxLeases {
		return b, fmt.Errorf("%w: %d", i2p.ErrTooManyLeases, len(m.Leases))
	}
	b = append(wire.AppendUint16(b, m.SessionID), byte(len(m.Leases)))
	for _, l := range m.Leases {
		b = l.AppendBinary(b)
	}
	return b, nil
}

func decodeRequestVariableLeaseSet(r *wire.Reader) (Message, error) {
	m := &RequestVariableLeaseSet{SessionID: r.Uint16("session id")}
	n := int(r.Uint8("lease count"))
	if n > i2p.MaxLeases {
		return nil, fmt.Errorf("%w: %d", i2p.ErrTooManyLeases, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		m.Leases = append(m.Leases, i2p.ReadLease(r))
	}
	return m, r.Finish()
}

// LeaseSetPrivateKey is one private key of CreateLeaseSet2's key section,
// in the order of the LeaseSet2's public keys. It is a secret: String shows
// only its type.
type LeaseSetPrivateKey struct {
	Type i2p.EncType
	Key  []byte
}

// String hides the key.
func (k LeaseSetPrivateKey) String() string { return "LeaseSetPrivateKey(" + k.Type.String() + ")" }

// GoString hides the key from %#v.
func (k LeaseSetPrivateKey) GoString() string { return k.String() }

// CreateLeaseSet2 (41, C→R): a signed LeaseSet2 and the private keys of its
// encryption keys (I2P-WIRE 4.10). imh speaks store type 3 only.
//
//	session u16 | store type u8 (=3) | LeaseSet2 (with signature) |
//	k u8 | k × { encType u16 | keyLen u16 | key }
type CreateLeaseSet2 struct {
	SessionID   uint16
	LeaseSet    *i2p.LeaseSet2
	PrivateKeys []LeaseSetPrivateKey
}

// Type implements Message.
func (*CreateLeaseSet2) Type() Type { return TypeCreateLeaseSet2 }

// ErrUnsupportedStoreType reports a CreateLeaseSet2 that is not store type 3.
var ErrUnsupportedStoreType = errors.New("routerproto: only LeaseSet2 (store type 3) is supported")

// AppendBody implements Message.
func (m *CreateLeaseSet2) AppendBody(b []byte) ([]byte, error) {
	if m.LeaseSet == nil {
		return b, fmt.Errorf("%w: no leaseset", i2p.ErrBadLeaseSet)
	}
	if len(m.PrivateKeys) != len(m.LeaseSet.Keys) {
		return b, fmt.Errorf("%w: %d private keys for %d public keys", ErrMalformed, len(m.PrivateKeys), len(m.LeaseSet.Keys))
	}
	b = append(wire.AppendUint16(b, m.SessionID), i2p.StoreLeaseSet2)
	b, err := m.LeaseSet.AppendBinary(b)
	if err != nil {
		return b, err
	}
	b = append(b, byte(len(m.PrivateKeys)))
	for _, k := range m.PrivateKeys {
		if len(k.Key) > 0xFFFF {
			return b, fmt.Errorf("%w: private key of %d bytes", ErrMalformed, len(k.Key))
		}
		b = wire.AppendUint16(b, uint16(k.Type))
		b = wire.AppendUint16(b, uint16(len(k.Key)))
		b = append(b, k.Key...)
	}
	return b, nil
}

func decodeCreateLeaseSet2(r *wire.Reader) (Message, error) {
	m := &CreateLeaseSet2{SessionID: r.Uint16("session id")}
	st := r.Uint8("store type")
	if r.Err() == nil && st != i2p.StoreLeaseSet2 {
		return nil, fmt.Errorf("%w: store type %d", ErrUnsupportedStoreType, st)
	}
	n, err := leaseSet2Len(r.Rest())
	if err != nil {
		return nil, err
	}
	ls, err := i2p.ParseLeaseSet2(r.Bytes("leaseset", n))
	if err != nil {
		return nil, err
	}
	m.LeaseSet = ls
	k := int(r.Uint8("private key count"))
	if r.Err() == nil && k != len(ls.Keys) {
		return nil, fmt.Errorf("%w: %d private keys for %d public keys", ErrMalformed, k, len(ls.Keys))
	}
	for i := 0; i < k && r.Err() == nil; i++ {
		t := i2p.EncType(r.Uint16("private key type"))
		klen := int(r.Uint16("private key length"))
		if r.Err() == nil && t != ls.Keys[i].Type {
			return nil, fmt.Errorf("%w: private key %d is %s, public key is %s", ErrMalformed, i, t, ls.Keys[i].Type)
		}
		if r.Err() == nil && t.Known() && klen != t.PrivateKeyLen() {
			return nil, fmt.Errorf("%w: %s private key of %d bytes", ErrMalformed, t, klen)
		}
		m.PrivateKeys = append(m.PrivateKeys, LeaseSetPrivateKey{Type: t, Key: r.Copy("private key", klen)})
	}
	return m, r.Finish()
}

// leaseSet2Len walks a LeaseSet2 at the start of b and returns its length,
// signature included, so the key section after it can be found.
func leaseSet2Len(b []byte) (int, error) {
	d, n, err := i2p.ParseDestination(b)
	if err != nil {
		return 0, fmt.Errorf("leaseset: %w", err)
	}
	r := wire.NewReader(b[n:])
	r.Uint32("published")
	r.Uint16("expires")
	flags := r.Uint16("flags")
	signer := d.SigType()
	if r.Err() == nil && flags&i2p.FlagOffline != 0 {
		r.Uint32("offline expires")
		t := i2p.SigType(r.Uint16("transient sig type"))
		if r.Err() == nil && !t.Known() {
			return 0, fmt.Errorf("leaseset: transient %w", i2p.ErrUnknownSigType)
		}
		r.Bytes("transient key", t.PublicKeyLen())
		r.Bytes("offline signature", d.SigType().SignatureLen())
		signer = t
	}
	r.Bytes("options", int(r.Uint16("options size")))
	numk := int(r.Uint8("key count"))
	for i := 0; i < numk && r.Err() == nil; i++ {
		r.Uint16("key type")
		r.Bytes("key", int(r.Uint16("key length")))
	}
	r.Bytes("leases", i2p.Lease2Len*int(r.Uint8("lease count")))
	r.Bytes("signature", signer.SignatureLen())
	if err := r.Err(); err != nil {
		return 0, fmt.Errorf("%w: %w", i2p.ErrBadLeaseSet, err)
	}
	return n + r.Offset(), nil
}

// SendMessage (5, C→R) (I2P-WIRE 4.11).
//
//	session u16 | Destination | payload length u32 | payload | nonce u32
type SendMessage struct {
	SessionID   uint16
	Destination *i2p.Destination
	Payload     []byte // gzip-framed I2P payload (I2P-WIRE 4.18)
	Nonce       uint32 // 0 = no MessageStatus wanted
}

// Type implements Message.
func (*SendMessage) Type() Type { return TypeSendMessage }

// AppendBody implements Message.
func (m *SendMessage) AppendBody(b []byte) ([]byte, error) {
	b, err := appendSend(wire.AppendUint16(b, m.SessionID), m.Destination, m.Payload)
	if err != nil {
		return b, err
	}
	return wire.AppendUint32(b, m.Nonce), nil
}

func appendSend(b []byte, d *i2p.Destination, payload []byte) ([]byte, error) {
	if d == nil {
		return b, fmt.Errorf("%w: no destination", ErrMalformed)
	}
	if len(payload) > MaxPayloadLen {
		return b, fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(payload))
	}
	b = append(b, d.Bytes()...)
	b = wire.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...), nil
}

func readDestination(r *wire.Reader, field string) *i2p.Destination {
	if r.Err() != nil {
		return nil
	}
	d, n, err := i2p.ParseDestination(r.Rest())
	if err != nil {
		r.Fail(field, err)
		return nil
	}
	r.Bytes(field, n)
	return d
}

func readMapping(r *wire.Reader, field string) i2p.Mapping {
	if r.Err() != nil {
		return nil
	}
	m, n, err := i2p.ParseMapping(r.Rest())
	if err != nil {
		r.Fail(field, err)
		return nil
	}
	r.Bytes(field, n)
	return m
}

func readPayload(r *wire.Reader) []byte {
	n := r.Uint32("payload length")
	if r.Err() == nil && uint64(n) > uint64(r.Len()) {
		r.Fail("payload", fmt.Errorf("%w: need %d bytes, have %d", wire.ErrShort, n, r.Len()))
		return nil
	}
	return r.Copy("payload", int(n))
}

func decodeSendMessage(r *wire.Reader) (Message, error) {
	m := &SendMessage{SessionID: r.Uint16("session id")}
	m.Destination = readDestination(r, "destination")
	m.Payload = readPayload(r)
	m.Nonce = r.Uint32("nonce")
	return m, r.Finish()
}

// SendMessageExpires (36, C→R): SendMessage plus flags and a 48-bit
// expiration in ms (I2P-WIRE 4.12).
//
//	SendMessage fields | flags u16 | expiration u48 ms
type SendMessageExpires struct {
	SendMessage
	Flags      uint16
	Expiration uint64 // ms since epoch, low 48 bits on the wire; 0 = none
}

// Type implements Message.
func (*SendMessageExpires) Type() Type { return TypeSendMessageExpires }

// AppendBody implements Message.
func (m *SendMessageExpires) AppendBody(b []byte) ([]byte, error) {
	b, err := m.SendMessage.AppendBody(b)
	if err != nil {
		return b, err
	}
	if m.Expiration >= 1<<48 {
		return b, fmt.Errorf("%w: expiration %d does not fit 48 bits", ErrMalformed, m.Expiration)
	}
	b = wire.AppendUint16(b, m.Flags)
	return wire.AppendUint48(b, m.Expiration), nil
}

func decodeSendMessageExpires(r *wire.Reader) (Message, error) {
	m := &SendMessageExpires{}
	m.SessionID = r.Uint16("session id")
	m.Destination = readDestination(r, "destination")
	m.Payload = readPayload(r)
	m.Nonce = r.Uint32("nonce")
	m.Flags = r.Uint16("flags")
	m.Expiration = r.Uint48("expiration")
	return m, r.Finish()
}

// MessageStatus (22, R→C) (I2P-WIRE 4.13).
//
//	session u16 | message id u32 | status u8 | size u32 | nonce u32
type MessageStatus struct {
	SessionID uint16
	MessageID uint32
	Status    MessageStatusCode
	Size      uint32
	Nonce     uint32
}

// Type implements Message.
func (*MessageStatus) Type() Type { return TypeMessageStatus }

// AppendBody implements Message.
func (m *MessageStatus) AppendBody(b []byte) ([]byte, error) {
	b = wire.AppendUint16(b, m.SessionID)
	b = wire.AppendUint32(b, m.MessageID)
	b = append(b, byte(m.Status))
	b = wire.AppendUint32(b, m.Size)
	return wire.AppendUint32(b, m.Nonce), nil
}

func decodeMessageStatus(r *wire.Reader) (Message, error) {
	m := &MessageStatus{SessionID: r.Uint16("session id"), MessageID: r.Uint32("message id")}
	m.Status = MessageStatusCode(r.Uint8("status"))
	m.Size = r.Uint32("size")
	m.Nonce = r.Uint32("nonce")
	return m, r.Finish()
}

// MessagePayload (31, R→C) (I2P-WIRE 4.14).
//
//	session u16 | message id u32 | payload length u32 | payload
type MessagePayload struct {
	SessionID uint16
	MessageID uint32
	Payload   []byte
}

// Type implements Message.
func (*MessagePayload) Type() Type { return TypeMessagePayload }

// AppendBody implements Message.
func (m *MessagePayload) AppendBody(b []byte) ([]byte, error) {
	if len(m.Payload) > MaxBodyLen-10 {
		return b, fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(m.Payload))
	}
	b = wire.AppendUint16(b, m.SessionID)
	b = wire.AppendUint32(b, m.MessageID)
	b = wire.AppendUint32(b, uint32(len(m.Payload)))
	return append(b, m.Payload...), nil
}

func decodeMessagePayload(r *wire.Reader) (Message, error) {
	m := &MessagePayload{SessionID: r.Uint16("session id"), MessageID: r.Uint32("message id")}
	m.Payload = readPayload(r)
	return m, r.Finish()
}

// Disconnect (30, both directions): the reason a side is closing the
// connection (I2P-WIRE 4.15). Reasons over 255 bytes are cut by NewDisconnect.
//
//	reason String
type Disconnect struct {
	Reason string
}

// NewDisconnect builds a Disconnect, cutting the reason to 255 bytes.
func NewDisconnect(reason string) *Disconnect {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	return &Disconnect{Reason: reason}
}

// Type implements Message.
func (*Disconnect) Type() Type { return TypeDisconnect }

// AppendBody implements Message.
func (m *Disconnect) AppendBody(b []byte) ([]byte, error) { return wire.AppendString(b, m.Reason) }

func decodeDisconnect(r *wire.Reader) (Message, error) {
	m := &Disconnect{Reason: r.String("reason")}
	return m, r.Finish()
}

// Host lookup types (I2P-WIRE 4.16).
const (
	LookupHash            uint8 = 0
	LookupHostname        uint8 = 1
	LookupHashOptions     uint8 = 2
	LookupHostnameOptions uint8 = 3
	LookupDestOptions     uint8 = 4
)

// HostLookup (38, C→R) (I2P-WIRE 4.16). The key is Hash (types 0, 2),
// Hostname (1, 3) or Destination (4).
//
//	session u16 | request id u32 | timeout u32 ms | type u8 | key
type HostLookup struct {
	SessionID   uint16
	RequestID   uint32
	TimeoutMs   uint32
	LookupType  uint8
	Hash        i2p.Hash
	Hostname    string
	Destination *i2p.Destination
}

// Type implements Message.
func (*HostLookup) Type() Type { return TypeHostLookup }

// AppendBody implements Message.
func (m *HostLookup) AppendBody(b []byte) ([]byte, error) {
	b = wire.AppendUint16(b, m.SessionID)
	b = wire.AppendUint32(b, m.RequestID)
	b = wire.AppendUint32(b, m.TimeoutMs)
	b = append(b, m.LookupType)
	switch m.LookupType {
	case LookupHash, LookupHashOptions:
		return append(b, m.Hash[:]...), nil
	case LookupHostname, LookupHostnameOptions:
		return wire.AppendString(b, m.Hostname)
	case LookupDestOptions:
		if m.Destination == nil {
			return b, fmt.Errorf("%w: lookup type 4 without destination", ErrMalformed)
		}
		return append(b, m.Destination.Bytes()...), nil
	}
	return b, fmt.Errorf("%w: lookup type %d", ErrMalformed, m.LookupType)
}

func decodeHostLookup(r *wire.Reader) (Message, error) {
	m := &HostLookup{SessionID: r.Uint16("session id"), RequestID: r.Uint32("request id")}
	m.TimeoutMs = r.Uint32("timeout")
	m.LookupType = r.Uint8("lookup type")
	if err := r.Err(); err != nil {
		return nil, err
	}
	switch m.LookupType {
	case LookupHash, LookupHashOptions:
		copy(m.Hash[:], r.Bytes("hash", i2p.HashLen))
	case LookupHostname, LookupHostnameOptions:
		m.Hostname = r.String("hostname")
	case LookupDestOptions:
		m.Destination = readDestination(r, "destination")
	default:
		return nil, fmt.Errorf("%w: lookup type %d", ErrMalformed, m.LookupType)
	}
	return m, r.Finish()
}

// HostReply result codes (I2P-WIRE 4.16).
const (
	HostOK                 uint8 = 0
	HostFailed             uint8 = 1
	HostLookupUnsupported  uint8 = 7
	HostLeaseSetLookupFail uint8 = 6
)

// HostReply (39, R→C) (I2P-WIRE 4.16). Destination is present when Result
// is 0 (and may be for 6); Options only for lookup types 2–4 (nil = absent).
//
//	session u16 | request id u32 | result u8 | [Destination] | [options Mapping]
type HostReply struct {
	SessionID   uint16
	RequestID   uint32
	Result      uint8
	Destination *i2p.Destination
	Options     i2p.Mapping
}

// Type implements Message.
func (*HostReply) Type() Type { return TypeHostReply }

// AppendBody implements Message.
func (m *HostReply) AppendBody(b []byte) ([]byte, error) {
	b = wire.AppendUint16(b, m.SessionID)
	b = wire.AppendUint32(b, m.RequestID)
	b = append(b, m.Result)
	if m.Destination == nil && m.Result == HostOK {
		return b, fmt.Errorf("%w: host reply ok without destination", ErrMalformed)
	}
	if m.Destination != nil {
		b = append(b, m.Destination.Bytes()...)
	}
	if m.Options == nil {
		return b, nil
	}
	if m.Destination == nil {
		return b, fmt.Errorf("%w: host reply options without destination", ErrMalformed)
	}
	return m.Options.AppendBinary(b)
}

func decodeHostReply(r *wire.Reader) (Message, error) {
	m := &HostReply{SessionID: r.Uint16("session id"), RequestID: r.Uint32("request id")}
	m.Result = r.Uint8("result")
	if r.Err() == nil && (m.Result == HostOK || r.Len() > 0) {
		m.Destination = readDestination(r, "destination")
	}
	if r.Err() == nil && r.Len() > 0 {
		m.Options = readMapping(r, "options")
	}
	return m, r.Finish()
}

// GetBandwidthLimits (8, C→R): empty body (I2P-WIRE 4.17).
type GetBandwidthLimits struct{}

// Type implements Message.
func (*GetBandwidthLimits) Type() Type { return TypeGetBandwidthLimits }

// AppendBody implements Message.
func (*GetBandwidthLimits) AppendBody(b []byte) ([]byte, error) { return b, nil }

func decodeGetBandwidthLimits(r *wire.Reader) (Message, error) {
	return &GetBandwidthLimits{}, r.Finish()
}

// BandwidthLimits (23, R→C): 16 × u32 (I2P-WIRE 4.17): client in, client
// out (KBps), router in, router in burst, router out, router out burst,
// router burst seconds, then 9 undefined.
type BandwidthLimits struct {
	Limits [16]uint32
}

// Type implements Message.
func (*BandwidthLimits) Type() Type { return TypeBandwidthLimits }

// AppendBody implements Message.
func (m *BandwidthLimits) AppendBody(b []byte) ([]byte, error) {
	for _, v := range m.Limits {
		b = wire.AppendUint32(b, v)
	}
	return b, nil
}

func decodeBandwidthLimits(r *wire.Reader) (Message, error) {
	m := &BandwidthLimits{}
	for i := range m.Limits {
		m.Limits[i] = r.Uint32("limit")
	}
	return m, r.Finish()
}

// Unknown is what Decode returns, with ErrUnknownType, for a type number it
// does not know: the raw body, so a caller may skip it (as i2pd does) or
// refuse it (as Java does).
type Unknown struct {
	T    Type
	Body []byte
}

// Type implements Message.
func (m *Unknown) Type() Type { return m.T }

// AppendBody implements Message.
func (m *Unknown) AppendBody(b []byte) ([]byte, error) { return append(b, m.Body...), nil }

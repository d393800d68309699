package i2p

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/imh-project/imh/internal/wire"
)

// Store types: the byte that names a netDb entry and prefixes LS2-family
// signed data (I2P-WIRE 3.3).
const (
	StoreRouterInfo = 0
	StoreLeaseSet   = 1
	StoreLeaseSet2  = 3
)

// Limits of a LeaseSet2 (I2P-WIRE 6.6).
const (
	MaxLeases         = 16
	MaxEncryptionKeys = 8
	LeaseLen          = 44
	Lease2Len         = 40
)

// LeaseSet2 flag bits (I2P-WIRE 6.4).
const (
	FlagOffline     = 0x0001
	FlagUnpublished = 0x0002
	FlagBlinded     = 0x0004
)

// Errors callers test for.
var (
	ErrBadLeaseSet   = errors.New("i2p: malformed leaseset")
	ErrTooManyLeases = errors.New("i2p: more than 16 leases")
)

// Lease is the LS1 form (44 bytes, end in milliseconds) that
// RequestVariableLeaseSet carries.
type Lease struct {
	Gateway  Hash
	TunnelID uint32
	EndMs    uint64
}

// Lease2 is the LeaseSet2 lease (40 bytes, end in seconds).
type Lease2 struct {
	Gateway  Hash
	TunnelID uint32
	End      uint32
}

// ToLease2 converts ms to s by integer division, as Java does.
func (l Lease) ToLease2() Lease2 {
	return Lease2{Gateway: l.Gateway, TunnelID: l.TunnelID, End: uint32(l.EndMs / 1000)}
}

// ToLease converts a Lease2 to the LS1 form.
func (l Lease2) ToLease() Lease {
	return Lease{Gateway: l.Gateway, TunnelID: l.TunnelID, EndMs: uint64(l.End) * 1000}
}

// AppendBinary appends the 44-byte encoding.
func (l Lease) AppendBinary(b []byte) []byte {
	b = append(b, l.Gateway[:]...)
	b = wire.AppendUint32(b, l.TunnelID)
	return wire.AppendUint64(b, l.EndMs)
}

// ReadLease reads a 44-byte lease.
func ReadLease(r *wire.Reader) Lease {
	var l Lease
	copy(l.Gateway[:], r.Bytes("lease gateway", HashLen))
	l.TunnelID = r.Uint32("lease tunnel id")
	l.EndMs = r.Uint64("lease end")
	return l
}

// AppendBinary appends the 40-byte encoding.
func (l Lease2) AppendBinary(b []byte) []byte {
	b = append(b, l.Gateway[:]...)
	b = wire.AppendUint32(b, l.TunnelID)
	return wire.AppendUint32(b, l.End)
}

// ReadLease2 reads a 40-byte lease.
func ReadLease2(r *wire.Reader) Lease2 {
	var l Lease2
	copy(l.Gateway[:], r.Bytes("lease2 gateway", HashLen))
	l.TunnelID = r.Uint32("lease2 tunnel id")
	l.End = r.Uint32("lease2 end")
	return l
}

// EncryptionKey is one public key section of a LeaseSet2.
type EncryptionKey struct {
	Type EncType
	Key  []byte
}

// OfflineSignature is the optional block that lets a transient key sign the
// LeaseSet2 (I2P-WIRE 6.5).
type OfflineSignature struct {
	Expires       uint32
	TransientType SigType
	TransientKey  []byte
	Signature     []byte // by the Destination's key
}

// LeaseSet2 is a store-type-3 LeaseSet (I2P-WIRE 6.6). Build one, Sign it,
// then MarshalBinary; or ParseLeaseSet2 and Verify.
type LeaseSet2 struct {
	Destination *Destination
	Published   uint32 // seconds since epoch; the version floodfills compare
	Expires     uint16 // seconds after Published
	Flags       uint16
	Offline     *OfflineSignature
	Options     Mapping
	Keys        []EncryptionKey
	Leases      []Lease2
	Signature   []byte

	// rawOptions holds the options exactly as received and parsedOptions
	// what they decoded to. While Options still equals parsedOptions the
	// received bytes are re-encoded, so a parsed LeaseSet2 with unsorted
	// options verifies over the bytes its signer signed (as i2pd does) and
	// re-marshals to the same bytes, yet any change to a field is always
	// reflected in what is encoded and verified.
	rawOptions    []byte
	parsedOptions Mapping
}

// ParseLeaseSet2 decodes a LeaseSet2 (without the leading store-type byte)
// that must fill b exactly. It checks structure, not signature or time.
func ParseLeaseSet2(b []byte) (*LeaseSet2, error) {
	d, n, err := ParseDestination(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadLeaseSet, err)
	}
	ls := &LeaseSet2{Destination: d}
	r := wire.NewReader(b[n:])
	ls.Published = r.Uint32("published")
	ls.Expires = r.Uint16("expires")
	ls.Flags = r.Uint16("flags")
	signer := d.sigType
	if r.Err() == nil && ls.Flags&FlagOffline != 0 {
		ls.Offline = readOfflineSignature(r, d.sigType)
		if ls.Offline != nil {
			signer = ls.Offline.TransientType
		}
	}
	if err := ls.readBody(r); err != nil {
		return nil, err
	}
	ls.Signature = r.Copy("signature", signer.SignatureLen())
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadLeaseSet, err)
	}
	return ls, nil
}

func readOfflineSignature(r *wire.Reader, destType SigType) *OfflineSignature {
	o := &OfflineSignature{Expires: r.Uint32("offline expires")}
	o.TransientType = SigType(r.Uint16("transient sig type"))
	if r.Err() == nil && !o.TransientType.Known() {
		r.Fail("transient sig type", ErrUnknownSigType)
		return nil
	}
	o.TransientKey = r.Copy("transient key", o.TransientType.PublicKeyLen())
	o.Signature = r.Copy("offline signature", destType.SignatureLen())
	return o
}

func (ls *LeaseSet2) readBody(r *wire.Reader) error {
	if err := r.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadLeaseSet, err)
	}
	opts, n, err := ParseMapping(r.Rest())
	if err != nil {
		return fmt.Errorf("%w: options: %w", ErrBadLeaseSet, err)
	}
	ls.rawOptions = r.Copy("options", n)
	ls.Options = opts
	ls.parsedOptions = maps.Clone(opts)
	numk := int(r.Uint8("key count"))
	if r.Err() == nil && (numk == 0 || numk > MaxEncryptionKeys) {
		return fmt.Errorf("%w: %d encryption keys", ErrBadLeaseSet, numk)
	}
	for i := 0; i < numk && r.Err() == nil; i++ {
		t := EncType(r.Uint16("key type"))
		klen := int(r.Uint16("key length"))
		if r.Err() == nil && t.Known() && klen != t.PublicKeyLen() {
			return fmt.Errorf("%w: %s key of %d bytes", ErrBadLeaseSet, t, klen)
		}
		ls.Keys = append(ls.Keys, EncryptionKey{Type: t, Key: r.Copy("key", klen)})
	}
	num := int(r.Uint8("lease count"))
	if r.Err() == nil && num > MaxLeases {
		return fmt.Errorf("%w: %d", ErrTooManyLeases, num)
	}
	if r.Err() == nil && num > 0 {
		ls.Leases = make([]Lease2, 0, num)
	}
	for i := 0; i < num && r.Err() == nil; i++ {
		ls.Leases = append(ls.Leases, ReadLease2(r))
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadLeaseSet, err)
	}
	return nil
}

// appendUnsigned appends everything the signature covers, without the
// leading store-type byte.
func (ls *LeaseSet2) appendUnsigned(b []byte) ([]byte, error) {
	if ls.Destination == nil {
		return b, fmt.Errorf("%w: no destination", ErrBadLeaseSet)
	}
	if len(ls.Leases) > MaxLeases {
		return b, fmt.Errorf("%w: %d", ErrTooManyLeases, len(ls.Leases))
	}
	if len(ls.Keys) == 0 || len(ls.Keys) > MaxEncryptionKeys {
		return b, fmt.Errorf("%w: %d encryption keys", ErrBadLeaseSet, len(ls.Keys))
	}
	if (ls.Flags&FlagOffline != 0) != (ls.Offline != nil) {
		return b, fmt.Errorf("%w: offline flag and block disagree", ErrBadLeaseSet)
	}
	b = append(b, ls.Destination.raw...)
	b = wire.AppendUint32(b, ls.Published)
	b = wire.AppendUint16(b, ls.Expires)
	b = wire.AppendUint16(b, ls.Flags)
	if o := ls.Offline; o != nil {
		b = append(b, o.SignedBytes()...)
		b = append(b, o.Signature...)
	}
	var err error
	if ls.rawOptions != nil && maps.Equal(ls.Options, ls.parsedOptions) {
		b = append(b, ls.rawOptions...)
	} else if b, err = ls.Options.AppendBinary(b); err != nil {
		return b, fmt.Errorf("leaseset options: %w", err)
	}
	b = append(b, byte(len(ls.Keys)))
	for _, k := range ls.Keys {
		if len(k.Key) > 0xFFFF {
			return b, fmt.Errorf("%w: key of %d bytes", ErrBadLeaseSet, len(k.Key))
		}
		b = wire.AppendUint16(b, uint16(k.Type))
		b = wire.AppendUint16(b, uint16(len(k.Key)))
		b = append(b, k.Key...)
	}
	b = append(b, byte(len(ls.Leases)))
	for _, l := range ls.Leases {
		b = l.AppendBinary(b)
	}
	return b, nil
}

// SignedBytes is what the signature covers: 0x03 followed by the LeaseSet2
// up to the signature. For an unchanged parsed LeaseSet2 these are the
// received bytes.
func (ls *LeaseSet2) SignedBytes() ([]byte, error) {
	return ls.appendUnsigned(append(make([]byte, 0, ls.sizeHint()), StoreLeaseSet2))
}

// sizeHint estimates the encoded size, so encoding allocates once.
func (ls *LeaseSet2) sizeHint() int {
	n := 1 + 8 + 2 + len(ls.rawOptions) + 1 + 1 + Lease2Len*len(ls.Leases) + 132
	if ls.Destination != nil {
		n += ls.Destination.Len()
	}
	if o := ls.Offline; o != nil {
		n += 6 + len(o.TransientKey) + len(o.Signature)
	}
	for _, k := range ls.Keys {
		n += 4 + len(k.Key)
	}
	for k, v := range ls.Options {
		n += 4 + len(k) + len(v)
	}
	return n
}

// Sign signs the LeaseSet2 with the Destination's key.
func (ls *LeaseSet2) Sign(k *PrivateKeys) error {
	if !ls.Destination.Equal(k.Destination()) {
		return fmt.Errorf("%w: signing keys belong to another destination", ErrBadLeaseSet)
	}
	ls.rawOptions, ls.parsedOptions = nil, nil
	msg, err := ls.SignedBytes()
	if err != nil {
		return err
	}
	sig, err := k.Sign(msg)
	if err != nil {
		return err
	}
	ls.Signature = sig
	return nil
}

// Verify checks the signature, and for offline-signed LeaseSets the
// Destination's signature over the transient key. It ignores time.
func (ls *LeaseSet2) Verify() error {
	msg, err := ls.SignedBytes()
	if err != nil {
		return err
	}
	if o := ls.Offline; o != nil {
		if err := o.Verify(ls.Destination); err != nil {
			return err
		}
		return VerifySignature(o.TransientType, o.TransientKey, msg, ls.Signature)
	}
	return ls.Destination.Verify(msg, ls.Signature)
}

// AppendBinary appends the signed LeaseSet2 (without the store-type byte).
func (ls *LeaseSet2) AppendBinary(b []byte) ([]byte, error) {
	if len(ls.Signature) == 0 {
		return b, fmt.Errorf("%w: not signed", ErrBadLeaseSet)
	}
	msg, err := ls.SignedBytes()
	if err != nil {
		return b, err
	}
	if b == nil {
		// MarshalBinary: reuse the signed buffer, dropping the type byte.
		return append(msg[1:], ls.Signature...), nil
	}
	b = append(b, msg[1:]...)
	return append(b, ls.Signature...), nil
}

// MarshalBinary returns the signed LeaseSet2 (without the store-type byte).
func (ls *LeaseSet2) MarshalBinary() ([]byte, error) { return ls.AppendBinary(nil) }

// ExpiresAt is published + expires, in seconds since epoch.
func (ls *LeaseSet2) ExpiresAt() uint32 { return ls.Published + uint32(ls.Expires) }

// TimeStatus says whether a LeaseSet is usable at a given time.
type TimeStatus string

// Time statuses reported by LeaseSet2.TimeStatus (and `imh leaseset inspect`).
const (
	TimeOK          TimeStatus = "ok"
	TimeExpired     TimeStatus = "expired"
	TimeNotYetValid TimeStatus = "not_yet_valid"
)

// MaxFutureSkew is how far ahead of now a LeaseSet may expire, as i2pd
// enforces (12 minutes).
const MaxFutureSkew = 12 * time.Minute

// TimeStatus checks the LeaseSet against now: expired once its expiry (or
// its offline key's) has passed; not yet valid if published in the future
// or expiring further ahead than routers accept.
func (ls *LeaseSet2) TimeStatus(now time.Time) TimeStatus {
	t := now.Unix()
	expires := int64(ls.Published) + int64(ls.Expires) // no u32 wrap near 2106
	switch {
	case expires <= t:
		return TimeExpired
	case ls.Offline != nil && int64(ls.Offline.Expires) <= t:
		return TimeExpired
	case int64(ls.Published) > t+60:
		return TimeNotYetValid
	case expires > t+int64(MaxFutureSkew/time.Second):
		return TimeNotYetValid
	}
	return TimeOK
}

package streaming

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/imh-project/imh/i2p"
)

// Flags is the 16-bit flag field of a streaming packet (streaming spec,
// "Flags"). The bit numbers are wire format and never change.
type Flags uint16

// Flag bits, bit 0 being the least significant. The option data follows the
// order of the bits that carry options: DELAY_REQUESTED, FROM_INCLUDED,
// MAX_PACKET_SIZE_INCLUDED, OFFLINE_SIGNATURE, SIGNATURE_INCLUDED.
const (
	FlagSYN             Flags = 1 << 0
	FlagClose           Flags = 1 << 1
	FlagReset           Flags = 1 << 2
	FlagSignature       Flags = 1 << 3
	FlagSigRequested    Flags = 1 << 4
	FlagFrom            Flags = 1 << 5
	FlagDelay           Flags = 1 << 6
	FlagMaxPacketSize   Flags = 1 << 7
	FlagInteractive     Flags = 1 << 8
	FlagEcho            Flags = 1 << 9
	FlagNoAck           Flags = 1 << 10
	FlagOfflineSig      Flags = 1 << 11
	flagsWithOptionData       = FlagSignature | FlagFrom | FlagDelay | FlagMaxPacketSize | FlagOfflineSig
)

// Has reports whether all bits of f2 are set.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// Wire limits of the packet format.
const (
	// HeaderLen is the fixed part of a packet without NACKs or options:
	// 4 ids/numbers of 4 bytes, NACK count, resend delay, flags, option size.
	HeaderLen = 4*4 + 1 + 1 + 2 + 2
	// MaxNACKs is what the one-byte NACK count can carry.
	MaxNACKs = 255
	// synTargetWords is the NACK count of a SYN that carries the target's
	// hash (newer i2pd and Java) instead of NACKs.
	synTargetWords = i2p.HashLen / 4
	// MaxPacketLen bounds a packet: one I2CP payload is at most 64 KiB.
	MaxPacketLen = i2p.MaxPayloadData
	// chokeDelay is the smallest DELAY_REQUESTED value that means "choked":
	// the receiver's buffer is full, stop sending new data.
	chokeDelay = 60001
	// offlineFixedLen is expires(4) and transient sig type(2).
	offlineFixedLen = 6
)

// ErrBadPacket reports bytes that are not a well-formed streaming packet.
var ErrBadPacket = errors.New("streaming: malformed packet")

// Packet is one I2P streaming packet (I2CP protocol 6), layout:
//
//	sendStreamId(4) receiveStreamId(4) sequenceNum(4) ackThrough(4)
//	nackCount(1) nacks(4*n) resendDelay(1) flags(2) optionSize(2)
//	options(optionSize) payload(rest)
//
// Options appear in flag-bit order: DELAY_REQUESTED(2), FROM(Destination),
// MAX_PACKET_SIZE(2), OFFLINE_SIGNATURE(expires 4 | type 2 | key | sig),
// SIGNATURE(rest of the option block). Flags is the source of truth for the
// presence of options; Marshal refuses a field that disagrees with it.
type Packet struct {
	SendStreamID uint32
	RecvStreamID uint32
	Seq          uint32
	AckThrough   uint32
	NACKs        []uint32
	// Target is the 8-word NACK field of a SYN: the hash of the Destination
	// the SYN is for (newer routers). Nil when absent. Never read as NACKs.
	Target      *i2p.Hash
	ResendDelay uint8
	Flags       Flags
	Delay       uint16
	From        *i2p.Destination
	MaxSize     uint16
	Offline     *i2p.OfflineSignature
	Signature   []byte
	Payload     []byte

	sigOff int // offset of Signature in the bytes it was parsed from
}

// IsPlainAck reports a packet that only acknowledges: sequence 0 without
// SYN. It is never acked itself.
func (p *Packet) IsPlainAck() bool { return p.Seq == 0 && !p.Flags.Has(FlagSYN) }

// MarshalBinary encodes the packet.
func (p *Packet) MarshalBinary() ([]byte, error) { return p.AppendBinary(nil) }

// AppendBinary appends the encoding of p to b.
func (p *Packet) AppendBinary(b []byte) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint32(b, p.SendStreamID)
	b = binary.BigEndian.AppendUint32(b, p.RecvStreamID)
	b = binary.BigEndian.AppendUint32(b, p.Seq)
	b = binary.BigEndian.AppendUint32(b, p.AckThrough)
	b = p.appendNACKs(b)
	b = append(b, p.ResendDelay)
	b = binary.BigEndian.AppendUint16(b, uint16(p.Flags))
	b = binary.BigEndian.AppendUint16(b, uint16(p.optionLen()))
	b = p.appendOptions(b)
	return append(b, p.Payload...), nil
}

// check validates the fields against the flags and the wire limits.
func (p *Packet) check() error {
	switch {
	case len(p.NACKs) > MaxNACKs:
		return fmt.Errorf("%w: %d nacks", ErrBadPacket, len(p.NACKs))
	case p.Target != nil && (!p.Flags.Has(FlagSYN) || len(p.NACKs) > 0):
		return fmt.Errorf("%w: target hash only on a SYN without nacks", ErrBadPacket)
	case p.Flags.Has(FlagFrom) != (p.From != nil):
		return fmt.Errorf("%w: FROM flag and field disagree", ErrBadPacket)
	case p.Flags.Has(FlagOfflineSig) != (p.Offline != nil):
		return fmt.Errorf("%w: OFFLINE_SIGNATURE flag and field disagree", ErrBadPacket)
	case p.Offline != nil && p.From == nil:
		return fmt.Errorf("%w: offline signature without FROM", ErrBadPacket)
	case p.Flags.Has(FlagSignature) != (len(p.Signature) > 0):
		return fmt.Errorf("%w: SIGNATURE flag and field disagree", ErrBadPacket)
	case p.optionLen() > 0xFFFF || HeaderLen+4*len(p.NACKs)+p.optionLen()+len(p.Payload) > MaxPacketLen:
		return fmt.Errorf("%w: packet too large", ErrBadPacket)
	}
	if o := p.Offline; o != nil {
		if len(o.TransientKey) != o.TransientType.PublicKeyLen() || len(o.Signature) != p.From.SigType().SignatureLen() {
			return fmt.Errorf("%w: offline block lengths", ErrBadPacket)
		}
	}
	return nil
}

func (p *Packet) appendNACKs(b []byte) []byte {
	if p.Target != nil {
		b = append(b, synTargetWords)
		return append(b, p.Target[:]...)
	}
	b = append(b, byte(len(p.NACKs)))
	for _, n := range p.NACKs {
		b = binary.BigEndian.AppendUint32(b, n)
	}
	return b
}

func (p *Packet) optionLen() int {
	n := 0
	if p.Flags.Has(FlagDelay) {
		n += 2
	}
	if p.From != nil {
		n += p.From.Len()
	}
	if p.Flags.Has(FlagMaxPacketSize) {
		n += 2
	}
	if o := p.Offline; o != nil {
		n += offlineFixedLen + len(o.TransientKey) + len(o.Signature)
	}
	return n + len(p.Signature)
}

func (p *Packet) appendOptions(b []byte) []byte {
	if p.Flags.Has(FlagDelay) {
		b = binary.BigEndian.AppendUint16(b, p.Delay)
	}
	if p.From != nil {
		b = append(b, p.From.Bytes()...)
	}
	if p.Flags.Has(FlagMaxPacketSize) {
		b = binary.BigEndian.AppendUint16(b, p.MaxSize)
	}
	if o := p.Offline; o != nil {
		b = append(b, o.SignedBytes()...)
		b = append(b, o.Signature...)
	}
	return append(b, p.Signature...)
}

// UnmarshalBinary decodes a whole packet. The packet keeps references into
// b for its payload, so the caller must not reuse b.
func (p *Packet) UnmarshalBinary(b []byte) error {
	q, err := ParsePacket(b)
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

// ParsePacket decodes a whole packet. It is pure and never panics; every
// length is checked against what remains. Payload aliases b.
func ParsePacket(b []byte) (*Packet, error) {
	if len(b) > MaxPacketLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadPacket, len(b))
	}
	if len(b) < HeaderLen {
		return nil, fmt.Errorf("%w: %d bytes, header needs %d", ErrBadPacket, len(b), HeaderLen)
	}
	p := &Packet{
		SendStreamID: binary.BigEndian.Uint32(b[0:]),
		RecvStreamID: binary.BigEndian.Uint32(b[4:]),
		Seq:          binary.BigEndian.Uint32(b[8:]),
		AckThrough:   binary.BigEndian.Uint32(b[12:]),
	}
	rest, err := p.parseNACKs(b[16:])
	if err != nil {
		return nil, err
	}
	if len(rest) < 5 {
		return nil, fmt.Errorf("%w: short after nacks", ErrBadPacket)
	}
	p.ResendDelay = rest[0]
	p.Flags = Flags(binary.BigEndian.Uint16(rest[1:]))
	optLen := int(binary.BigEndian.Uint16(rest[3:]))
	rest = rest[5:]
	if optLen > len(rest) {
		return nil, fmt.Errorf("%w: option size %d, %d bytes left", ErrBadPacket, optLen, len(rest))
	}
	optStart := len(b) - len(rest)
	if err := p.parseOptions(rest[:optLen], optStart); err != nil {
		return nil, err
	}
	if len(rest) > optLen {
		p.Payload = rest[optLen:]
	}
	return p, nil
}

func (p *Packet) parseNACKs(b []byte) ([]byte, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: no nack count", ErrBadPacket)
	}
	n := int(b[0])
	b = b[1:]
	if len(b) < 4*n {
		return nil, fmt.Errorf("%w: %d nacks, %d bytes left", ErrBadPacket, n, len(b))
	}
	if n > 0 && isSYNFlags(b[4*n:]) {
		if n != synTargetWords {
			return nil, fmt.Errorf("%w: SYN with %d nack words (want 0 or 8)", ErrBadPacket, n)
		}
		var h i2p.Hash
		copy(h[:], b)
		p.Target = &h
		return b[4*n:], nil
	}
	if n > 0 {
		p.NACKs = make([]uint32, n)
		for i := range n {
			p.NACKs[i] = binary.BigEndian.Uint32(b[4*i:])
		}
	}
	return b[4*n:], nil
}

// isSYNFlags peeks at the flags that follow the NACKs (resend delay first).
func isSYNFlags(b []byte) bool {
	return len(b) >= 3 && Flags(binary.BigEndian.Uint16(b[1:])).Has(FlagSYN)
}

// parseOptions reads the option block o, which starts at offset off of the
// packet; the signature is whatever follows the other options.
func (p *Packet) parseOptions(o []byte, off int) error {
	used := 0
	take := func(n int) ([]byte, error) {
		if n < 0 || n > len(o)-used {
			return nil, fmt.Errorf("%w: options truncated", ErrBadPacket)
		}
		s := o[used : used+n]
		used += n
		return s, nil
	}
	if p.Flags.Has(FlagDelay) {
		s, err := take(2)
		if err != nil {
			return err
		}
		p.Delay = binary.BigEndian.Uint16(s)
	}
	if p.Flags.Has(FlagFrom) {
		d, n, err := i2p.ParseDestination(o[used:])
		if err != nil {
			return fmt.Errorf("%w: from: %w", ErrBadPacket, err)
		}
		p.From, used = d, used+n
	}
	if p.Flags.Has(FlagMaxPacketSize) {
		s, err := take(2)
		if err != nil {
			return err
		}
		p.MaxSize = binary.BigEndian.Uint16(s)
	}
	if p.Flags.Has(FlagOfflineSig) {
		if err := p.parseOffline(take); err != nil {
			return err
		}
	}
	return p.parseSignature(o[used:], off+used)
}

func (p *Packet) parseOffline(take func(int) ([]byte, error)) error {
	if p.From == nil {
		return fmt.Errorf("%w: offline signature without FROM", ErrBadPacket)
	}
	fixed, err := take(offlineFixedLen)
	if err != nil {
		return err
	}
	o := &i2p.OfflineSignature{
		Expires:       binary.BigEndian.Uint32(fixed),
		TransientType: i2p.SigType(binary.BigEndian.Uint16(fixed[4:])),
	}
	if !o.TransientType.Known() || p.From.SigType().SignatureLen() == 0 {
		return fmt.Errorf("%w: offline signature types %s/%s", ErrBadPacket, o.TransientType, p.From.SigType())
	}
	key, err := take(o.TransientType.PublicKeyLen())
	if err != nil {
		return err
	}
	sig, err := take(p.From.SigType().SignatureLen())
	if err != nil {
		return err
	}
	o.TransientKey, o.Signature = slices.Clone(key), slices.Clone(sig)
	p.Offline = o
	return nil
}

func (p *Packet) parseSignature(rest []byte, off int) error {
	if !p.Flags.Has(FlagSignature) {
		if len(rest) > 0 {
			return fmt.Errorf("%w: %d unused option bytes", ErrBadPacket, len(rest))
		}
		return nil
	}
	if len(rest) == 0 {
		return fmt.Errorf("%w: SIGNATURE flag without signature", ErrBadPacket)
	}
	p.Signature, p.sigOff = slices.Clone(rest), off
	return nil
}

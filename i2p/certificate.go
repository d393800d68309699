package i2p

import (
	"errors"
	"fmt"

	"github.com/imh-project/imh/internal/wire"
)

// ErrBadCertificate reports a Certificate or Key Certificate that is
// malformed or does not fit its key types.
var ErrBadCertificate = errors.New("i2p: malformed certificate")

// MaxCertificatePayload bounds the certificate payload a parser accepts: the
// largest excess any known key type needs (RSA-4096: 384 bytes) with room to
// spare, far below the u16 the wire allows.
const MaxCertificatePayload = MaxDestinationLen - keyAreaLen - 3

// Certificate is the certificate that ends every KeysAndCert (I2P-WIRE 2.3):
// a type byte, a u16 payload length and the payload.
type Certificate struct {
	Type    uint8
	Payload []byte
}

// ParseCertificate decodes the certificate at the start of b and returns it
// with the number of bytes it occupies. It checks the framing only; use
// KeyCertificate to interpret a KEY certificate.
func ParseCertificate(b []byte) (Certificate, int, error) {
	r := wire.NewReader(b)
	t := r.Uint8("certificate type")
	n := int(r.Uint16("certificate length"))
	if r.Err() == nil && n > MaxCertificatePayload {
		return Certificate{}, 0, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrBadCertificate, n, MaxCertificatePayload)
	}
	p := r.Copy("certificate payload", n)
	if err := r.Err(); err != nil {
		return Certificate{}, 0, fmt.Errorf("%w: %w", ErrBadCertificate, err)
	}
	if p == nil {
		p = []byte{}
	}
	return Certificate{Type: t, Payload: p}, r.Offset(), nil
}

// AppendBinary appends type, length and payload.
func (c Certificate) AppendBinary(b []byte) ([]byte, error) {
	if len(c.Payload) > 0xFFFF {
		return b, fmt.Errorf("%w: payload of %d bytes", ErrBadCertificate, len(c.Payload))
	}
	b = append(b, c.Type)
	b = wire.AppendUint16(b, uint16(len(c.Payload)))
	return append(b, c.Payload...), nil
}

// KeyCertificate is the payload of a KEY certificate (type 5): the signing
// and crypto key types, then the key bytes that did not fit the 128-byte
// signing area and the 256-byte crypto area, signing excess first.
type KeyCertificate struct {
	SigType   SigType
	EncType   EncType
	SigExcess []byte
	EncExcess []byte
}

// KeyCertificate interprets c as a KEY certificate. The payload must carry
// exactly the excess key bytes the two types need, as Java requires
// ("Excess data in key certificate").
func (c Certificate) KeyCertificate() (KeyCertificate, error) {
	if c.Type != CertKey {
		return KeyCertificate{}, fmt.Errorf("%w: type %d is not a key certificate", ErrBadCertificate, c.Type)
	}
	p := c.Payload
	if len(p) < 4 {
		return KeyCertificate{}, fmt.Errorf("%w: key certificate of %d bytes", ErrBadCertificate, len(p))
	}
	kc := KeyCertificate{
		SigType: SigType(uint16(p[0])<<8 | uint16(p[1])),
		EncType: EncType(uint16(p[2])<<8 | uint16(p[3])),
	}
	if !kc.SigType.Known() {
		return KeyCertificate{}, fmt.Errorf("%w: %w %d", ErrBadCertificate, ErrUnknownSigType, uint16(kc.SigType))
	}
	if !kc.EncType.Known() {
		return KeyCertificate{}, fmt.Errorf("%w: %w %d", ErrBadCertificate, ErrUnknownEncType, uint16(kc.EncType))
	}
	sigEx, encEx := kc.excessLens()
	if len(p) != 4+sigEx+encEx {
		return KeyCertificate{}, fmt.Errorf("%w: key certificate has %d bytes, %s/%s needs %d",
			ErrBadCertificate, len(p), kc.SigType, kc.EncType, 4+sigEx+encEx)
	}
	kc.SigExcess = append([]byte{}, p[4:4+sigEx]...)
	kc.EncExcess = append([]byte{}, p[4+sigEx:]...)
	return kc, nil
}

// excessLens is how many key bytes of each type overflow their areas.
func (kc KeyCertificate) excessLens() (sig, enc int) {
	return max(0, kc.SigType.PublicKeyLen()-signingAreaLen), max(0, kc.EncType.PublicKeyLen()-cryptoAreaLen)
}

// Certificate encodes kc as a KEY certificate.
func (kc KeyCertificate) Certificate() Certificate {
	p := wire.AppendUint16(nil, uint16(kc.SigType))
	p = wire.AppendUint16(p, uint16(kc.EncType))
	p = append(p, kc.SigExcess...)
	p = append(p, kc.EncExcess...)
	return Certificate{Type: CertKey, Payload: p}
}

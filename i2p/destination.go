package i2p

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/imh-project/imh/internal/wire"
)

// Certificate types (I2P-WIRE 2.3).
const (
	CertNull     = 0
	CertHashcash = 1
	CertHidden   = 2
	CertSigned   = 3
	CertMultiple = 4
	CertKey      = 5
)

// keysAndCertLen is the fixed key area of a KeysAndCert: 256 bytes of crypto
// key area and 128 bytes of signing key area.
const (
	cryptoAreaLen  = 256
	signingAreaLen = 128
	keyAreaLen     = cryptoAreaLen + signingAreaLen
	// MinDestinationLen is a Destination with a NULL certificate.
	MinDestinationLen = keyAreaLen + 3
	// MaxDestinationLen bounds what a parser accepts (the key area plus the
	// largest certificate any known key type needs, with room to spare).
	MaxDestinationLen = keyAreaLen + 3 + 4 + 1024
)

// ErrBadDestination reports bytes that are not a valid Destination.
var ErrBadDestination = errors.New("i2p: malformed destination")

// Destination is an I2P Destination (a KeysAndCert, I2P-WIRE 2.4). It is
// immutable: the exact bytes are kept because they are covered by the hash.
type Destination struct {
	raw     []byte
	sigType SigType
	encType EncType
	hash    Hash
}

// ParseDestination decodes the Destination at the start of b and returns it
// with the number of bytes it occupies. Key certificates must carry exactly
// the excess key bytes their types need, as Java requires.
func ParseDestination(b []byte) (*Destination, int, error) {
	if len(b) < MinDestinationLen {
		return nil, 0, fmt.Errorf("%w: %d bytes, need at least %d", ErrBadDestination, len(b), MinDestinationLen)
	}
	cert, certN, err := ParseCertificate(b[keyAreaLen:])
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrBadDestination, err)
	}
	n := keyAreaLen + certN
	d := &Destination{raw: append([]byte(nil), b[:n]...), sigType: SigDSASHA1, encType: EncElGamal}
	switch cert.Type {
	case CertNull:
		if len(cert.Payload) != 0 {
			return nil, 0, fmt.Errorf("%w: NULL certificate with %d payload bytes", ErrBadDestination, len(cert.Payload))
		}
	case CertKey:
		kc, err := cert.KeyCertificate()
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrBadDestination, err)
		}
		d.sigType, d.encType = kc.SigType, kc.EncType
	default:
		return nil, 0, fmt.Errorf("%w: unsupported certificate type %d", ErrBadDestination, cert.Type)
	}
	d.hash = HashOf(d.raw)
	return d, n, nil
}

// NewDestination assembles a Destination from its parts: the signing public
// key (placed right-aligned in the signing area, excess in the certificate)
// and the 256+128-byte area filler. filler supplies the crypto area and the
// padding; its bytes at the signing key's position are overwritten.
func NewDestination(sigType SigType, sigPub []byte, encType EncType, encPub []byte, filler [keyAreaLen]byte) (*Destination, error) {
	if !sigType.Known() || len(sigPub) != sigType.PublicKeyLen() {
		return nil, fmt.Errorf("%w: %s public key of %d bytes", ErrBadDestination, sigType, len(sigPub))
	}
	if !encType.Known() || (encPub != nil && len(encPub) != encType.PublicKeyLen()) {
		return nil, fmt.Errorf("%w: %s public key of %d bytes", ErrBadDestination, encType, len(encPub))
	}
	if encType.PublicKeyLen() > cryptoAreaLen {
		return nil, fmt.Errorf("%w: crypto keys over 256 bytes are not supported", ErrBadDestination)
	}
	area := filler
	copy(area[:], encPub)
	var sigExcess []byte
	if n := len(sigPub); n <= signingAreaLen {
		copy(area[keyAreaLen-n:], sigPub)
	} else {
		copy(area[cryptoAreaLen:], sigPub[:signingAreaLen])
		sigExcess = sigPub[signingAreaLen:]
	}
	b := append([]byte(nil), area[:]...)
	b = append(b, CertKey)
	b = wire.AppendUint16(b, uint16(4+len(sigExcess)))
	b = wire.AppendUint16(b, uint16(sigType))
	b = wire.AppendUint16(b, uint16(encType))
	b = append(b, sigExcess...)
	d, _, err := ParseDestination(b)
	return d, err
}

// Bytes returns the Destination's encoding. The caller must not modify it.
func (d *Destination) Bytes() []byte { return d.raw }

// AppendBinary appends the Destination's encoding.
func (d *Destination) AppendBinary(b []byte) ([]byte, error) { return append(b, d.raw...), nil }

// Len is the encoded length.
func (d *Destination) Len() int { return len(d.raw) }

// Hash is SHA-256 of all the Destination's bytes: its netDb key and b32 basis.
func (d *Destination) Hash() Hash { return d.hash }

// SigType is the signing key type from the certificate (DSA_SHA1 without a key cert).
func (d *Destination) SigType() SigType { return d.sigType }

// EncType is the crypto key type from the certificate (ElGamal without a key cert).
func (d *Destination) EncType() EncType { return d.encType }

// Base64 is the I2P base64 of the whole Destination.
func (d *Destination) Base64() string { return Base64.EncodeToString(d.raw) }

// B32 is the .b32.i2p address.
func (d *Destination) B32() string { return d.hash.B32() }

// String shows the b32 address.
func (d *Destination) String() string { return d.B32() }

// LogValue logs the b32 address.
func (d *Destination) LogValue() slog.Value { return slog.StringValue(d.B32()) }

// Equal reports whether two Destinations have the same bytes.
func (d *Destination) Equal(o *Destination) bool {
	return d != nil && o != nil && d.hash == o.hash
}

// SigningPublicKey returns the signing public key, reassembled from the key
// area and any excess bytes in the certificate.
func (d *Destination) SigningPublicKey() []byte {
	n := d.sigType.PublicKeyLen()
	if n <= signingAreaLen {
		return append([]byte(nil), d.raw[keyAreaLen-n:keyAreaLen]...)
	}
	k := append([]byte(nil), d.raw[cryptoAreaLen:keyAreaLen]...)
	return append(k, d.raw[keyAreaLen+3+4:keyAreaLen+3+4+n-signingAreaLen]...)
}

// Verify checks sig over msg with the Destination's signing key.
func (d *Destination) Verify(msg, sig []byte) error {
	return VerifySignature(d.sigType, d.SigningPublicKey(), msg, sig)
}

// Certificate returns the Destination's certificate (a copy).
func (d *Destination) Certificate() Certificate {
	c, _, _ := ParseCertificate(d.raw[keyAreaLen:])
	return c
}

// EncryptionPublicKey returns the crypto public key from the key area
// (left-aligned, excess from the certificate). For the recommended type-0
// Destinations it is an unused placeholder; LeaseSet2s carry the real keys.
func (d *Destination) EncryptionPublicKey() []byte {
	n := d.encType.PublicKeyLen()
	if n <= cryptoAreaLen {
		return append([]byte(nil), d.raw[:n]...)
	}
	sigEx := max(0, d.sigType.PublicKeyLen()-signingAreaLen)
	k := append([]byte(nil), d.raw[:cryptoAreaLen]...)
	off := keyAreaLen + 3 + 4 + sigEx
	return append(k, d.raw[off:off+n-cryptoAreaLen]...)
}

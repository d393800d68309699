package i2p

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/imh-project/imh/internal/wire"
)

// ErrBadKeyFile reports bytes that are not a private key file.
var ErrBadKeyFile = errors.New("i2p: malformed private key file")

// OfflineKeys is the transient signing key of an offline-signed key file
// (i2pd writes it after an all-zero signing private key).
type OfflineKeys struct {
	Expires       uint32
	TransientType SigType
	TransientPub  []byte
	Signature     []byte // by the Destination's key over expires|type|key
	transientPriv *secret
}

// PrivateKeys is a private key file as i2pd and Java I2P write it:
// Destination | encryption private key | signing private key [| offline
// section]. It holds secrets: String, GoString and LogValue show only the
// b32 address.
type PrivateKeys struct {
	dest    *Destination
	encPriv *secret
	sigPriv *secret
	offline *OfflineKeys
	// edKey caches the expanded Ed25519 private key (seed || public key),
	// so Sign skips the scalar multiplication NewKeyFromSeed costs.
	edKey *secret
}

// NewPrivateKeys makes a new Ed25519 (type 7) Destination with crypto type 0,
// the 256-byte crypto area and the padding filled with one random 32-byte
// block repeated (proposal 161), as i2pd does; Java rejects a non-zero crypto
// type. The ElGamal private key field is random: the Destination's crypto key
// is unused since LeaseSet2 carries its own keys.
func NewPrivateKeys(rand io.Reader) (*PrivateKeys, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("read random seed: %w", err)
	}
	var block [32]byte
	if _, err := io.ReadFull(rand, block[:]); err != nil {
		return nil, fmt.Errorf("read random padding: %w", err)
	}
	encPriv := make([]byte, EncElGamal.PrivateKeyLen())
	if _, err := io.ReadFull(rand, encPriv); err != nil {
		return nil, fmt.Errorf("read random key: %w", err)
	}
	return NewEd25519PrivateKeys(seed, block, encPriv)
}

// NewEd25519PrivateKeys builds keys deterministically from an Ed25519 seed,
// a 32-byte padding block and a 256-byte ElGamal private key field.
func NewEd25519PrivateKeys(seed []byte, block [32]byte, encPriv []byte) (*PrivateKeys, error) {
	if len(seed) != ed25519.SeedSize || len(encPriv) != EncElGamal.PrivateKeyLen() {
		return nil, fmt.Errorf("%w: seed %d bytes, encryption key %d bytes", ErrBadKeyFile, len(seed), len(encPriv))
	}
	var filler [keyAreaLen]byte
	for i := 0; i < keyAreaLen; i += 32 {
		copy(filler[i:], block[:])
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	d, err := NewDestination(SigEd25519, pub, EncElGamal, nil, filler)
	if err != nil {
		return nil, err
	}
	k := &PrivateKeys{dest: d, encPriv: newSecret(encPriv), sigPriv: newSecret(seed)}
	k.expand()
	return k, nil
}

// ParsePrivateKeys decodes a whole key file of any signing and crypto type.
func ParsePrivateKeys(b []byte) (*PrivateKeys, error) {
	d, n, err := ParseDestination(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
	}
	r := wire.NewReader(b[n:])
	k := &PrivateKeys{dest: d}
	k.encPriv = newSecret(r.Bytes("encryption private key", d.encType.PrivateKeyLen()))
	k.sigPriv = newSecret(r.Bytes("signing private key", d.sigType.PrivateKeyLen()))
	if r.Err() == nil && r.Len() > 0 && isZero(k.sigPriv.bytes()) {
		k.offline = readOffline(r, d.sigType)
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
	}
	k.expand()
	return k, nil
}

func readOffline(r *wire.Reader, destType SigType) *OfflineKeys {
	o := &OfflineKeys{Expires: r.Uint32("offline expires")}
	o.TransientType = SigType(r.Uint16("transient sig type"))
	if r.Err() == nil && !o.TransientType.Known() {
		r.Fail("transient sig type", ErrUnknownSigType)
		return nil
	}
	o.TransientPub = r.Copy("transient public key", o.TransientType.PublicKeyLen())
	o.Signature = r.Copy("offline signature", destType.SignatureLen())
	o.transientPriv = newSecret(r.Bytes("transient private key", o.TransientType.PrivateKeyLen()))
	return o
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// MarshalBinary encodes the key file.
func (k *PrivateKeys) MarshalBinary() ([]byte, error) {
	b := append([]byte(nil), k.dest.raw...)
	b = append(b, k.encPriv.bytes()...)
	b = append(b, k.sigPriv.bytes()...)
	if o := k.offline; o != nil {
		b = wire.AppendUint32(b, o.Expires)
		b = wire.AppendUint16(b, uint16(o.TransientType))
		b = append(b, o.TransientPub...)
		b = append(b, o.Signature...)
		b = append(b, o.transientPriv.bytes()...)
	}
	return b, nil
}

// Destination is the public part.
func (k *PrivateKeys) Destination() *Destination { return k.dest }

// Offline returns the offline section, or nil.
func (k *PrivateKeys) Offline() *OfflineKeys { return k.offline }

// EncryptionKeyType is the type of the encryption private key in the file.
func (k *PrivateKeys) EncryptionKeyType() EncType { return k.dest.encType }

// expand caches the expanded Ed25519 key of keys that can sign.
func (k *PrivateKeys) expand() {
	if k.CanSign() {
		k.edKey = newSecret(ed25519.NewKeyFromSeed(k.sigPriv.bytes()))
	}
}

// CanSign reports whether Sign works for these keys (Ed25519 without offline keys).
func (k *PrivateKeys) CanSign() bool {
	return k.dest.sigType == SigEd25519 && k.offline == nil
}

// Sign signs msg with the Destination's signing key. Only Ed25519 keys can
// sign; imh creates only those.
func (k *PrivateKeys) Sign(msg []byte) ([]byte, error) {
	if !k.CanSign() {
		return nil, fmt.Errorf("%w: cannot sign with %s keys (offline: %t)", ErrUnsupportedSigType, k.dest.sigType, k.offline != nil)
	}
	return ed25519.Sign(ed25519.PrivateKey(k.edKey.bytes()), msg), nil
}

// String shows only the b32 address. The value receiver keeps a
// dereferenced PrivateKeys from printing its fields too.
func (k PrivateKeys) String() string { return "PrivateKeys(" + k.b32() + ")" }

// GoString keeps %#v from printing key bytes.
func (k PrivateKeys) GoString() string { return k.String() }

// LogValue logs only the b32 address.
func (k PrivateKeys) LogValue() slog.Value { return slog.StringValue(k.b32()) }

func (k PrivateKeys) b32() string {
	if k.dest == nil {
		return "<none>"
	}
	return k.dest.B32()
}

// LeaseSetKey is the X25519 key pair a Destination's LeaseSet2s carry
// (encryption type 4). It holds a secret: String and LogValue show only the
// public key's hash.
type LeaseSetKey struct {
	priv *ecdh.PrivateKey
}

// NewLeaseSetKey makes a random X25519 key.
func NewLeaseSetKey(rand io.Reader) (*LeaseSetKey, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("read random key: %w", err)
	}
	return ParseLeaseSetKey(b)
}

// ParseLeaseSetKey wraps a 32-byte X25519 private key (little-endian, as I2P stores it).
func ParseLeaseSetKey(b []byte) (*LeaseSetKey, error) {
	p, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("i2p: X25519 private key: %w", err)
	}
	return &LeaseSetKey{priv: p}, nil
}

// Private returns the private key bytes, exactly as given.
func (k *LeaseSetKey) Private() []byte { return k.priv.Bytes() }

// Public returns the X25519 public key.
func (k *LeaseSetKey) Public() []byte { return k.priv.PublicKey().Bytes() }

// EncryptionKey is the public key section for a LeaseSet2.
func (k *LeaseSetKey) EncryptionKey() EncryptionKey {
	return EncryptionKey{Type: EncX25519, Key: k.Public()}
}

// String shows only a hash of the public key (never the key itself).
func (k LeaseSetKey) String() string {
	if k.priv == nil {
		return "LeaseSetKey(<none>)"
	}
	h := HashOf(k.priv.PublicKey().Bytes())
	return "LeaseSetKey(" + h.String()[:16] + ")"
}

// GoString keeps %#v from printing key bytes.
func (k LeaseSetKey) GoString() string { return k.String() }

// LogValue logs only a hash of the public key.
func (k LeaseSetKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

package streaming

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/imh-project/imh/i2p"
)

// ErrOfflineExpired reports an offline signature whose transient key has
// expired: packets signed by it are refused.
var ErrOfflineExpired = errors.New("streaming: offline signature expired")

// Identity is who signs our SYN, CLOSE and RESET packets: a Destination and
// either its full keys or a transient key certified by the Destination's
// offline signature (frontends never hold the long-term key).
type Identity struct {
	dest      *i2p.Destination
	keys      *i2p.PrivateKeys
	transient ed25519.PrivateKey
	offline   *i2p.OfflineSignature
}

// NewIdentity signs with the Destination's own key, which must be able to
// sign (Ed25519 without an offline section).
func NewIdentity(keys *i2p.PrivateKeys) (*Identity, error) {
	if keys == nil || !keys.CanSign() {
		return nil, fmt.Errorf("streaming: identity: %w: keys cannot sign", i2p.ErrUnsupportedSigType)
	}
	return &Identity{dest: keys.Destination(), keys: keys}, nil
}

// NewOfflineIdentity signs with an Ed25519 transient key; off is the
// Destination's certificate for it and is checked here, so a wrong pairing
// fails at start-up rather than at every peer.
func NewOfflineIdentity(dest *i2p.Destination, transient ed25519.PrivateKey, off *i2p.OfflineSignature) (*Identity, error) {
	if dest == nil || off == nil || len(transient) != ed25519.PrivateKeySize {
		return nil, errors.New("streaming: identity: destination, Ed25519 transient key and offline signature required")
	}
	if off.TransientType != i2p.SigEd25519 || !bytes.Equal(transient.Public().(ed25519.PublicKey), off.TransientKey) {
		return nil, fmt.Errorf("streaming: identity: transient key does not match the offline signature")
	}
	if err := off.Verify(dest); err != nil {
		return nil, fmt.Errorf("streaming: identity: %w", err)
	}
	return &Identity{dest: dest, transient: transient, offline: off}, nil
}

// Destination is the identity's public Destination.
func (id *Identity) Destination() *i2p.Destination { return id.dest }

// sigLen is the length of the signatures this identity makes.
func (id *Identity) sigLen() int {
	if id.offline != nil {
		return id.offline.TransientType.SignatureLen()
	}
	return id.dest.SigType().SignatureLen()
}

func (id *Identity) sign(msg []byte) ([]byte, error) {
	if id.offline != nil {
		return ed25519.Sign(id.transient, msg), nil
	}
	return id.keys.Sign(msg)
}

// SignPacket sets the SIGNATURE flag (and, when p carries FROM and the
// identity is offline, the OFFLINE_SIGNATURE block), then marshals p and
// signs the whole packet with the signature bytes zeroed.
func (id *Identity) SignPacket(p *Packet) ([]byte, error) {
	p.Flags |= FlagSignature
	p.Offline = nil
	p.Flags &^= FlagOfflineSig
	if p.From != nil && id.offline != nil {
		p.Offline, p.Flags = id.offline, p.Flags|FlagOfflineSig
	}
	p.Signature = make([]byte, id.sigLen())
	b, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("sign packet: %w", err)
	}
	sig, err := id.sign(b)
	if err != nil {
		return nil, fmt.Errorf("sign packet: %w", err)
	}
	off := len(b) - len(p.Payload) - len(sig)
	copy(b[off:], sig)
	p.Signature, p.sigOff = sig, off
	return b, nil
}

// VerifyKey is the key a peer's packets are checked with: its Destination's
// signing key, or the transient key of its offline signature.
type VerifyKey struct {
	Type i2p.SigType
	Key  []byte
}

// KeyFrom returns the key that verifies p, which must carry FROM. With an
// OFFLINE_SIGNATURE it first checks the Destination's certificate of the
// transient key and its expiry against now.
func KeyFrom(p *Packet, now time.Time) (VerifyKey, error) {
	if p.From == nil {
		return VerifyKey{}, fmt.Errorf("%w: no FROM to verify with", ErrBadPacket)
	}
	return keyOf(p.From, p.Offline, now)
}

func keyOf(d *i2p.Destination, o *i2p.OfflineSignature, now time.Time) (VerifyKey, error) {
	if o == nil {
		return VerifyKey{Type: d.SigType(), Key: d.SigningPublicKey()}, nil
	}
	if err := o.Verify(d); err != nil {
		return VerifyKey{}, fmt.Errorf("streaming: %w", err)
	}
	if o.Expired(now) {
		return VerifyKey{}, fmt.Errorf("%w: at %d", ErrOfflineExpired, o.Expires)
	}
	return VerifyKey{Type: o.TransientType, Key: o.TransientKey}, nil
}

// Verify checks p's signature: raw must be the bytes p was parsed from.
// A packet without SIGNATURE fails: callers ask only for packets that must
// be signed.
func (p *Packet) Verify(raw []byte, k VerifyKey) error {
	n := len(p.Signature)
	if n == 0 || p.sigOff <= 0 || p.sigOff+n > len(raw) {
		return fmt.Errorf("streaming: packet signature: %w: missing", i2p.ErrBadSignature)
	}
	msg := bytes.Clone(raw)
	clear(msg[p.sigOff : p.sigOff+n])
	if err := i2p.VerifySignature(k.Type, k.Key, msg, p.Signature); err != nil {
		return fmt.Errorf("streaming: packet signature: %w", err)
	}
	return nil
}

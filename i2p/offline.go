package i2p

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/imh-project/imh/internal/wire"
)

// SignedBytes is what the Destination signs to certify the transient key
// (I2P-WIRE 6.5): expires (u32) | transient sig type (u16) | transient
// public key. LeaseSet2s, streaming packets and imh's offline-signed
// SessionConfigs all carry it the same way.
func (o *OfflineSignature) SignedBytes() []byte {
	b := wire.AppendUint32(nil, o.Expires)
	b = wire.AppendUint16(b, uint16(o.TransientType))
	return append(b, o.TransientKey...)
}

// Verify checks that d's key signed o (over SignedBytes) and that the
// transient key has the length of its type. It ignores time: see Expired.
func (o *OfflineSignature) Verify(d *Destination) error {
	if o == nil || d == nil {
		return fmt.Errorf("offline signature: %w: missing", ErrBadSignature)
	}
	if !o.TransientType.Known() {
		return fmt.Errorf("offline signature: %w: transient type %d", ErrUnknownSigType, o.TransientType)
	}
	if len(o.TransientKey) != o.TransientType.PublicKeyLen() {
		return fmt.Errorf("offline signature: %w: transient %s key of %d bytes", ErrBadSignature, o.TransientType, len(o.TransientKey))
	}
	if err := d.Verify(o.SignedBytes(), o.Signature); err != nil {
		return fmt.Errorf("offline signature of %s: %w", d.B32(), err)
	}
	return nil
}

// Expired reports whether the transient key is no longer valid at now:
// Expires (seconds) is the last valid instant, as Java compares it.
func (o *OfflineSignature) Expired(now time.Time) bool {
	return now.After(time.Unix(int64(o.Expires), 0))
}

// SignOffline has the Destination's key certify a transient signing key
// until expires (seconds since epoch), producing the OfflineSignature block
// of I2P-WIRE 6.5. A LeaseSet2 carrying it is then signed by the transient
// key (SignTransient), so the Destination's key can stay offline.
func (k *PrivateKeys) SignOffline(expires uint32, transientType SigType, transientPub []byte) (*OfflineSignature, error) {
	if !transientType.Known() || len(transientPub) != transientType.PublicKeyLen() {
		return nil, fmt.Errorf("%w: transient %s key of %d bytes", ErrUnsupportedSigType, transientType, len(transientPub))
	}
	o := &OfflineSignature{Expires: expires, TransientType: transientType, TransientKey: bytes.Clone(transientPub)}
	sig, err := k.Sign(o.SignedBytes())
	if err != nil {
		return nil, fmt.Errorf("offline signature: %w", err)
	}
	o.Signature = sig
	return o, nil
}

// SignTransient signs the LeaseSet2 with the transient Ed25519 key that
// ls.Offline certifies, and sets the offline flag.
func (ls *LeaseSet2) SignTransient(priv ed25519.PrivateKey) error {
	o := ls.Offline
	if o == nil {
		return fmt.Errorf("%w: no offline signature block", ErrBadLeaseSet)
	}
	if o.TransientType != SigEd25519 || len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: transient key must be Ed25519, block says %s", ErrUnsupportedSigType, o.TransientType)
	}
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), o.TransientKey) {
		return fmt.Errorf("%w: transient key does not match the offline block", ErrBadLeaseSet)
	}
	ls.Flags |= FlagOffline
	ls.rawOptions, ls.parsedOptions = nil, nil
	msg, err := ls.SignedBytes()
	if err != nil {
		return err
	}
	ls.Signature = ed25519.Sign(priv, msg)
	return nil
}

package i2p

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
)

// SignOffline has the Destination's key certify a transient signing key
// until expires (seconds since epoch), producing the OfflineSignature block
// of I2P-WIRE 6.5. A LeaseSet2 carrying it is then signed by the transient
// key (SignTransient), so the Destination's key can stay offline.
func (k *PrivateKeys) SignOffline(expires uint32, transientType SigType, transientPub []byte) (*OfflineSignature, error) {
	if !transientType.Known() || len(transientPub) != transientType.PublicKeyLen() {
		return nil, fmt.Errorf("%w: transient %s key of %d bytes", ErrUnsupportedSigType, transientType, len(transientPub))
	}
	o := &OfflineSignature{Expires: expires, TransientType: transientType, TransientKey: bytes.Clone(transientPub)}
	sig, err := k.Sign(o.signedBytes())
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

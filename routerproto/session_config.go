package routerproto

import (
	"errors"
	"fmt"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/wire"
)

// ErrBadSessionConfig reports a SessionConfig that cannot be built or verified.
var ErrBadSessionConfig = errors.New("routerproto: bad session config")

// SessionConfig is the signed body of CreateSession and the tail of
// ReconfigureSession (I2P-WIRE 4.4):
//
//	Destination (391+) | options Mapping (2+m, sorted) | Date (u64 ms) | Signature
//
// The signature covers Destination‖Mapping‖Date and is made with the
// Destination's signing key, or with a transient key when the options carry
// the Destination's offline signature for it (Offline, SignTransient); its
// length follows the type of the key that signs. A decoded SessionConfig keeps the exact bytes it was received as, so
// Verify checks what was signed even when the sender's mapping was not in
// canonical order (i2pd verifies raw bytes the same way).
type SessionConfig struct {
	Destination *i2p.Destination
	Options     i2p.Mapping
	Date        uint64 // milliseconds since epoch; use the router's SetDate time
	Signature   []byte

	signed []byte // exact signed bytes of a decoded config
}

// SignSessionConfig builds a SessionConfig for keys' Destination with the
// given options and date (ms) and signs it. The mapping is written sorted, as
// Java requires.
func SignSessionConfig(keys *i2p.PrivateKeys, options i2p.Mapping, dateMs uint64) (*SessionConfig, error) {
	if keys == nil {
		return nil, fmt.Errorf("%w: no keys", ErrBadSessionConfig)
	}
	sc := &SessionConfig{Destination: keys.Destination(), Options: options, Date: dateMs}
	msg, err := sc.SignedBytes()
	if err != nil {
		return nil, err
	}
	sig, err := keys.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("sign session config for %s: %w", keys.Destination().B32(), err)
	}
	sc.Signature = sig
	sc.signed = msg
	return sc, nil
}

// SignedBytes returns Destination‖Mapping‖Date: the received bytes for a
// decoded config, the canonical encoding otherwise.
func (sc *SessionConfig) SignedBytes() ([]byte, error) {
	if sc.signed != nil {
		return sc.signed, nil
	}
	if sc.Destination == nil {
		return nil, fmt.Errorf("%w: no destination", ErrBadSessionConfig)
	}
	b := append([]byte(nil), sc.Destination.Bytes()...)
	b, err := sc.Options.AppendBinary(b)
	if err != nil {
		return nil, fmt.Errorf("%w: options: %w", ErrBadSessionConfig, err)
	}
	return wire.AppendUint64(b, sc.Date), nil
}

// Verify checks the signature over the signed bytes (as received, for a
// decoded config): with the Destination's signing key, or, when the options
// carry an offline signature (Offline), first that signature with the
// Destination's key and then the config's with the transient key, which
// must be Ed25519. It checks neither the date window nor the offline
// expiry: the caller compares Date and Offline().Expired with its clock.
func (sc *SessionConfig) Verify() error {
	msg, err := sc.SignedBytes()
	if err != nil {
		return err
	}
	off, err := sc.Offline()
	if err != nil {
		return err
	}
	if off == nil {
		if err := sc.Destination.Verify(msg, sc.Signature); err != nil {
			return fmt.Errorf("session config of %s: %w", sc.Destination.B32(), err)
		}
		return nil
	}
	if err := off.Verify(sc.Destination); err != nil {
		return fmt.Errorf("session config: %w", err)
	}
	if off.TransientType != i2p.SigEd25519 {
		return fmt.Errorf("session config of %s: %w: transient key %s, want Ed25519", sc.Destination.B32(), i2p.ErrUnsupportedSigType, off.TransientType)
	}
	if err := i2p.VerifySignature(off.TransientType, off.TransientKey, msg, sc.Signature); err != nil {
		return fmt.Errorf("session config of %s (transient key): %w", sc.Destination.B32(), err)
	}
	return nil
}

// AppendBinary appends the signed config.
func (sc *SessionConfig) AppendBinary(b []byte) ([]byte, error) {
	msg, err := sc.SignedBytes()
	if err != nil {
		return b, err
	}
	if want := sc.sigType().SignatureLen(); len(sc.Signature) != want {
		return b, fmt.Errorf("%w: signature of %d bytes, want %d", ErrBadSessionConfig, len(sc.Signature), want)
	}
	b = append(b, msg...)
	return append(b, sc.Signature...), nil
}

// readSessionConfig decodes a SessionConfig filling the rest of r.
func readSessionConfig(r *wire.Reader) *SessionConfig {
	if r.Err() != nil {
		return nil
	}
	start := r.Rest()
	d, n, err := i2p.ParseDestination(start)
	if err != nil {
		r.Fail("destination", err)
		return nil
	}
	r.Bytes("destination", n)
	opts, mn, err := i2p.ParseMapping(r.Rest())
	if err != nil {
		r.Fail("options", err)
		return nil
	}
	r.Bytes("options", mn)
	sc := &SessionConfig{Destination: d, Options: opts}
	sc.Date = r.Uint64("date")
	signedLen := n + mn + 8
	sigLen := sc.sigType().SignatureLen()
	if sigLen == 0 {
		r.Fail("signature", i2p.ErrUnknownSigType)
		return nil
	}
	sc.Signature = r.Copy("signature", sigLen)
	if r.Err() != nil {
		return nil
	}
	sc.signed = append([]byte(nil), start[:signedLen]...)
	return sc
}

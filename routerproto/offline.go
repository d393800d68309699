package routerproto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/imh-project/imh/i2p"
)

// Options of an offline-signed SessionConfig and of an attach grant
// (PROTOCOL.md 5.3). The first three are Java I2P's names for a session of a
// Destination whose key is offline: together they carry an
// i2p.OfflineSignature, and the config is then signed by the transient key.
const (
	// OptOfflineExpiration is when the transient key expires: decimal
	// seconds since the epoch.
	OptOfflineExpiration = "i2cp.leaseSetOfflineExpiration"
	// OptTransientKey is the transient signing public key as
	// "<sig type, decimal>:<I2P base64 of the key>", e.g. "7:...".
	OptTransientKey = "i2cp.leaseSetTransientPublicKey"
	// OptOfflineSignature is the I2P base64 of the Destination's signature
	// over the offline block (i2p.OfflineSignature.SignedBytes).
	OptOfflineSignature = "i2cp.leaseSetOfflineSignature"
	// OptGrantRouter names the one router an attach grant lets the
	// transient key attach to.
	OptGrantRouter = "imh.grant.router"
	// OptGrant is the I2P base64 of the attach grant: the Destination's
	// signature over AttachGrantBytes(OptGrantRouter, offline signature).
	OptGrant = "imh.grant"
)

// ErrBadGrant reports an attach grant that is missing, malformed or does
// not verify.
var ErrBadGrant = errors.New("routerproto: bad attach grant")

// MaxGrantRouterLen is the longest router name a grant can carry (its
// length is one byte of AttachGrantBytes).
const MaxGrantRouterLen = 255

// attachGrantLabel starts every grant's signed bytes, so that a signature
// made for anything else never reads as a grant.
const attachGrantLabel = "imh-attach-grant-v1"

// Offline returns the offline signature the config's options carry
// (OptOfflineExpiration, OptTransientKey, OptOfflineSignature), or nil
// when it carries none of them. Some but not all of them, or a malformed
// one, is an error wrapping ErrBadSessionConfig. It checks formats and
// lengths, not signatures: Verify does.
func (sc *SessionConfig) Offline() (*i2p.OfflineSignature, error) {
	exp, hasExp := sc.Options[OptOfflineExpiration]
	key, hasKey := sc.Options[OptTransientKey]
	sig, hasSig := sc.Options[OptOfflineSignature]
	switch {
	case !hasExp && !hasKey && !hasSig:
		return nil, nil
	case !hasExp || !hasKey || !hasSig:
		return nil, fmt.Errorf("%w: an offline signature needs %s, %s and %s", ErrBadSessionConfig, OptOfflineExpiration, OptTransientKey, OptOfflineSignature)
	case sc.Destination == nil:
		return nil, fmt.Errorf("%w: no destination", ErrBadSessionConfig)
	}
	expires, err := strconv.ParseUint(exp, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q", ErrBadSessionConfig, OptOfflineExpiration, exp)
	}
	typ, b64, ok := strings.Cut(key, ":")
	t, err := strconv.ParseUint(typ, 10, 16)
	if !ok || err != nil || !i2p.SigType(t).Known() {
		return nil, fmt.Errorf("%w: %s: want <known sig type>:<base64>, got %q", ErrBadSessionConfig, OptTransientKey, key)
	}
	st := i2p.SigType(t)
	pub, err := i2p.Base64.DecodeString(b64)
	if err != nil || len(pub) != st.PublicKeyLen() {
		return nil, fmt.Errorf("%w: %s: not a %s public key", ErrBadSessionConfig, OptTransientKey, st)
	}
	s, err := i2p.Base64.DecodeString(sig)
	if want := sc.Destination.SigType().SignatureLen(); err != nil || len(s) != want {
		return nil, fmt.Errorf("%w: %s: not a %s signature", ErrBadSessionConfig, OptOfflineSignature, sc.Destination.SigType())
	}
	return &i2p.OfflineSignature{Expires: uint32(expires), TransientType: st, TransientKey: pub, Signature: s}, nil
}

// SignTransient signs the config with an Ed25519 transient key, which off
// (the Destination's offline signature) must certify: it puts the three
// offline options into a copy of sc.Options and signs the config's bytes
// with priv. Destination and Date must be set first, as for
// SignSessionConfig; so must any other option (OptGrantRouter, OptGrant).
func (sc *SessionConfig) SignTransient(priv ed25519.PrivateKey, off *i2p.OfflineSignature) error {
	switch {
	case sc.Destination == nil || off == nil:
		return fmt.Errorf("%w: destination and offline signature required", ErrBadSessionConfig)
	case off.TransientType != i2p.SigEd25519 || len(priv) != ed25519.PrivateKeySize:
		return fmt.Errorf("%w: %w: the transient key must be Ed25519 (offline signature: %s)", ErrBadSessionConfig, i2p.ErrUnsupportedSigType, off.TransientType)
	case !bytes.Equal(priv.Public().(ed25519.PublicKey), off.TransientKey):
		return fmt.Errorf("%w: the transient key is not the one the offline signature certifies", ErrBadSessionConfig)
	}
	if err := off.Verify(sc.Destination); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSessionConfig, err)
	}
	opts := maps.Clone(sc.Options)
	if opts == nil {
		opts = make(i2p.Mapping, 3)
	}
	opts[OptOfflineExpiration] = strconv.FormatUint(uint64(off.Expires), 10)
	opts[OptTransientKey] = strconv.FormatUint(uint64(off.TransientType), 10) + ":" + i2p.Base64.EncodeToString(off.TransientKey)
	opts[OptOfflineSignature] = i2p.Base64.EncodeToString(off.Signature)
	sc.Options, sc.signed = opts, nil
	msg, err := sc.SignedBytes()
	if err != nil {
		return err
	}
	sc.Signature = ed25519.Sign(priv, msg)
	sc.signed = msg
	return nil
}

// sigType is the type of the config's signature: the transient key's when
// the options carry an offline signature, else the Destination's. A
// malformed offline signature counts as none here (Verify then fails).
func (sc *SessionConfig) sigType() i2p.SigType {
	if o, err := sc.Offline(); err == nil && o != nil {
		return o.TransientType
	}
	return sc.Destination.SigType()
}

// AttachGrant returns the grant the options carry: the router it is for
// (OptGrantRouter) and the Destination's signature (OptGrant). Missing or
// malformed options are an error wrapping ErrBadGrant.
func (sc *SessionConfig) AttachGrant() (router string, sig []byte, err error) {
	router, hasRouter := sc.Options[OptGrantRouter]
	g, hasGrant := sc.Options[OptGrant]
	if !hasRouter || !hasGrant || router == "" {
		return "", nil, fmt.Errorf("%w: %s and %s required", ErrBadGrant, OptGrantRouter, OptGrant)
	}
	sig, err = i2p.Base64.DecodeString(g)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s is not base64", ErrBadGrant, OptGrant)
	}
	return router, sig, nil
}

// AttachGrantBytes is what the Destination signs to let the transient key
// of off data-attach to the router named router (PROTOCOL.md 5.3):
//
//	"imh-attach-grant-v1" | 0x00 | u8 len(router) | router | off.SignedBytes()
//
// It is nil for an empty router name, one longer than MaxGrantRouterLen, or
// a nil off; SignAttachGrant and VerifyAttachGrant refuse those.
func AttachGrantBytes(router string, off *i2p.OfflineSignature) []byte {
	if off == nil || router == "" || len(router) > MaxGrantRouterLen {
		return nil
	}
	b := make([]byte, 0, len(attachGrantLabel)+2+len(router)+6+len(off.TransientKey))
	b = append(b, attachGrantLabel...)
	b = append(b, 0, byte(len(router)))
	b = append(b, router...)
	return append(b, off.SignedBytes()...)
}

// SignAttachGrant signs the grant for off's transient key to attach to
// router with the Destination's keys.
func SignAttachGrant(keys *i2p.PrivateKeys, router string, off *i2p.OfflineSignature) ([]byte, error) {
	msg := AttachGrantBytes(router, off)
	if keys == nil || msg == nil {
		return nil, fmt.Errorf("%w: keys, offline signature and a router name of 1..%d bytes required", ErrBadGrant, MaxGrantRouterLen)
	}
	sig, err := keys.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("sign attach grant for %s: %w", keys.Destination().B32(), err)
	}
	return sig, nil
}

// VerifyAttachGrant checks that d signed the grant for off's transient key
// to attach to router. It does not check off itself (SessionConfig.Verify
// does) nor its expiry.
func VerifyAttachGrant(d *i2p.Destination, router string, off *i2p.OfflineSignature, sig []byte) error {
	msg := AttachGrantBytes(router, off)
	if d == nil || msg == nil {
		return fmt.Errorf("%w: destination, offline signature and a router name of 1..%d bytes required", ErrBadGrant, MaxGrantRouterLen)
	}
	if err := d.Verify(msg, sig); err != nil {
		return fmt.Errorf("%w: for router %q: %w", ErrBadGrant, router, err)
	}
	return nil
}

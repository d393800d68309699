package i2p

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"math/big"
)

// ErrBadSignature reports a signature that does not verify.
var ErrBadSignature = errors.New("i2p: signature does not verify")

// VerifySignature checks sig over msg with a public key of type t. Ed25519
// and RedDSA (whose verification equation is Ed25519's) and the three ECDSA
// curves are supported; DSA and RSA are legacy and refused.
func VerifySignature(t SigType, pub, msg, sig []byte) error {
	if !t.Known() {
		return fmt.Errorf("%w: %d", ErrUnknownSigType, t)
	}
	if len(pub) != t.PublicKeyLen() || len(sig) != t.SignatureLen() {
		return fmt.Errorf("%w: %s key %d bytes, signature %d bytes", ErrBadSignature, t, len(pub), len(sig))
	}
	switch t {
	case SigEd25519, SigRedDSAEd25519:
		if !ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
			return ErrBadSignature
		}
		return nil
	case SigECDSAP256:
		return verifyECDSA(elliptic.P256(), sha256.New(), pub, msg, sig)
	case SigECDSAP384:
		return verifyECDSA(elliptic.P384(), sha512.New384(), pub, msg, sig)
	case SigECDSAP521:
		return verifyECDSA(elliptic.P521(), sha512.New(), pub, msg, sig)
	default:
		return fmt.Errorf("%w: %s", ErrUnsupportedSigType, t)
	}
}

// verifyECDSA checks an I2P ECDSA signature: public key X||Y and signature
// R||S, each half big-endian and left-padded.
func verifyECDSA(curve elliptic.Curve, h hash.Hash, pub, msg, sig []byte) error {
	// Build the uncompressed point form 04||X||Y for the stdlib parser.
	point := append([]byte{4}, pub...)
	key, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	h.Write(msg)
	sh := len(sig) / 2
	r, s := new(big.Int).SetBytes(sig[:sh]), new(big.Int).SetBytes(sig[sh:])
	if !ecdsa.Verify(key, h.Sum(nil), r, s) {
		return ErrBadSignature
	}
	return nil
}

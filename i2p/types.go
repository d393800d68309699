package i2p

import (
	"errors"
	"fmt"
)

// SigType is an I2P signature type code (I2P-WIRE 3.1). The numbers are part
// of the wire format and never change.
type SigType uint16

// Signature types I2P defines.
const (
	SigDSASHA1       SigType = 0
	SigECDSAP256     SigType = 1
	SigECDSAP384     SigType = 2
	SigECDSAP521     SigType = 3
	SigRSA2048       SigType = 4
	SigRSA3072       SigType = 5
	SigRSA4096       SigType = 6
	SigEd25519       SigType = 7
	SigEd25519ph     SigType = 8
	SigRedDSAEd25519 SigType = 11
)

type sigInfo struct {
	name              string
	pub, priv, sigLen int
}

var sigTypes = map[SigType]sigInfo{
	SigDSASHA1:       {"DSA_SHA1", 128, 20, 40},
	SigECDSAP256:     {"ECDSA_SHA256_P256", 64, 32, 64},
	SigECDSAP384:     {"ECDSA_SHA384_P384", 96, 48, 96},
	SigECDSAP521:     {"ECDSA_SHA512_P521", 132, 66, 132},
	SigRSA2048:       {"RSA_SHA256_2048", 256, 512, 256},
	SigRSA3072:       {"RSA_SHA384_3072", 384, 768, 384},
	SigRSA4096:       {"RSA_SHA512_4096", 512, 1024, 512},
	SigEd25519:       {"EdDSA_SHA512_Ed25519", 32, 32, 64},
	SigEd25519ph:     {"EdDSA_SHA512_Ed25519ph", 32, 32, 64},
	SigRedDSAEd25519: {"RedDSA_SHA512_Ed25519", 32, 32, 64},
}

// ErrUnknownSigType reports a signature type this package has no lengths for.
var ErrUnknownSigType = errors.New("i2p: unknown signature type")

// ErrUnsupportedSigType reports a known signature type that imh cannot sign
// or verify with.
var ErrUnsupportedSigType = errors.New("i2p: unsupported signature type")

// Known reports whether the lengths of t are known.
func (t SigType) Known() bool { _, ok := sigTypes[t]; return ok }

// PublicKeyLen is the signing public key length in bytes, 0 if unknown.
func (t SigType) PublicKeyLen() int { return sigTypes[t].pub }

// PrivateKeyLen is the signing private key length in bytes, 0 if unknown.
func (t SigType) PrivateKeyLen() int { return sigTypes[t].priv }

// SignatureLen is the signature length in bytes, 0 if unknown.
func (t SigType) SignatureLen() int { return sigTypes[t].sigLen }

func (t SigType) String() string {
	if i, ok := sigTypes[t]; ok {
		return i.name
	}
	return fmt.Sprintf("SigType(%d)", uint16(t))
}

// EncType is an I2P encryption (crypto) type code (I2P-WIRE 3.2).
type EncType uint16

// Encryption types I2P defines.
const (
	EncElGamal         EncType = 0
	EncP256            EncType = 1
	EncP384            EncType = 2
	EncP521            EncType = 3
	EncX25519          EncType = 4
	EncMLKEM512X25519  EncType = 5
	EncMLKEM768X25519  EncType = 6
	EncMLKEM1024X25519 EncType = 7
)

type encInfo struct {
	name      string
	pub, priv int
}

var encTypes = map[EncType]encInfo{
	EncElGamal:         {"ElGamal", 256, 256},
	EncP256:            {"EC_P256", 64, 32},
	EncP384:            {"EC_P384", 96, 48},
	EncP521:            {"EC_P521", 132, 66},
	EncX25519:          {"ECIES_X25519", 32, 32},
	EncMLKEM512X25519:  {"MLKEM512_X25519", 32, 32},
	EncMLKEM768X25519:  {"MLKEM768_X25519", 32, 32},
	EncMLKEM1024X25519: {"MLKEM1024_X25519", 32, 32},
}

// ErrUnknownEncType reports an encryption type this package has no lengths for.
var ErrUnknownEncType = errors.New("i2p: unknown encryption type")

// Known reports whether the lengths of t are known.
func (t EncType) Known() bool { _, ok := encTypes[t]; return ok }

// PublicKeyLen is the public key length in bytes, 0 if unknown.
func (t EncType) PublicKeyLen() int { return encTypes[t].pub }

// PrivateKeyLen is the private key length in bytes, 0 if unknown.
func (t EncType) PrivateKeyLen() int { return encTypes[t].priv }

func (t EncType) String() string {
	if i, ok := encTypes[t]; ok {
		return i.name
	}
	return fmt.Sprintf("EncType(%d)", uint16(t))
}

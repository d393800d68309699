package i2p

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Base64 is I2P's base64: the standard alphabet with '-' and '~' for '+' and
// '/', with '=' padding. It is not URL-safe base64 (which uses '_').
var Base64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~")

// Base32 is I2P's base32: RFC 4648 lower case without padding.
var Base32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// B32Suffix ends every base32 address.
const B32Suffix = ".b32.i2p"

// HashLen is the length of a SHA-256 hash.
const HashLen = 32

// Hash is a SHA-256 hash: Destination and router identity hashes, lease gateways.
type Hash [HashLen]byte

// HashOf returns SHA-256(b).
func HashOf(b []byte) Hash { return sha256.Sum256(b) }

// String is the lower-case hex form, the one imh's JSON uses for gateways.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Base64 is the I2P base64 form (44 characters).
func (h Hash) Base64() string { return Base64.EncodeToString(h[:]) }

// B32 is the .b32.i2p address of the Destination whose hash this is.
func (h Hash) B32() string { return Base32.EncodeToString(h[:]) + B32Suffix }

// IsZero reports whether h is all zeros.
func (h Hash) IsZero() bool { return h == Hash{} }

// ErrBadAddress reports a string that is not a base32 address or hash.
var ErrBadAddress = errors.New("i2p: not a b32 address")

// ParseB32 accepts "<52 chars>.b32.i2p" or the bare 52 characters (any case)
// and returns the Destination hash.
func ParseB32(s string) (Hash, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSuffix(s, B32Suffix)
	if len(s) != 52 {
		return Hash{}, fmt.Errorf("%w: %q has %d characters before %s, want 52", ErrBadAddress, s, len(s), B32Suffix)
	}
	b, err := Base32.DecodeString(s)
	if err != nil || len(b) != HashLen {
		return Hash{}, fmt.Errorf("%w: %q", ErrBadAddress, s)
	}
	var h Hash
	copy(h[:], b)
	return h, nil
}

// ParseHashHex parses the 64-character hex form of a hash.
func ParseHashHex(s string) (Hash, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != HashLen {
		return Hash{}, fmt.Errorf("i2p: bad hex hash %q", s)
	}
	var h Hash
	copy(h[:], b)
	return h, nil
}

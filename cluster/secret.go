package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretLen is the size of a cluster secret in bytes.
const SecretLen = 32

// HKDF labels. Changing one changes every derived key: never edit, only add.
const (
	infoGossip  = "imh gossip key v1"
	infoSealing = "imh sealing key v1"
	sealAAD     = "imh sealed v1"
	sealVersion = 1
)

// ErrBadSecret reports a cluster secret that is not base64 of 32 bytes.
var ErrBadSecret = errors.New("cluster: secret must be base64 of 32 bytes (imh keygen)")

// ErrSealed reports a sealed blob that does not open under this secret.
var ErrSealed = errors.New("cluster: sealed data does not open (wrong cluster secret or corrupt)")

// Secret is the cluster secret. It never leaves memory: String and LogValue
// hide it.
type Secret struct{ b [SecretLen]byte }

// NewSecret returns a fresh random secret.
func NewSecret() (Secret, error) {
	var s Secret
	if _, err := rand.Read(s.b[:]); err != nil {
		return Secret{}, fmt.Errorf("read random secret: %w", err)
	}
	return s, nil
}

// ParseSecret decodes the base64 form that imh keygen prints.
func ParseSecret(text string) (Secret, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(raw) != SecretLen {
		return Secret{}, ErrBadSecret
	}
	var s Secret
	copy(s.b[:], raw)
	return s, nil
}

// Encode returns the base64 text form (for imh keygen only).
func (s Secret) Encode() string { return base64.StdEncoding.EncodeToString(s.b[:]) }

// IsZero reports an unset secret.
func (s Secret) IsZero() bool { return s.b == [SecretLen]byte{} }

// String never shows the secret.
func (s Secret) String() string { return "Secret(<hidden>)" }

// GoString never shows the secret.
func (s Secret) GoString() string { return s.String() }

func (s Secret) derive(info string) []byte {
	k, err := hkdf.Key(sha256.New, s.b[:], nil, info, 32)
	if err != nil { // only for lengths over 255*32
		panic("cluster: hkdf: " + err.Error())
	}
	return k
}

// GossipKey is the AES-256 key memberlist encrypts gossip with.
func (s Secret) GossipKey() []byte { return s.derive(infoGossip) }

// Sealer seals and opens private keys with AES-256-GCM under the key derived
// from the cluster secret. Seal uses random nonces, so it belongs at the
// edge (the API on the leader), never inside an fsm Apply.
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives the sealing key from s.
func NewSealer(s Secret) (*Sealer, error) {
	block, err := aes.NewCipher(s.derive(infoSealing))
	if err != nil {
		return nil, fmt.Errorf("sealing cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealing cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain. Layout: version u8 (1) | nonce (12) | ciphertext+tag.
func (s *Sealer) Seal(plain []byte) ([]byte, error) {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], plain, []byte(sealAAD)), nil
}

// Open decrypts what Seal produced.
func (s *Sealer) Open(sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrSealed
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(sealAAD))
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

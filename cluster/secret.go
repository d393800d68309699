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
	"os"
	"strings"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
)

// SecretLen is the size of a cluster secret in bytes.
const SecretLen = 32

// HKDF labels. Changing one changes every derived key: never edit, only add.
const (
	infoGossip  = "imh gossip key v1"
	infoSealing = "imh sealing key v1"
	infoKeyID   = "imh secret key id v1"
	sealAADv1   = "imh sealed v1"
	sealAADv2   = "imh-seal-v2"
	sealV1      = 1
	sealV2      = fsm.SealVersion2
	sealNonce   = 12
	sealHeader2 = 1 + fsm.KeyIDLen // version | key id
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

// ReadSecretFile reads a secret file as imh keygen --out writes it (the
// base64 form; surrounding white space ignored). An empty file is named as
// such: it is the usual mistake (a file created for the secret but never
// filled), not a malformed secret.
func ReadSecretFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("secret file: %v", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return Secret{}, fmt.Errorf("secret file %s is empty (write a secret into it with imh keygen --out, or give IMH_SECRET)", path)
	}
	s, err := ParseSecret(string(b))
	if err != nil {
		return Secret{}, fmt.Errorf("secret from %s: %w", path, err)
	}
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

// KeyID names the secret without revealing it: the first 8 bytes of
// HKDF-SHA256(secret, info "imh secret key id v1").
func (s Secret) KeyID() fsm.KeyID {
	var id fsm.KeyID
	copy(id[:], s.derive(infoKeyID))
	return id
}

// Sealer seals and opens private keys with AES-256-GCM under the key derived
// from one cluster secret. Seal uses random nonces, so it belongs at the
// edge (the API on the leader), never inside an fsm Apply.
//
// A sealed blob is bound to its destination and field: moved into another
// destination's record, or into the other field, it does not open.
//
// Format 2 (written):
//
//	version u8 (2) | key id (8) | nonce (12) | AES-256-GCM ciphertext+tag (16)
//	associated data: version u8 (2) | key id (8) | "imh-seal-v2" |
//	    field name length u8 | field name ("keys", "leaseset-key") | destination hash (32)
//
// Format 1 (read only; written by imh before format 2):
//
//	version u8 (1) | nonce (12) | ciphertext+tag, associated data "imh sealed v1"
//
// Format 1 names neither the destination nor the field; imh cluster secret
// rotate re-seals such blobs in format 2 (fsm.SecretRotated), after which
// the cluster accepts only format 2 under its key.
type Sealer struct {
	aead cipher.AEAD
	id   fsm.KeyID
}

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
	return &Sealer{aead: aead, id: s.KeyID()}, nil
}

// KeyID names the secret this sealer seals under.
func (s *Sealer) KeyID() fsm.KeyID { return s.id }

// Seal encrypts plain, the field of the destination with hash dest, in
// format 2.
func (s *Sealer) Seal(plain []byte, dest i2p.Hash, field fsm.SealedField) ([]byte, error) {
	var nonce [sealNonce]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return s.sealWith(nonce, plain, dest, field), nil
}

func (s *Sealer) sealWith(nonce [sealNonce]byte, plain []byte, dest i2p.Hash, field fsm.SealedField) []byte {
	out := make([]byte, 0, sealHeader2+sealNonce+len(plain)+s.aead.Overhead())
	out = append(out, sealV2)
	out = append(out, s.id[:]...)
	out = append(out, nonce[:]...)
	return s.aead.Seal(out, nonce[:], plain, aadV2(out[:sealHeader2], dest, field))
}

func aadV2(header []byte, dest i2p.Hash, field fsm.SealedField) []byte {
	name := field.String()
	aad := make([]byte, 0, len(header)+len(sealAADv2)+1+len(name)+len(dest))
	aad = append(aad, header...)
	aad = append(aad, sealAADv2...)
	aad = append(aad, byte(len(name)))
	aad = append(aad, name...)
	return append(aad, dest[:]...)
}

// Open decrypts a blob of format 2 sealed under this secret for the field
// of the destination dest, or a blob of format 1 sealed under this secret.
func (s *Sealer) Open(sealed []byte, dest i2p.Hash, field fsm.SealedField) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, ErrSealed
	}
	var (
		nonce, ct, aad []byte
		tag            = s.aead.Overhead()
	)
	switch sealed[0] {
	case sealV1:
		if len(sealed) < 1+sealNonce+tag {
			return nil, ErrSealed
		}
		nonce, ct, aad = sealed[1:1+sealNonce], sealed[1+sealNonce:], []byte(sealAADv1)
	case sealV2:
		if len(sealed) < sealHeader2+sealNonce+tag {
			return nil, ErrSealed
		}
		if id, _ := fsm.SealedKeyID(sealed); id != s.id {
			return nil, ErrSealed
		}
		nonce, ct = sealed[sealHeader2:sealHeader2+sealNonce], sealed[sealHeader2+sealNonce:]
		aad = aadV2(sealed[:sealHeader2], dest, field)
	default:
		return nil, ErrSealed
	}
	plain, err := s.aead.Open(nil, nonce, ct, aad)
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

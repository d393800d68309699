package i2p

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
)

// TestParsePrivateKeysEveryType builds key files by the layout of the issue
// (Destination | encryption private key | signing private key) for every
// type pair and checks they parse and re-encode unchanged.
func TestParsePrivateKeysEveryType(t *testing.T) {
	for _, s := range sigTable {
		for _, e := range encTable {
			t.Run(s.name+"/"+e.name, func(t *testing.T) {
				dest := handDestination(s.t, pattern(0x10, s.pub), e.t, pattern(0x40, e.pub))
				file := append(bytes.Clone(dest), pattern(0x70, e.priv)...)
				file = append(file, pattern(0x01, s.priv)...)
				k, err := ParsePrivateKeys(file)
				if err != nil {
					t.Fatalf("ParsePrivateKeys: %v", err)
				}
				if !bytes.Equal(k.Destination().Bytes(), dest) || k.EncryptionKeyType() != e.t || k.Offline() != nil {
					t.Fatalf("parsed %s enc %s offline %v", k.Destination().B32(), k.EncryptionKeyType(), k.Offline())
				}
				if got, _ := k.MarshalBinary(); !bytes.Equal(got, file) {
					t.Fatal("MarshalBinary differs from the file")
				}
				if k.CanSign() != (s.t == SigEd25519) {
					t.Errorf("CanSign = %t", k.CanSign())
				}
				for _, bad := range [][]byte{file[:len(file)-1], append(bytes.Clone(file), 0)} {
					if _, err := ParsePrivateKeys(bad); !errors.Is(err, ErrBadKeyFile) {
						t.Errorf("%d-byte file (want %d): err = %v", len(bad), len(file), err)
					}
				}
			})
		}
	}
}

func TestPrivateKeysTypeSevenFile(t *testing.T) {
	k, err := NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.MarshalBinary()
	// TESTNET.md: 391-byte Destination + 256-byte ElGamal key + 32-byte seed.
	if len(b) != 679 || !bytes.Equal(b[384:391], []byte{5, 0, 4, 0, 7, 0, 0}) {
		t.Fatalf("key file %d bytes, cert %x", len(b), b[384:391])
	}
	// Proposal 161 padding: one 32-byte block repeated over 0..351.
	for i := 32; i < 352; i++ {
		if b[i] != b[i%32] {
			t.Fatalf("padding byte %d differs from the block", i)
		}
	}
	p, err := ParsePrivateKeys(b)
	if err != nil || !p.Destination().Equal(k.Destination()) {
		t.Fatalf("re-parse: %v", err)
	}
	msg := []byte("hello")
	sig, err := p.Sign(msg)
	if err != nil || p.Destination().Verify(msg, sig) != nil {
		t.Fatalf("sign/verify: %v", err)
	}
	if !ed25519.Verify(b[352:384], msg, sig) {
		t.Fatal("stdlib does not accept the signature with key bytes 352..383")
	}
	if p.Destination().Verify([]byte("hellO"), sig) == nil {
		t.Fatal("signature verifies for another message")
	}
	k2, _ := NewPrivateKeys(rand.Reader)
	if k2.Destination().Equal(k.Destination()) {
		t.Fatal("two new keys share a destination")
	}
}

func TestNewPrivateKeysShortRandom(t *testing.T) {
	for _, n := range []int{0, 31, 63, 64 + 255} {
		if _, err := NewPrivateKeys(bytes.NewReader(make([]byte, n))); err == nil {
			t.Errorf("%d random bytes accepted", n)
		}
	}
}

// offlineKeyFile builds an i2pd offline key file: all-zero signing private
// key, then expires, transient type and key, the Destination's signature
// and the transient private key.
func offlineKeyFile(t *testing.T) ([]byte, *PrivateKeys, ed25519.PrivateKey) {
	t.Helper()
	k := s9Keys(t)
	tpub, tpriv, _ := ed25519.GenerateKey(rand.Reader)
	o, err := k.SignOffline(1800000000, SigEd25519, tpub)
	if err != nil {
		t.Fatal(err)
	}
	file := append(bytes.Clone(k.Destination().Bytes()), make([]byte, 256)...)
	file = append(file, make([]byte, 32)...)
	file = append(file, 0x6b, 0x49, 0xd2, 0x00, 0x00, 0x07) // 1800000000, type 7
	file = append(file, tpub...)
	file = append(file, o.Signature...)
	file = append(file, tpriv.Seed()...)
	return file, k, tpriv
}

func TestParsePrivateKeysOffline(t *testing.T) {
	file, k, _ := offlineKeyFile(t)
	p, err := ParsePrivateKeys(file)
	if err != nil {
		t.Fatalf("ParsePrivateKeys: %v", err)
	}
	o := p.Offline()
	if o == nil || o.Expires != 1800000000 || o.TransientType != SigEd25519 || len(o.TransientPub) != 32 || len(o.Signature) != 64 {
		t.Fatalf("offline = %+v", o)
	}
	if err := k.Destination().Verify(file[391+256+32:391+256+32+6+32], o.Signature); err != nil {
		t.Fatalf("offline signature: %v", err)
	}
	if p.CanSign() {
		t.Error("offline keys claim they can sign with the (zero) Destination key")
	}
	if got, _ := p.MarshalBinary(); !bytes.Equal(got, file) {
		t.Fatal("offline key file does not round-trip")
	}
	bad := bytes.Clone(file)
	bad[391+256+32+5] = 9 // unknown transient type
	if _, err := ParsePrivateKeys(bad); !errors.Is(err, ErrBadKeyFile) {
		t.Fatalf("unknown transient type: err = %v", err)
	}
	if _, err := ParsePrivateKeys(file[:len(file)-1]); !errors.Is(err, ErrBadKeyFile) {
		t.Fatalf("short offline section: err = %v", err)
	}
}

func TestLeaseSetKey(t *testing.T) {
	k, err := NewLeaseSetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if ek := k.EncryptionKey(); ek.Type != EncX25519 || !bytes.Equal(ek.Key, k.Public()) || len(k.Private()) != 32 {
		t.Fatalf("EncryptionKey = %+v", ek)
	}
	if _, err := ParseLeaseSetKey(make([]byte, 31)); err == nil {
		t.Fatal("31-byte X25519 key accepted")
	}
	if _, err := NewLeaseSetKey(bytes.NewReader(nil)); err == nil {
		t.Fatal("empty random accepted")
	}
}

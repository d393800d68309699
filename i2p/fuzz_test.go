package i2p

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/wire"
)

// Round-trip fuzz targets, seeded with the section-9 golden inputs. Every
// decoder must return a value or an error for any input, never panic, and
// whatever it accepts must encode back to the bytes it read.

// s9SessionMapping is the CreateSession options Mapping of section 9.
const s9SessionMapping = "006418693263702e646f6e745075626c6973684c656173655365743d04747275653b14693263702e6c65617365536574456e63547970653d01343b11693263702e6c65617365536574547970653d01333b10696e626f756e642e7175616e746974793d01333b"

// mappingKeysInOrder lists a valid mapping's keys in wire order.
func mappingKeysInOrder(b []byte) []string {
	r := wire.NewReader(b[2:])
	var keys []string
	for r.Len() > 0 && r.Err() == nil {
		keys = append(keys, r.String("k"))
		r.Uint8("=")
		r.String("v")
		r.Uint8(";")
	}
	return keys
}

func FuzzParseMapping(f *testing.F) {
	f.Add(unhex(f, s9SessionMapping))
	f.Add(unhex(f, "0016"+"11693263702e6c65617365536574547970653d01333b"))
	f.Add([]byte{0, 0})
	f.Add([]byte("\x00\x0c\x01b=\x011;\x01a=\x012;"))
	f.Add([]byte("\x00\x0c\x01a=\x011;\x01a=\x012;"))
	f.Add([]byte("\x00\x0c\x01\xff=\x011;\x01\xfe=\x012;")) // both decode to U+FFFD
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := ParseMapping(b)
		if err != nil {
			return
		}
		if n < 2 || n > len(b) {
			t.Fatalf("n = %d for %d bytes", n, len(b))
		}
		enc, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted mapping does not encode: %v", err)
		}
		if len(enc) != n {
			t.Fatalf("re-encoded %d bytes, read %d", len(enc), n)
		}
		m2, n2, err := ParseMapping(enc)
		if err != nil || n2 != n || !maps.Equal(m, m2) {
			t.Fatalf("canonical form does not re-parse: %v", err)
		}
		sorted := slices.IsSortedFunc(mappingKeysInOrder(b[:n]), func(a, b string) int {
			if javaLess(a, b) {
				return -1
			}
			if javaLess(b, a) {
				return 1
			}
			return 0
		})
		if sorted != bytes.Equal(enc, b[:n]) {
			t.Fatalf("sorted input %t but bytes equal %t", sorted, bytes.Equal(enc, b[:n]))
		}
	})
}

func FuzzParseDestination(f *testing.F) {
	f.Add(s9DestBytes(f))
	f.Add(handDestination(SigECDSAP521, pattern(1, 132), EncElGamal, nil))
	f.Add(handDestination(SigRSA4096, pattern(1, 512), EncX25519, pattern(2, 32)))
	f.Add(append(pattern(0, 384), 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, n, err := ParseDestination(b)
		if err != nil {
			return
		}
		if n != d.Len() || n > len(b) || !bytes.Equal(d.Bytes(), b[:n]) {
			t.Fatalf("n = %d, Len = %d, bytes differ", n, d.Len())
		}
		if d.Hash() != Hash(sha256.Sum256(b[:n])) {
			t.Fatal("hash is not SHA-256 of the bytes")
		}
		if got, err := Base64.DecodeString(d.Base64()); err != nil || !bytes.Equal(got, b[:n]) {
			t.Fatal("base64 does not round-trip")
		}
		if h, err := ParseB32(d.B32()); err != nil || h != d.Hash() {
			t.Fatal("b32 does not round-trip")
		}
		if len(d.SigningPublicKey()) != d.SigType().PublicKeyLen() || len(d.EncryptionPublicKey()) != d.EncType().PublicKeyLen() {
			t.Fatal("key lengths do not match the types")
		}
		d2, n2, err := ParseDestination(d.Bytes())
		if err != nil || n2 != n || !d2.Equal(d) {
			t.Fatalf("re-parse: %v", err)
		}
		_ = d.Verify([]byte("m"), make([]byte, d.SigType().SignatureLen()))
	})
}

func FuzzParsePrivateKeys(f *testing.F) {
	k := s9Keys(f)
	b, _ := k.MarshalBinary()
	f.Add(b)
	f.Add(offlineFileForFuzz(f))
	p521 := append(handDestination(SigECDSAP521, pattern(1, 132), EncX25519, pattern(2, 32)), pattern(3, 32+66)...)
	f.Add(p521)
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePrivateKeys(b)
		if err != nil {
			return
		}
		got, err := k.MarshalBinary()
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("key file does not round-trip: %v", err)
		}
		if k.CanSign() {
			// The seed need not match the Destination's key (then the
			// signature does not verify), but Sign must work.
			if _, err := k.Sign([]byte("m")); err != nil {
				t.Fatalf("CanSign but Sign failed: %v", err)
			}
		}
	})
}

// offlineFileForFuzz is offlineKeyFile for a testing.F.
func offlineFileForFuzz(f *testing.F) []byte {
	k := s9Keys(f)
	tpub, tpriv, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	o, err := k.SignOffline(1800000000, SigEd25519, tpub)
	if err != nil {
		f.Fatal(err)
	}
	b := append(bytes.Clone(k.Destination().Bytes()), make([]byte, 256+32)...)
	b = append(b, 0x6b, 0x49, 0xd2, 0x00, 0x00, 0x07)
	b = append(b, tpub...)
	b = append(b, o.Signature...)
	return append(b, tpriv.Seed()...)
}

func FuzzParseLeaseSet2(f *testing.F) {
	f.Add(s9LeaseSetBytes(f))
	ls, k := newTestLeaseSet(f, 16)
	ls.Options = Mapping{"b": "2", "a": "1"}
	f.Add(signMarshal(f, ls, k))
	ls, k = newTestLeaseSet(f, 1)
	tpub, tpriv, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	o, err := k.SignOffline(s9Published+3600, SigEd25519, tpub)
	if err != nil {
		f.Fatal(err)
	}
	ls.Offline = o
	if err := ls.SignTransient(tpriv); err != nil {
		f.Fatal(err)
	}
	off, _ := ls.MarshalBinary()
	f.Add(off)
	f.Fuzz(func(t *testing.T, b []byte) {
		ls, err := ParseLeaseSet2(b)
		if err != nil {
			return
		}
		got, err := ls.MarshalBinary()
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("LS2 does not round-trip: %v", err)
		}
		msg, err := ls.SignedBytes()
		if err != nil || len(msg) != len(b)-len(ls.Signature)+1 || msg[0] != StoreLeaseSet2 {
			t.Fatalf("signed bytes: %v", err)
		}
		_ = ls.Verify()
		_ = ls.TimeStatus(time.Unix(int64(ls.Published), 0))
		if len(ls.Leases) > MaxLeases || len(ls.Keys) == 0 || len(ls.Keys) > MaxEncryptionKeys {
			t.Fatalf("limits: %d leases, %d keys", len(ls.Leases), len(ls.Keys))
		}
	})
}

func FuzzParseCertificate(f *testing.F) {
	f.Add(unhex(f, "05000400070000"))
	f.Add(unhex(f, "0500080003000001020304"))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, n, err := ParseCertificate(b)
		if err != nil {
			return
		}
		enc, err := c.AppendBinary(nil)
		if err != nil || !bytes.Equal(enc, b[:n]) {
			t.Fatalf("certificate does not round-trip: %v", err)
		}
		kc, err := c.KeyCertificate()
		if err != nil {
			return
		}
		if got := kc.Certificate(); got.Type != c.Type || !bytes.Equal(got.Payload, c.Payload) {
			t.Fatal("key certificate does not round-trip")
		}
	})
}

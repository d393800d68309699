package i2p

import (
	"bytes"
	"testing"
)

func TestQuickGolden(t *testing.T) {
	seed := make([]byte, 32)
	var block [32]byte
	for i := range seed {
		seed[i] = byte(i)
		block[i] = 0xa0 + byte(i)
	}
	k, err := NewEd25519PrivateKeys(seed, block, bytes.Repeat([]byte{1}, 256))
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Destination().Hash().String(); got != "4d31139ca823857695d0bc3668caa462d4f82daae6a77e589b838bc153a93d36" {
		t.Fatalf("hash %s", got)
	}
	if got := k.Destination().B32(); got != "juyrhhfieocxnfoqxq3grsvemlkpqlnk42tx4we3qof4cu5jhu3a.b32.i2p" {
		t.Fatal(got)
	}
	x := make([]byte, 32)
	for i := range x {
		x[i] = 0x40 + byte(i)
	}
	lk, _ := ParseLeaseSetKey(x)
	var g1, g2 Hash
	for i := range g1 {
		g1[i], g2[i] = 0x11, 0x22
	}
	ls := &LeaseSet2{Destination: k.Destination(), Published: 1735689600, Expires: 600,
		Keys:   []EncryptionKey{lk.EncryptionKey()},
		Leases: []Lease2{{g1, 0x01020304, 1735689600 + 600}, {g2, 0x0a0b0c0d, 1735689600 + 590}}}
	if err := ls.Sign(k); err != nil {
		t.Fatal(err)
	}
	b, _ := ls.MarshalBinary()
	if len(b) != 583 {
		t.Fatal(len(b))
	}
	if got := b[519:523]; !bytes.Equal(got, []byte{0x1c, 0xa1, 0xc0, 0xd4}) {
		t.Fatalf("sig %x", got)
	}
	p, err := ParseLeaseSet2(b)
	if err != nil || p.Verify() != nil {
		t.Fatal(err, p.Verify())
	}
	b[600-100] ^= 1
	p, _ = ParseLeaseSet2(b)
	if p.Verify() == nil {
		t.Fatal("tampered verifies")
	}
}

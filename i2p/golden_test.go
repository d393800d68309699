package i2p

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// The worked example of I2P-WIRE section 9. Every value below is pasted from
// the document (its tables, its hex dump in testdata/section9_leaseset2.hex
// and its base64 in testdata/section9_destination.b64), never produced by
// this package.
const (
	s9Seed       = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	s9SigningPub = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
	s9Block      = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	s9X25519Priv = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
	s9X25519Pub  = "79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a"
	s9DestHash   = "4d31139ca823857695d0bc3668caa462d4f82daae6a77e589b838bc153a93d36"
	s9HashB64    = "TTETnKgjhXaV0Lw2aMqkYtT4Larmp35Ym4OLwVOpPTY="
	s9B32        = "juyrhhfieocxnfoqxq3grsvemlkpqlnk42tx4we3qof4cu5jhu3a.b32.i2p"
	s9SignedHash = "b5b39166b254bbfa4d1d65279b27d857f9cf537204063c13d41d7932182a46bc"
	s9Signature  = "1ca1c0d4760e5d26407bff71c05834f575b3b332496d109ec660e0c09bafa62c3ef6b9b18a70cf821b6d76506ef690bec749588d84d206d8096e621243700308"
	s9Published  = 1735689600
)

// row is one line of a section-9 byte table: offset, length, bytes.
type row struct {
	off, n int
	field  string
	hex    string
}

// s9DestRows is the Destination table of section 9 (the 256- and 96-byte
// areas are the padding block repeated, as the table says).
var s9DestRows = []row{
	{0, 256, "public key area (8 x block)", strings.Repeat(s9Block, 8)},
	{256, 96, "padding (3 x block)", strings.Repeat(s9Block, 3)},
	{352, 32, "Ed25519 signing public key", s9SigningPub},
	{384, 1, "cert type", "05"},
	{385, 2, "cert payload length", "0004"},
	{387, 2, "signing type", "0007"},
	{389, 2, "crypto type", "0000"},
}

// s9LeaseSetRows is the LeaseSet2 table of section 9 after the Destination.
var s9LeaseSetRows = []row{
	{391, 4, "published", "67748580"},
	{395, 2, "expires offset", "0258"},
	{397, 2, "flags", "0000"},
	{399, 2, "options size", "0000"},
	{401, 1, "numk", "01"},
	{402, 2, "keytype", "0004"},
	{404, 2, "keylen", "0020"},
	{406, 32, "X25519 public key", s9X25519Pub},
	{438, 1, "num leases", "02"},
	{439, 32, "lease[0] gateway", strings.Repeat("11", 32)},
	{471, 4, "lease[0] tunnel", "01020304"},
	{475, 4, "lease[0] end", "677487d8"},
	{479, 32, "lease[1] gateway", strings.Repeat("22", 32)},
	{511, 4, "lease[1] tunnel", "0a0b0c0d"},
	{515, 4, "lease[1] end", "677487ce"},
	{519, 64, "signature", s9Signature},
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// assemble builds bytes from table rows, checking that they are contiguous.
func assemble(t testing.TB, rows []row) []byte {
	t.Helper()
	var b []byte
	for _, r := range rows {
		if r.off != len(b) {
			t.Fatalf("row %s at %d, expected %d", r.field, r.off, len(b))
		}
		v := unhex(t, r.hex)
		if len(v) != r.n {
			t.Fatalf("row %s: %d bytes, table says %d", r.field, len(v), r.n)
		}
		b = append(b, v...)
	}
	return b
}

// readHexDump reads a "0000: a0a1..." dump as the document prints it.
func readHexDump(t testing.TB, path string) []byte {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for i, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		off, data, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s line %d: no offset", path, i+1)
		}
		if want := hex.EncodeToString([]byte{byte(len(b) >> 8), byte(len(b))}); off != want {
			t.Fatalf("%s line %d: offset %s, want %s", path, i+1, off, want)
		}
		b = append(b, unhex(t, strings.TrimSpace(data))...)
	}
	return b
}

func s9DestBytes(t testing.TB) []byte { return assemble(t, s9DestRows) }

func s9LeaseSetBytes(t testing.TB) []byte {
	b := readHexDump(t, "testdata/section9_leaseset2.hex")
	if len(b) != 583 {
		t.Fatalf("section 9 LS2 dump has %d bytes, want 583", len(b))
	}
	return b
}

func s9Keys(t testing.TB) *PrivateKeys {
	t.Helper()
	var block [32]byte
	copy(block[:], unhex(t, s9Block))
	k, err := NewEd25519PrivateKeys(unhex(t, s9Seed), block, bytes.Repeat([]byte{0x55}, 256))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func s9Hash(t testing.TB, s string) Hash {
	var h Hash
	copy(h[:], unhex(t, s))
	return h
}

func TestGoldenDestination(t *testing.T) {
	want := s9DestBytes(t)
	if len(want) != 391 {
		t.Fatalf("table Destination is %d bytes", len(want))
	}
	b64, err := os.ReadFile("testdata/section9_destination.b64")
	if err != nil {
		t.Fatal(err)
	}
	wantB64 := strings.TrimSpace(string(b64))
	if len(wantB64) != 524 {
		t.Fatalf("document base64 has %d chars, want 524", len(wantB64))
	}

	d, n, err := ParseDestination(append(bytes.Clone(want), 0xee, 0xff))
	if err != nil || n != 391 {
		t.Fatalf("ParseDestination: n=%d err=%v", n, err)
	}
	checks := []struct{ name, got, want string }{
		{"bytes", hex.EncodeToString(d.Bytes()), hex.EncodeToString(want)},
		{"hash", d.Hash().String(), s9DestHash},
		{"hash of table bytes", hex.EncodeToString(func() []byte { h := sha256.Sum256(want); return h[:] }()), s9DestHash},
		{"hash base64", d.Hash().Base64(), s9HashB64},
		{"base64", d.Base64(), wantB64},
		{"b32", d.B32(), s9B32},
		{"hash b32", s9Hash(t, s9DestHash).B32(), s9B32},
		{"signing key", hex.EncodeToString(d.SigningPublicKey()), s9SigningPub},
		{"encryption key", hex.EncodeToString(d.EncryptionPublicKey()), strings.Repeat(s9Block, 8)},
		{"sig type", d.SigType().String(), "EdDSA_SHA512_Ed25519"},
		{"enc type", d.EncType().String(), "ElGamal"},
		{"ed25519 public from seed", hex.EncodeToString(ed25519.NewKeyFromSeed(unhex(t, s9Seed)).Public().(ed25519.PublicKey)), s9SigningPub},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.got, c.want)
		}
	}
	if got, _ := d.AppendBinary([]byte{9}); !bytes.Equal(got[1:], want) {
		t.Error("AppendBinary differs from the table")
	}
	if got, err := Base64.DecodeString(wantB64); err != nil || !bytes.Equal(got, want) {
		t.Errorf("document base64 does not decode to the table bytes: %v", err)
	}
	if h, err := ParseB32(strings.ToUpper(s9B32)); err != nil || h != d.Hash() {
		t.Errorf("ParseB32 = %v, %v", h, err)
	}
	if h, err := ParseHashHex(s9DestHash); err != nil || h != d.Hash() {
		t.Errorf("ParseHashHex = %v, %v", h, err)
	}
	// The keys built from the section-9 inputs give exactly these bytes.
	if got := s9Keys(t).Destination().Bytes(); !bytes.Equal(got, want) {
		t.Errorf("NewEd25519PrivateKeys Destination differs:\n got %x\nwant %x", got, want)
	}
}

func TestGoldenLeaseSet2Parse(t *testing.T) {
	raw := s9LeaseSetBytes(t)
	// The dump agrees with the tables, row by row.
	if !bytes.Equal(raw[:391], s9DestBytes(t)) {
		t.Fatal("LS2 dump does not start with the table Destination")
	}
	for _, r := range s9LeaseSetRows {
		if got := hex.EncodeToString(raw[r.off : r.off+r.n]); got != r.hex {
			t.Errorf("dump %s @%d = %s, table %s", r.field, r.off, got, r.hex)
		}
	}
	ls, err := ParseLeaseSet2(raw)
	if err != nil {
		t.Fatalf("ParseLeaseSet2: %v", err)
	}
	if ls.Destination.B32() != s9B32 || ls.Published != s9Published || ls.Expires != 600 || ls.Flags != 0 ||
		ls.Offline != nil || len(ls.Options) != 0 {
		t.Errorf("header: b32 %s published %d expires %d flags %d offline %v options %v",
			ls.Destination.B32(), ls.Published, ls.Expires, ls.Flags, ls.Offline, ls.Options)
	}
	if ls.ExpiresAt() != s9Published+600 {
		t.Errorf("ExpiresAt = %d", ls.ExpiresAt())
	}
	if len(ls.Keys) != 1 || ls.Keys[0].Type != EncX25519 || hex.EncodeToString(ls.Keys[0].Key) != s9X25519Pub {
		t.Errorf("keys = %+v", ls.Keys)
	}
	wantLeases := []Lease2{
		{Gateway: s9Hash(t, strings.Repeat("11", 32)), TunnelID: 0x01020304, End: s9Published + 600},
		{Gateway: s9Hash(t, strings.Repeat("22", 32)), TunnelID: 0x0a0b0c0d, End: s9Published + 590},
	}
	if len(ls.Leases) != 2 || ls.Leases[0] != wantLeases[0] || ls.Leases[1] != wantLeases[1] {
		t.Errorf("leases = %+v", ls.Leases)
	}
	if hex.EncodeToString(ls.Signature) != s9Signature {
		t.Errorf("signature = %x", ls.Signature)
	}
	msg, err := ls.SignedBytes()
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) != 520 || msg[0] != 0x03 || !bytes.Equal(msg[1:], raw[:519]) {
		t.Errorf("signed bytes: %d bytes, first %#x", len(msg), msg[0])
	}
	if h := sha256.Sum256(msg); hex.EncodeToString(h[:]) != s9SignedHash {
		t.Errorf("SHA-256(signed) = %x, want %s", h, s9SignedHash)
	}
	if err := ls.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if !ed25519.Verify(unhex(t, s9SigningPub), msg, unhex(t, s9Signature)) {
		t.Error("stdlib ed25519 rejects the document's signature over SignedBytes")
	}
	if got, err := ls.MarshalBinary(); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("re-marshal differs: %v", err)
	}
}

func TestGoldenLeaseSet2Build(t *testing.T) {
	want := s9LeaseSetBytes(t)
	k := s9Keys(t)
	lk, err := ParseLeaseSetKey(unhex(t, s9X25519Priv))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(lk.Public()) != s9X25519Pub {
		t.Fatalf("X25519 public = %x, want %s", lk.Public(), s9X25519Pub)
	}
	if hex.EncodeToString(lk.Private()) != s9X25519Priv {
		t.Fatalf("X25519 private not kept as given: %x", lk.Private())
	}
	ls := &LeaseSet2{
		Destination: k.Destination(),
		Published:   s9Published,
		Expires:     600,
		Keys:        []EncryptionKey{lk.EncryptionKey()},
		Leases: []Lease2{
			{Gateway: s9Hash(t, strings.Repeat("11", 32)), TunnelID: 0x01020304, End: s9Published + 600},
			{Gateway: s9Hash(t, strings.Repeat("22", 32)), TunnelID: 0x0a0b0c0d, End: s9Published + 590},
		},
	}
	if err := ls.Sign(k); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if hex.EncodeToString(ls.Signature) != s9Signature {
		t.Errorf("signature = %x\n     want %s", ls.Signature, s9Signature)
	}
	got, err := ls.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("LS2 differs first at byte %d (%#x, want %#x); len %d want %d", i, got[i], want[i], len(got), len(want))
			}
		}
		t.Fatalf("LS2 length %d, want %d", len(got), len(want))
	}
}

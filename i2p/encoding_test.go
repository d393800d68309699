package i2p

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestBase64Alphabet(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{[]byte{0xfb, 0xff}, "-~8="},       // standard "+/8=", URL-safe "-_8="
		{[]byte{0xf8}, "-A=="},             // 62 = '-'
		{[]byte{0xfc}, "~A=="},             // 63 = '~'
		{[]byte{0, 0, 0}, "AAAA"},          // no padding needed
		{[]byte("hello"), "aGVsbG8="},      // as standard base64
		{[]byte{0x3e, 0xff, 0xbf}, "Pv-~"}, // 15 47 62 63
	}
	for _, tt := range tests {
		if got := Base64.EncodeToString(tt.in); got != tt.want {
			t.Errorf("encode %x = %q, want %q", tt.in, got, tt.want)
		}
		if got, err := Base64.DecodeString(tt.want); err != nil || !bytes.Equal(got, tt.in) {
			t.Errorf("decode %q = %x, %v", tt.want, got, err)
		}
	}
	for _, bad := range []string{"+/8=", "-_8=", "-~8"} {
		if _, err := Base64.DecodeString(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestBase32(t *testing.T) {
	var h Hash
	if got := h.B32(); got != strings.Repeat("a", 52)+".b32.i2p" {
		t.Fatalf("zero hash b32 = %s", got)
	}
	h[31] = 0xff
	// Bits 245-249 = 00011 (d), 250-254 = 11111 (7), 255 + 4 zero bits = 10000 (q).
	if got := h.B32(); got != strings.Repeat("a", 49)+"d7q.b32.i2p" {
		t.Fatalf("b32 = %s", got)
	}
	if got := Base32.EncodeToString([]byte("foobar")); got != "mzxw6ytboi" {
		t.Fatalf("RFC 4648 vector: %s", got)
	}
}

func TestParseB32(t *testing.T) {
	want := s9Hash(t, s9DestHash)
	bare := strings.TrimSuffix(s9B32, ".b32.i2p")
	for _, ok := range []string{s9B32, bare, strings.ToUpper(s9B32), " " + s9B32 + "\n", strings.ToUpper(bare) + ".B32.I2P"} {
		if h, err := ParseB32(ok); err != nil || h != want {
			t.Errorf("ParseB32(%q) = %s, %v", ok, h, err)
		}
	}
	for _, bad := range []string{"", bare[:51], bare + "a", bare[:51] + "1", bare[:51] + "=", "example.i2p", s9DestHash} {
		if _, err := ParseB32(bad); !errors.Is(err, ErrBadAddress) {
			t.Errorf("ParseB32(%q) err = %v", bad, err)
		}
	}
}

func TestParseHashHex(t *testing.T) {
	if h, err := ParseHashHex(s9DestHash); err != nil || h.String() != s9DestHash {
		t.Fatalf("ParseHashHex = %s, %v", h, err)
	}
	for _, bad := range []string{"", s9DestHash[:62], s9DestHash + "00", "zz" + s9DestHash[2:]} {
		if _, err := ParseHashHex(bad); err == nil {
			t.Errorf("ParseHashHex(%q) accepted", bad)
		}
	}
	if (Hash{}).IsZero() != true || s9Hash(t, s9DestHash).IsZero() {
		t.Error("IsZero wrong")
	}
	if got := HashOf([]byte("abc")).String(); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashOf(abc) = %s", got)
	}
}

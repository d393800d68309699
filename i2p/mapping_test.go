package i2p

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestMappingGolden(t *testing.T) {
	// I2P-WIRE 2.2: i2cp.leaseSetType=3 (the size prefix 00 16 precedes the entry).
	want, _ := hex.DecodeString("0016" + "11693263702e6c65617365536574547970653d01333b")
	got, err := Mapping{"i2cp.leaseSetType": "3"}.MarshalBinary()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x, %v; want %x", got, err, want)
	}
}

func TestMappingSorted(t *testing.T) {
	m := Mapping{"b": "2", "a": "1", "inbound.quantity": "3", "Z": ""}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := "\x01Z=\x00;\x01a=\x011;\x01b=\x012;\x10inbound.quantity=\x013;"
	if string(b[2:]) != want {
		t.Fatalf("entries %q, want %q", b[2:], want)
	}
}

func TestParseMappingErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"duplicate", []byte("\x00\x0c\x01a=\x011;\x01a=\x012;"), ErrMappingDuplicate},
		{"no equals", []byte("\x00\x06\x01a:\x011;"), ErrMappingSyntax},
		{"no semicolon", []byte("\x00\x06\x01a=\x011,"), ErrMappingSyntax},
		{"short body", []byte("\x00\x10\x01a=\x011;"), nil},
		{"value overruns", []byte("\x00\x05\x01a=\x05x;"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseMapping(tt.in)
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMappingLimits(t *testing.T) {
	if _, err := (Mapping{strings.Repeat("k", 256): "v"}).MarshalBinary(); err == nil {
		t.Fatal("256-byte key accepted")
	}
	big := Mapping{}
	for i := 0; i < 300; i++ {
		big[strings.Repeat("k", 200)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("v", 200)
	}
	if _, err := big.MarshalBinary(); !errors.Is(err, ErrMappingTooLarge) {
		t.Fatalf("oversize err = %v", err)
	}
}

func TestMappingRoundTrip(t *testing.T) {
	m := Mapping{"x": "=;", "": "", "é": "ü", "inbound.length": "3"}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := ParseMapping(append(b, 0xff))
	if err != nil || n != len(b) || len(got) != len(m) {
		t.Fatalf("parse: %v n=%d len=%d", err, n, len(got))
	}
	for k, v := range m {
		if got[k] != v {
			t.Fatalf("%q = %q, want %q", k, got[k], v)
		}
	}
}

// TestMappingJavaOrder: keys sort by UTF-16 code units like Java's
// String.compareTo, which differs from byte order above the BMP.
func TestMappingJavaOrder(t *testing.T) {
	tests := []struct {
		name string
		m    Mapping
		want []string
	}{
		{"ascii", Mapping{"b": "", "B": "", "a": "", "ab": ""}, []string{"B", "a", "ab", "b"}},
		// U+1F600 is the surrogate pair D83D DE00, below U+FF21.
		{"surrogates before U+FF21", Mapping{"\uFF21": "", "\U0001F600": ""}, []string{"\U0001F600", "\uFF21"}},
		{"prefix first", Mapping{"é": "", "éa": ""}, []string{"é", "éa"}},
		// Invalid UTF-8 decodes to U+FFFD for both; ties break by bytes.
		{"invalid utf-8", Mapping{"\xff": "", "\xfe": ""}, []string{"\xfe", "\xff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.m.SortedKeys()
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("order %q, want %q", got, tt.want)
			}
			b, err := tt.m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			m2, _, err := ParseMapping(b)
			if err != nil || len(m2) != len(tt.m) {
				t.Fatalf("re-parse: %v", err)
			}
			b2, _ := m2.MarshalBinary()
			if !bytes.Equal(b, b2) {
				t.Fatal("encoding not deterministic")
			}
		})
	}
}

package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestReaderSticky(t *testing.T) {
	r := NewReader([]byte{0x01, 0x02, 0x03})
	if got := r.Uint16("a"); got != 0x0102 {
		t.Fatalf("Uint16 = %#x", got)
	}
	if got := r.Uint32("b"); got != 0 {
		t.Fatalf("short Uint32 = %#x, want 0", got)
	}
	if !errors.Is(r.Err(), ErrShort) {
		t.Fatalf("err = %v, want ErrShort", r.Err())
	}
	if r.Uint8("c") != 0 {
		t.Fatal("read after error returned data")
	}
}

func TestFinishTrailing(t *testing.T) {
	r := NewReader([]byte{1, 2})
	r.Uint8("x")
	if err := r.Finish(); !errors.Is(err, ErrTrailing) {
		t.Fatalf("Finish = %v, want ErrTrailing", err)
	}
}

func TestStringRoundTrip(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"", false},
		{"0.9.67", false},
		{strings.Repeat("x", 255), false},
		{strings.Repeat("x", 256), true},
	}
	for _, tt := range tests {
		b, err := AppendString(nil, tt.in)
		if (err != nil) != tt.wantErr {
			t.Fatalf("AppendString(%d bytes) err = %v", len(tt.in), err)
		}
		if err != nil {
			continue
		}
		r := NewReader(b)
		if got := r.String("s"); got != tt.in || r.Finish() != nil {
			t.Fatalf("round trip %q -> %q (%v)", tt.in, got, r.Finish())
		}
	}
}

func TestUint48(t *testing.T) {
	b := AppendUint48(nil, 0x0000_1234_5678_9abc)
	if got := NewReader(b).Uint48("d"); got != 0x1234_5678_9abc {
		t.Fatalf("Uint48 = %#x", got)
	}
}

func TestBytesNegativeLength(t *testing.T) {
	r := NewReader([]byte{1})
	if r.Bytes("n", -1) != nil || r.Err() == nil {
		t.Fatal("negative length accepted")
	}
}

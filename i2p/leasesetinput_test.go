package i2p

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseLeaseSet2Input(t *testing.T) {
	ls, k := newTestLeaseSet(t, 3)
	raw := signMarshal(t, ls, k)
	b64 := Base64.EncodeToString(raw)
	unpadded := strings.TrimRight(b64, "=")
	var wrapped strings.Builder
	for i := 0; i < len(b64); i += 76 {
		wrapped.WriteString(b64[i:min(i+76, len(b64))] + "\n")
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"raw bytes", raw, ""},
		{"base64", []byte(b64), ""},
		{"base64 with a trailing newline", []byte(b64 + "\n"), ""},
		{"base64 without padding", []byte(unpadded), ""},
		{"base64 wrapped at 76 columns", []byte(wrapped.String()), ""},
		{"base64 with surrounding space", []byte("  \t" + b64 + " \r\n"), ""},
		{"empty", nil, "empty input"},
		{"only white space", []byte(" \n\t"), "empty input"},
		{"bad padding", []byte("A==="), "bad I2P base64"},
		{"base64 of garbage", []byte("AAAA"), "i2p:"},
		{"standard base64 alphabet is not I2P's", []byte(strings.ReplaceAll(strings.ReplaceAll(b64, "-", "+"), "~", "/") + "+/"), "i2p:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLeaseSet2Input(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseLeaseSet2Input: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLeaseSet2Input: %v", err)
			}
			back, err := got.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, raw) {
				t.Fatal("parsed LeaseSet2 does not marshal back to the input")
			}
		})
	}
}

func TestIsBase64Text(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", true},
		{"AZaz09-~==", true},
		{"ab+c", false}, // standard base64, not I2P's
		{"ab/c", false},
		{"ab c", false},
		{"ab\n", false},
		{"\x00", false},
	}
	for _, tt := range tests {
		if got := IsBase64Text(tt.s); got != tt.want {
			t.Errorf("IsBase64Text(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

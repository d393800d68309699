package i2p

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// base64Raw decodes I2P base64 whose '=' padding was dropped.
var base64Raw = Base64.WithPadding(base64.NoPadding)

// ParseLeaseSet2Input parses a LeaseSet2 as an operator hands one over:
// I2P base64 text, the form imh prints and netDB tools show (with or
// without padding, white space anywhere ignored), or, when the input is
// not base64, the raw bytes as a floodfill stores them (no store-type
// byte). Text is tried first: raw LeaseSet2 bytes are never all base64
// characters, since a Destination's first bytes are random.
func ParseLeaseSet2Input(in []byte) (*LeaseSet2, error) {
	text := strings.Join(strings.Fields(string(in)), "")
	if text != "" && IsBase64Text(text) {
		enc := Base64
		if !strings.HasSuffix(text, "=") && len(text)%4 != 0 {
			enc = base64Raw
		}
		b, err := enc.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("bad I2P base64: %w", err)
		}
		return ParseLeaseSet2(b)
	}
	if len(bytes.TrimSpace(in)) == 0 {
		return nil, errors.New("empty input")
	}
	return ParseLeaseSet2(in)
}

// IsBase64Text reports whether s uses only the I2P base64 alphabet and
// its padding.
func IsBase64Text(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '~' || c == '='
		if !ok {
			return false
		}
	}
	return true
}

package i2p

import (
	"errors"
	"fmt"
	"sort"
	"unicode/utf16"

	"github.com/imh-project/imh/internal/wire"
)

// Mapping is an I2P Mapping (I2P-WIRE 2.2): string keys and values, each at
// most 255 bytes. Encoding is canonical — sorted by key in Java's String
// order — because Java re-serialises a signed mapping before verifying it.
type Mapping map[string]string

// MaxMappingLen is the largest mapping body the u16 size field can carry.
const MaxMappingLen = 0xFFFF

// Mapping errors callers may test for.
var (
	ErrMappingDuplicate = errors.New("i2p: duplicate key in mapping")
	ErrMappingTooLarge  = errors.New("i2p: mapping larger than 65535 bytes")
	ErrMappingSyntax    = errors.New("i2p: malformed mapping entry")
)

// SortedKeys returns the keys in the canonical (Java String.compareTo) order.
func (m Mapping) SortedKeys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return javaLess(keys[i], keys[j]) })
	return keys
}

// javaLess orders strings by UTF-16 code units, as Java's String.compareTo
// does; for ASCII it is byte order.
func javaLess(a, b string) bool {
	if isASCII(a) && isASCII(b) {
		return a < b
	}
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return ua[i] < ub[i]
		}
	}
	if len(ua) != len(ub) {
		return len(ua) < len(ub)
	}
	// Distinct invalid UTF-8 keys can decode to the same UTF-16 (every bad
	// byte becomes U+FFFD); order them by bytes so the encoding stays
	// deterministic.
	return a < b
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// AppendBinary appends the canonical encoding: u16 size, then sorted
// `keyLen key '=' valLen val ';'` entries.
func (m Mapping) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0)
	for _, k := range m.SortedKeys() {
		var err error
		if b, err = wire.AppendString(b, k); err != nil {
			return b[:start], fmt.Errorf("mapping key %.20q: %w", k, err)
		}
		b = append(b, '=')
		if b, err = wire.AppendString(b, m[k]); err != nil {
			return b[:start], fmt.Errorf("mapping value of %q: %w", k, err)
		}
		b = append(b, ';')
	}
	size := len(b) - start - 2
	if size > MaxMappingLen {
		return b[:start], fmt.Errorf("%w: %d", ErrMappingTooLarge, size)
	}
	b[start], b[start+1] = byte(size>>8), byte(size)
	return b, nil
}

// MarshalBinary returns the canonical encoding.
func (m Mapping) MarshalBinary() ([]byte, error) { return m.AppendBinary(nil) }

// ParseMapping decodes a mapping at the start of b and returns it with the
// number of bytes consumed. Entries may come in any order (GetDate's mapping
// is unsigned and unsorted); duplicate keys are rejected.
func ParseMapping(b []byte) (Mapping, int, error) {
	r := wire.NewReader(b)
	size := int(r.Uint16("mapping size"))
	body := r.Bytes("mapping body", size)
	if err := r.Err(); err != nil {
		return nil, 0, err
	}
	m := Mapping{}
	br := wire.NewReader(body)
	for br.Len() > 0 {
		k := br.String("mapping key")
		if br.Uint8("mapping '='") != '=' && br.Err() == nil {
			return nil, 0, fmt.Errorf("%w: no '=' after key %.20q", ErrMappingSyntax, k)
		}
		v := br.String("mapping value")
		if br.Uint8("mapping ';'") != ';' && br.Err() == nil {
			return nil, 0, fmt.Errorf("%w: no ';' after value of %.20q", ErrMappingSyntax, k)
		}
		if err := br.Err(); err != nil {
			return nil, 0, err
		}
		if _, dup := m[k]; dup {
			return nil, 0, fmt.Errorf("%w: %.20q", ErrMappingDuplicate, k)
		}
		m[k] = v
	}
	return m, 2 + size, nil
}

package i2p

// secret holds private key bytes behind a pointer. fmt prints a nested
// pointer as an address, never the bytes it points to, so a struct that
// holds its secrets this way cannot leak them through %v, %+v or %#v even
// when printed by value (fmt cannot call methods on unexported fields, so a
// redacting String method on a byte-slice type would not be enough).
type secret struct{ b []byte }

// newSecret copies b; the copy does not alias the caller's buffer.
func newSecret(b []byte) *secret {
	if b == nil {
		return nil
	}
	return &secret{b: append([]byte(nil), b...)}
}

// bytes returns the secret bytes (nil for a nil secret).
func (s *secret) bytes() []byte {
	if s == nil {
		return nil
	}
	return s.b
}

package i2p

// secret holds private key bytes where fmt and slog cannot reach them: in a
// closure. fmt prints a func as an address, never what it captured, even
// through reflection on unexported fields and even for verbs that make it
// dump a value it cannot format (%!s(...)); a redacting String method on a
// byte-slice type would not be enough, because fmt never calls methods of
// unexported fields.
type secret struct{ load func() []byte }

// newSecret copies b; the copy does not alias the caller's buffer.
func newSecret(b []byte) *secret {
	if b == nil {
		return nil
	}
	c := append([]byte(nil), b...)
	return &secret{load: func() []byte { return c }}
}

// bytes returns the secret bytes (nil for a nil secret).
func (s *secret) bytes() []byte {
	if s == nil || s.load == nil {
		return nil
	}
	return s.load()
}

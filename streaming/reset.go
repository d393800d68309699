package streaming

// Reset aborts the stream at once: pending data is dropped, a RESET (with
// a non-zero sequence number, the only kind i2pd 2.45.1 honours) tells the
// peer, whose reads then fail with ErrReset. A service uses it to refuse a
// stream it accepted but cannot serve (its backend refused), so that the
// client sees an error instead of an empty answer.
func (c *Conn) Reset() error {
	c.abort(ErrReset)
	return nil
}

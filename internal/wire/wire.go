// Package wire holds the bounds-checked reader and append helpers that every
// binary codec in imh shares. Decoders built on Reader never panic on short or
// hostile input: the first failure sticks and every later read returns zero
// values, so a decoder can read a whole structure and check Err once.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort reports input that ends before a field it promises.
var ErrShort = errors.New("wire: input too short")

// ErrTrailing reports bytes left over after a complete structure.
var ErrTrailing = errors.New("wire: trailing bytes")

// Reader reads big-endian fields from a byte slice with a sticky error.
// The zero value is not usable; use NewReader.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader returns a Reader over b. The returned slices alias b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err returns the first error met, if any.
func (r *Reader) Err() error { return r.err }

// Offset returns how many bytes have been consumed.
func (r *Reader) Offset() int { return r.off }

// Len returns how many bytes remain unread.
func (r *Reader) Len() int { return len(r.buf) - r.off }

// Rest returns the unread bytes without consuming them.
func (r *Reader) Rest() []byte { return r.buf[r.off:] }

// Fail records err (wrapped with the field name) unless an error is already set.
func (r *Reader) Fail(field string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at offset %d: %w", field, r.off, err)
	}
}

// Bytes consumes n bytes. It fails rather than allocating when n exceeds what remains.
func (r *Reader) Bytes(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.Len() {
		r.Fail(field, fmt.Errorf("%w: need %d bytes, have %d", ErrShort, n, r.Len()))
		return nil
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// Copy consumes n bytes and returns a copy that does not alias the input.
func (r *Reader) Copy(field string, n int) []byte {
	b := r.Bytes(field, n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Uint8 consumes one byte.
func (r *Reader) Uint8(field string) uint8 {
	b := r.Bytes(field, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Uint16 consumes a big-endian u16.
func (r *Reader) Uint16(field string) uint16 {
	b := r.Bytes(field, 2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

// Uint32 consumes a big-endian u32.
func (r *Reader) Uint32(field string) uint32 {
	b := r.Bytes(field, 4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Uint48 consumes a big-endian 6-byte integer (I2CP's truncated Date).
func (r *Reader) Uint48(field string) uint64 {
	b := r.Bytes(field, 6)
	if b == nil {
		return 0
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// Uint64 consumes a big-endian u64.
func (r *Reader) Uint64(field string) uint64 {
	b := r.Bytes(field, 8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// String consumes an I2P String: one length byte, then that many bytes.
func (r *Reader) String(field string) string {
	n := r.Uint8(field)
	return string(r.Bytes(field, int(n)))
}

// Finish returns the sticky error, or ErrTrailing if unread bytes remain.
func (r *Reader) Finish() error {
	if r.err != nil {
		return r.err
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d bytes after offset %d", ErrTrailing, r.Len(), r.off)
	}
	return nil
}

// AppendUint16 appends v big-endian.
func AppendUint16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }

// AppendUint32 appends v big-endian.
func AppendUint32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// AppendUint64 appends v big-endian.
func AppendUint64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// AppendUint48 appends the low 48 bits of v big-endian.
func AppendUint48(b []byte, v uint64) []byte {
	return append(b, byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// ErrStringTooLong reports an I2P String over 255 bytes.
var ErrStringTooLong = errors.New("wire: string longer than 255 bytes")

// AppendString appends an I2P String (one length byte, then the bytes). A
// string over 255 bytes is refused and b is returned unchanged.
func AppendString(b []byte, s string) ([]byte, error) {
	if len(s) > 255 {
		return b, fmt.Errorf("%w: %d", ErrStringTooLong, len(s))
	}
	b = append(b, byte(len(s)))
	return append(b, s...), nil
}

package routerproto

import (
	"bufio"
	"testing"

	"github.com/imh-project/imh/i2p"
)

func benchPayload(b *testing.B, size int) {
	m := &MessagePayload{SessionID: 1, MessageID: 2, Payload: make([]byte, size)}
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, size+64)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = AppendFrame(buf[:0], m); err != nil {
				b.Fatal(err)
			}
		}
	})
	frame, _ := Marshal(m)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := SplitFrame(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMessagePayload1KiB(b *testing.B)  { benchPayload(b, 1<<10) }
func BenchmarkMessagePayload32KiB(b *testing.B) { benchPayload(b, 32<<10) }

// BenchmarkCreateLeaseSet2 uses a full 16-lease LeaseSet2. Decoding parses
// the LeaseSet2 and its key section; it does not verify the signature.
func BenchmarkCreateLeaseSet2(b *testing.B) {
	keys := vectorKeys(b)
	lk := vectorLeaseSetKey(b)
	ls := &i2p.LeaseSet2{Destination: keys.Destination(), Published: 1735689600, Expires: 600, Keys: []i2p.EncryptionKey{lk.EncryptionKey()}}
	for i := range i2p.MaxLeases {
		ls.Leases = append(ls.Leases, i2p.Lease2{Gateway: i2p.Hash{byte(i)}, TunnelID: uint32(i), End: 1735689600 + 600})
	}
	if err := ls.Sign(keys); err != nil {
		b.Fatal(err)
	}
	m := &CreateLeaseSet2{SessionID: 1, LeaseSet: ls, PrivateKeys: []LeaseSetPrivateKey{{Type: i2p.EncX25519, Key: lk.Private()}}}
	b.Run("encode", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = AppendFrame(buf[:0], m); err != nil {
				b.Fatal(err)
			}
		}
	})
	frame, _ := Marshal(m)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := SplitFrame(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// repeatReader yields one frame over and over: a connection that never ends.
type repeatReader struct {
	frame []byte
	off   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.frame[r.off:])
	r.off = (r.off + n) % len(r.frame)
	return n, nil
}

// BenchmarkConnReadPayload reads and decodes 32 KiB payloads from a Conn:
// the bytes and allocations of the read path per payload.
func BenchmarkConnReadPayload(b *testing.B) {
	frame, err := Marshal(&MessagePayload{SessionID: 1, MessageID: 2, Payload: make([]byte, 32<<10)})
	if err != nil {
		b.Fatal(err)
	}
	c := &Conn{br: bufio.NewReaderSize(&repeatReader{frame: frame}, 16<<10)}
	b.SetBytes(32 << 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

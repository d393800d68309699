package frontendproto

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
)

// goldenFrames are the golden messages as frames, the fuzzers' seeds.
func goldenFrames(f *testing.F) [][]byte {
	var out [][]byte
	for _, tc := range goldenCases(f) {
		b, err := Marshal(tc.msg)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// roundTrip decodes body as typ. Whatever decodes must encode back to
// exactly body (the encoding is canonical), and decode again to the same
// message. Whatever does not decode must fail with one of the package's
// sentinels and no message.
func roundTrip(t *testing.T, typ MsgType, body []byte) {
	m, err := Unmarshal(typ, body)
	if err != nil {
		if m != nil {
			t.Fatalf("error %v with a message %#v", err, m)
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error without a sentinel: %v", err)
		}
		return
	}
	if m.Type() != typ {
		t.Fatalf("decoded a %s as %s", m.Type(), typ)
	}
	frame, err := Marshal(m)
	if err != nil {
		t.Fatalf("decoded %#v does not encode: %v", m, err)
	}
	if !bytes.Equal(frame[HeaderLen:], body) {
		t.Fatalf("re-encoding differs\n got %x\nwant %x", frame[HeaderLen:], body)
	}
	m2, err := Unmarshal(MsgType(frame[4]), frame[HeaderLen:])
	if err != nil || !reflect.DeepEqual(m, m2) {
		t.Fatalf("second decode: %v\n was %#v\n now %#v", err, m, m2)
	}
}

// FuzzUnmarshal feeds any type byte with any body.
func FuzzUnmarshal(f *testing.F) {
	for _, b := range goldenFrames(f) {
		f.Add(b[4], b[HeaderLen:])
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(TypeAssign), []byte{})
	f.Fuzz(func(t *testing.T, typ uint8, body []byte) { roundTrip(t, MsgType(typ), body) })
}

// byteConn is a net.Conn that reads from a byte slice; nothing else of it
// is used by Recv.
type byteConn struct {
	net.Conn
	r io.Reader
}

func (c byteConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// FuzzRecv feeds a Conn an arbitrary byte stream. Recv must never panic,
// must stop at the end of the stream or at an oversized frame, must stay in
// step after a frame it cannot decode, and the messages it returned must
// not change while it reads further frames into its reused buffer.
func FuzzRecv(f *testing.F) {
	frames := goldenFrames(f)
	for _, b := range frames {
		f.Add(b)
	}
	f.Add(bytes.Join(frames, nil))
	f.Add(append(append([]byte{}, frames[0]...), 0, 0, 0, 1, 99, 0, 0xff, 0xff, 0xff, 0xff, 1))
	f.Add([]byte{0, 0x10, 0, 1, 1})
	f.Fuzz(func(t *testing.T, stream []byte) {
		c := NewConn(byteConn{r: bytes.NewReader(stream)})
		type got struct {
			m     Message
			frame []byte
		}
		var msgs []got
	read:
		for range len(stream)/HeaderLen + 1 {
			m, err := c.Recv()
			switch {
			case err == nil:
				frame, err := Marshal(m)
				if err != nil {
					t.Fatalf("received %#v does not encode: %v", m, err)
				}
				msgs = append(msgs, got{m, frame})
			case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknownType):
				// consumed whole: the stream is still in step
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				if _, err := c.Recv(); !errors.Is(err, io.EOF) {
					t.Fatalf("Recv after the end of the stream: %v", err)
				}
				break read
			case errors.Is(err, ErrTooLarge):
				break read // the stream is unusable now
			default:
				t.Fatalf("Recv: unexpected error %v", err)
			}
		}
		for _, g := range msgs {
			frame, err := Marshal(g.m)
			if err != nil || !bytes.Equal(frame, g.frame) {
				t.Fatalf("a received %s changed after later reads (err %v)", g.m.Type(), err)
			}
		}
	})
}

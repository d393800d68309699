package i2p

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"
)

func datagramKeys(t testing.TB) *PrivateKeys {
	t.Helper()
	k, err := NewEd25519PrivateKeys(bytes.Repeat([]byte{9}, 32), [32]byte{3}, bytes.Repeat([]byte{1}, 256))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, p := range []Payload{
		{Protocol: ProtoRepliableDatagram, SrcPort: 0x1234, DstPort: 0xabcd, Data: []byte("hello")},
		{Protocol: ProtoRawDatagram, Data: nil},
		{Protocol: ProtoStreaming, SrcPort: 1, DstPort: 65535, Data: bytes.Repeat([]byte{7}, MaxPayloadData)},
	} {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if b[4] != byte(p.SrcPort>>8) || b[5] != byte(p.SrcPort) || b[6] != byte(p.DstPort>>8) || b[9] != p.Protocol {
			t.Fatalf("header % x", b[:10])
		}
		got, err := ParsePayload(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Protocol != p.Protocol || got.SrcPort != p.SrcPort || got.DstPort != p.DstPort || !bytes.Equal(got.Data, p.Data) {
			t.Fatalf("round trip: %+v", got.Protocol)
		}
	}
	if _, err := (Payload{Data: make([]byte, MaxPayloadData+1)}).MarshalBinary(); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("oversized data: %v", err)
	}
}

func TestParsePayloadRejects(t *testing.T) {
	good, _ := Payload{Protocol: 17, Data: []byte("x")}.MarshalBinary()
	bomb, _ := Payload{Protocol: 18, Data: make([]byte, MaxPayloadData)}.MarshalBinary()
	for name, b := range map[string][]byte{
		"empty":     nil,
		"short":     good[:9],
		"not gzip":  append([]byte{0, 0}, good[2:]...),
		"truncated": good[:len(good)-3],
		"bad crc":   append(append([]byte(nil), good[:len(good)-8]...), 0, 0, 0, 0, 0, 0, 0, 0),
	} {
		if _, err := ParsePayload(b); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePayload(bomb); err != nil {
		t.Fatalf("exactly the limit: %v", err)
	}
	var over bytes.Buffer
	zw := gzip.NewWriter(&over)
	zw.Write(make([]byte, 10*MaxPayloadData))
	zw.Close()
	if _, err := ParsePayload(over.Bytes()); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("inflates past the limit: %v", err)
	}
}

func TestRepliableDatagram(t *testing.T) {
	k := datagramKeys(t)
	d, err := NewRepliableDatagram(k, []byte("ping 1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != k.Destination().Len()+64+6 {
		t.Fatalf("%d bytes", len(b))
	}
	p, err := ParseRepliableDatagram(b)
	if err != nil {
		t.Fatal(err)
	}
	if !p.From.Equal(k.Destination()) || string(p.Data) != "ping 1" || p.Verify() != nil {
		t.Fatalf("parsed %v %q %v", p.From, p.Data, p.Verify())
	}
	b[len(b)-1] ^= 1
	if p, _ := ParseRepliableDatagram(b); p.Verify() == nil {
		t.Fatal("tampered datagram verifies")
	}
	for _, n := range []int{0, 10, k.Destination().Len(), k.Destination().Len() + 63} {
		if _, err := ParseRepliableDatagram(b[:n]); !errors.Is(err, ErrBadDatagram) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

func FuzzParsePayload(f *testing.F) {
	good, _ := Payload{Protocol: 17, SrcPort: 1, DstPort: 2, Data: []byte("seed")}.MarshalBinary()
	f.Add(good)
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 17})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePayload(b)
		if err != nil {
			return
		}
		again, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePayload(again)
		if err != nil || !bytes.Equal(q.Data, p.Data) || q.Protocol != p.Protocol || q.SrcPort != p.SrcPort || q.DstPort != p.DstPort {
			t.Fatalf("re-encoding changed the payload: %v", err)
		}
	})
}

func FuzzParseRepliableDatagram(f *testing.F) {
	k := datagramKeys(f)
	d, _ := NewRepliableDatagram(k, []byte("seed"))
	b, _ := d.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseRepliableDatagram(b)
		if err != nil {
			return
		}
		again, err := d.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %v", err)
		}
		_ = d.Verify()
	})
}

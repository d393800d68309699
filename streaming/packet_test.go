package streaming

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
)

func testKeys(t testing.TB, b byte) *i2p.PrivateKeys {
	t.Helper()
	seed := bytes.Repeat([]byte{b}, ed25519.SeedSize)
	var block [32]byte
	block[0] = b
	k, err := i2p.NewEd25519PrivateKeys(seed, block, make([]byte, 256))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPacketRoundTrip(t *testing.T) {
	dest := testKeys(t, 1).Destination()
	target := dest.Hash()
	tests := []struct {
		name string
		p    Packet
	}{
		{"plain ack", Packet{SendStreamID: 1, RecvStreamID: 2, AckThrough: 9, NACKs: []uint32{3, 5}}},
		{"data", Packet{SendStreamID: 7, RecvStreamID: 8, Seq: 4, AckThrough: 1, Payload: []byte("hello")}},
		{"syn", Packet{RecvStreamID: 8, Flags: FlagSYN | FlagFrom | FlagMaxPacketSize | FlagNoAck, From: dest, MaxSize: 1730}},
		{"syn target", Packet{RecvStreamID: 8, Flags: FlagSYN | FlagFrom, From: dest, Target: &target}},
		{"choke", Packet{SendStreamID: 1, RecvStreamID: 2, Flags: FlagDelay, Delay: chokeDelay}},
		{"close signed", Packet{SendStreamID: 1, RecvStreamID: 2, Seq: 3, Flags: FlagClose | FlagSignature, Signature: bytes.Repeat([]byte{9}, 64)}},
		{"echo", Packet{RecvStreamID: 5, Flags: FlagEcho, Payload: []byte{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParsePacket(b)
			if err != nil {
				t.Fatal(err)
			}
			got.sigOff, tt.p.sigOff = 0, 0
			if got.From != nil && !got.From.Equal(tt.p.From) {
				t.Fatal("from differs")
			}
			got.From, tt.p.From = nil, nil
			if !reflect.DeepEqual(*got, tt.p) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", *got, tt.p)
			}
		})
	}
}

// TestPacketGolden pins bytes written by hand from the spec's field table.
func TestPacketGolden(t *testing.T) {
	const golden = "" +
		"0000000a" + "0000000b" + "00000003" + "00000002" + // send, recv, seq, ackThrough
		"01" + "00000001" + // one NACK: 1
		"05" + "00c0" + // resend delay 5; flags DELAY_REQUESTED|MAX_PACKET_SIZE
		"0004" + "0064" + "06c2" + // option size 4; delay 100; max packet size 1730
		"6869" // payload "hi"
	p := Packet{SendStreamID: 10, RecvStreamID: 11, Seq: 3, AckThrough: 2, NACKs: []uint32{1},
		ResendDelay: 5, Flags: FlagDelay | FlagMaxPacketSize, Delay: 100, MaxSize: 1730, Payload: []byte("hi")}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(b) != golden {
		t.Fatalf("got  %x\nwant %s", b, golden)
	}
	raw, _ := hex.DecodeString(golden)
	got, err := ParsePacket(raw)
	if err != nil || !reflect.DeepEqual(*got, p) {
		t.Fatalf("parse golden: %v %+v", err, got)
	}
}

func TestParsePacketErrors(t *testing.T) {
	tests := []struct{ name, hex string }{
		{"empty", ""},
		{"short header", "0000000a0000000b"},
		{"nacks truncated", "0000000a0000000b000000030000000203000000010000"},
		{"option size beyond end", "0000000a0000000b000000030000000200" + "00" + "0000" + "0010"},
		{"unused option bytes", "0000000a0000000b000000030000000200" + "00" + "0000" + "0002" + "0000"},
		{"syn with 3 nack words", "00000000000000080000000000000000" + "03" + strings.Repeat("00", 12) + "00" + "0001" + "0000"},
		{"signature flag without bytes", "0000000a0000000b000000030000000200" + "00" + "0008" + "0000"},
		{"offline without from", "0000000a0000000b000000030000000200" + "00" + "0800" + "0006" + "000000000007"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParsePacket(b); !errors.Is(err, ErrBadPacket) {
				t.Fatalf("err = %v, want ErrBadPacket", err)
			}
		})
	}
}

func TestSignedPacketVerifies(t *testing.T) {
	keys := testKeys(t, 2)
	id, err := NewIdentity(keys)
	if err != nil {
		t.Fatal(err)
	}
	p := &Packet{RecvStreamID: 77, Flags: FlagSYN | FlagFrom | FlagMaxPacketSize, From: keys.Destination(), MaxSize: 1730, Payload: []byte("x")}
	raw, err := id.SignPacket(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePacket(raw)
	if err != nil {
		t.Fatal(err)
	}
	k, err := KeyFrom(got, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(raw, k); err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, i := range []int{0, 20, len(raw) - 1, got.sigOff + 3} {
		bad := bytes.Clone(raw)
		bad[i] ^= 1
		q, err := ParsePacket(bad)
		if err != nil {
			continue
		}
		if err := q.Verify(bad, k); !errors.Is(err, i2p.ErrBadSignature) {
			t.Fatalf("flipped byte %d: err = %v", i, err)
		}
	}
}

func testOfflineIdentity(t testing.TB, b byte, expires uint32) *Identity {
	t.Helper()
	return offlineIdentityOf(t, testKeys(t, b), b+100, expires)
}

// offlineIdentityOf certifies a transient key (from seed) with keys.
func offlineIdentityOf(t testing.TB, keys *i2p.PrivateKeys, seed byte, expires uint32) *Identity {
	t.Helper()
	tk := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	off, err := keys.SignOffline(expires, i2p.SigEd25519, tk.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewOfflineIdentity(keys.Destination(), tk, off)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOfflineSignedPacket(t *testing.T) {
	id := testOfflineIdentity(t, 3, 1000)
	p := &Packet{RecvStreamID: 5, Flags: FlagSYN | FlagFrom, From: id.Destination()}
	raw, err := id.SignPacket(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePacket(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Offline == nil {
		t.Fatal("no offline block")
	}
	k, err := KeyFrom(got, time.Unix(999, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(raw, k); err != nil {
		t.Fatal(err)
	}
	if _, err := KeyFrom(got, time.Unix(1001, 0)); !errors.Is(err, ErrOfflineExpired) {
		t.Fatalf("expired: err = %v", err)
	}
	// A CLOSE without FROM is signed by the transient key alone.
	c := &Packet{SendStreamID: 1, RecvStreamID: 5, Seq: 2, Flags: FlagClose}
	raw, err = id.SignPacket(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err = ParsePacket(raw)
	if err != nil || got.Verify(raw, k) != nil {
		t.Fatalf("close: %v", err)
	}
	other := testKeys(t, 4)
	if _, err := NewOfflineIdentity(other.Destination(), id.transient, id.offline); err == nil {
		t.Fatal("offline signature of another destination accepted")
	}
}

func FuzzUnmarshal(f *testing.F) {
	dest := testKeys(f, 1).Destination()
	id := testOfflineIdentity(f, 3, 1000)
	for _, p := range []*Packet{
		{SendStreamID: 1, AckThrough: 3, NACKs: []uint32{1, 2}, Payload: []byte("p")},
		{RecvStreamID: 8, Flags: FlagSYN | FlagFrom | FlagMaxPacketSize, From: dest, MaxSize: 1730},
	} {
		b, _ := p.MarshalBinary()
		f.Add(b)
	}
	raw, _ := id.SignPacket(&Packet{RecvStreamID: 5, Flags: FlagSYN | FlagFrom, From: id.Destination()})
	f.Add(raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			return
		}
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded packet does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip differs:\n in %x\nout %x", b, out)
		}
	})
}

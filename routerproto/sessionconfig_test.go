package routerproto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/wire"
)

// TestSessionConfigVerifiesReceivedBytes: a client that writes its mapping
// unsorted signs those bytes; Verify must check what was received (as i2pd
// does), and re-encoding must reproduce the bytes exactly.
func TestSessionConfigVerifiesReceivedBytes(t *testing.T) {
	keys := vectorKeys(t)
	d := keys.Destination()
	// Mapping with "b" before "a": not canonical.
	entries := []byte{}
	for _, kv := range [][2]string{{"b", "2"}, {"a", "1"}} {
		entries, _ = wire.AppendString(entries, kv[0])
		entries = append(entries, '=')
		entries, _ = wire.AppendString(entries, kv[1])
		entries = append(entries, ';')
	}
	signed := append([]byte(nil), d.Bytes()...)
	signed = wire.AppendUint16(signed, uint16(len(entries)))
	signed = append(signed, entries...)
	signed = wire.AppendUint64(signed, 1234)
	sig, err := keys.Sign(signed)
	if err != nil {
		t.Fatal(err)
	}
	body := append(append([]byte(nil), signed...), sig...)
	m, err := Decode(TypeCreateSession, body)
	if err != nil {
		t.Fatal(err)
	}
	sc := m.(*CreateSession).Config
	if err := sc.Verify(); err != nil {
		t.Fatalf("verify over received bytes: %v", err)
	}
	if sc.Options["a"] != "1" || sc.Options["b"] != "2" || sc.Date != 1234 {
		t.Fatalf("decoded %+v", sc)
	}
	again, err := m.AppendBody(nil)
	if err != nil || !bytes.Equal(again, body) {
		t.Fatalf("re-encoding changed the bytes (err %v)", err)
	}
	// The canonical (sorted) re-serialisation would not verify: proof that
	// Verify used the received bytes.
	canon := &SessionConfig{Destination: d, Options: sc.Options, Date: sc.Date, Signature: sc.Signature}
	if err := canon.Verify(); !errors.Is(err, i2p.ErrBadSignature) {
		t.Fatalf("canonical form verified: %v", err)
	}
}

func TestSignSessionConfigRefusesBadInput(t *testing.T) {
	if _, err := SignSessionConfig(nil, nil, 0); !errors.Is(err, ErrBadSessionConfig) {
		t.Fatalf("nil keys: %v", err)
	}
	long := string(make([]byte, 300))
	if _, err := SignSessionConfig(vectorKeys(t), i2p.Mapping{"k": long}, 0); !errors.Is(err, ErrBadSessionConfig) {
		t.Fatalf("300-byte value: %v", err)
	}
	if _, err := Marshal(&CreateSession{}); err == nil {
		t.Fatal("CreateSession without config encoded")
	}
}

func TestEncodersRefuse(t *testing.T) {
	d := vectorKeys(t).Destination()
	for _, tc := range []struct {
		name string
		msg  Message
		want error
	}{
		{"17 leases", &RequestVariableLeaseSet{Leases: make([]i2p.Lease, 17)}, i2p.ErrTooManyLeases},
		{"payload too large", &SendMessage{Destination: d, Payload: make([]byte, MaxPayloadLen+1)}, ErrPayloadTooLarge},
		{"frame too large", &MessagePayload{Payload: make([]byte, MaxBodyLen-10)}, nil},
		{"no destination", &SendMessage{}, ErrMalformed},
		{"expiration over 48 bits", &SendMessageExpires{SendMessage: SendMessage{Destination: d}, Expiration: 1 << 48}, ErrMalformed},
		{"8 hops", &CreateTunnel{Direction: Inbound, HopCount: 8}, ErrMalformed},
		{"hop list mismatch", &CreateTunnel{Direction: Inbound, HopCount: 2, Hops: make([]i2p.Hash, 1)}, ErrMalformed},
		{"bad direction", &CreateTunnel{Direction: DirBoth, HopCount: 1}, ErrMalformed},
		{"reason too long", &Disconnect{Reason: string(make([]byte, 256))}, wire.ErrStringTooLong},
		{"ok reply without destination", &HostReply{Result: HostOK}, ErrMalformed},
		{"unsigned leaseset", &CreateLeaseSet2{LeaseSet: &i2p.LeaseSet2{Destination: d}}, i2p.ErrBadLeaseSet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(tc.msg)
			if tc.want == nil {
				// Encodes as a body, but the frame is within the limit exactly.
				if err != nil || len(b) != MaxFrameLen {
					t.Fatalf("len %d err %v", len(b), err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if len(b) != 0 {
				t.Fatalf("partial frame %x", b)
			}
		})
	}
	if len(NewDisconnect(string(make([]byte, 300))).Reason) != 255 {
		t.Fatal("NewDisconnect did not cut the reason")
	}
}

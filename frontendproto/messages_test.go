package frontendproto

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/imh-project/imh/i2p"
)

// maxCases are messages at every limit: longest strings, most entries,
// largest Destination, keys and blobs, extreme counters.
func maxCases(t testing.TB) []Message {
	t.Helper()
	long := strings.Repeat("x", 255)
	big := bigDest(t)
	as := make([]Assignment, MaxAssignments)
	for i := range as {
		as[i] = Assignment{Name: long, Destination: big, Router: long, Service: long, Policy: PolicyFailover, Active: true, Draining: true}
	}
	ds := make([]DestReport, MaxDestReports)
	for i := range ds {
		ds[i] = DestReport{Name: long, Attached: true, BackendUp: true, KeyExpires: math.MaxUint32, Open: math.MaxUint32,
			Accepted: math.MaxUint64, Refused: math.MaxUint64, BytesIn: math.MaxUint64, BytesOut: math.MaxUint64,
			Errors: math.MaxUint64, LastError: long}
	}
	rsa := bytes.Repeat([]byte{0xee}, i2p.SigRSA4096.PublicKeyLen())
	return []Message{
		&Assign{Term: math.MaxUint64, Leader: long, Frontend: long, Assignments: as},
		&KeyRequest{Name: long, TransientType: i2p.SigRSA4096, TransientKey: rsa},
		&KeyGrant{Name: long, Offline: &i2p.OfflineSignature{Expires: math.MaxUint32, TransientType: i2p.SigRSA4096,
			TransientKey: rsa, Signature: bytes.Repeat([]byte{1}, MaxSignatureLen)}, Router: long, Grant: bytes.Repeat([]byte{2}, MaxGrantLen)},
		&KeyRefused{Name: long, Reason: long},
		&Report{Frontend: long, Router: long, Dests: ds},
	}
}

func TestRoundTrip(t *testing.T) {
	var msgs []Message
	for _, tc := range goldenCases(t) {
		msgs = append(msgs, tc.msg)
	}
	msgs = append(msgs, maxCases(t)...)
	msgs = append(msgs,
		&Assign{},     // zero term, empty strings, no assignments
		&Report{},     // no destinations
		&KeyRefused{}, // empty name and reason
		&KeyRequest{Name: "a", TransientType: i2p.SigECDSAP256, TransientKey: make([]byte, 64)},
	)
	for _, m := range msgs {
		t.Run(m.Type().String(), func(t *testing.T) {
			frame, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(frame)-HeaderLen > MaxBody {
				t.Fatalf("frame body of %d bytes", len(frame)-HeaderLen)
			}
			got, err := Unmarshal(MsgType(frame[4]), frame[HeaderLen:])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip\n got %#v\nwant %#v", got, m)
			}
		})
	}
}

// TestNoAlias: a decoded message does not change when its input does.
func TestNoAlias(t *testing.T) {
	for _, tc := range goldenCases(t) {
		frame, err := Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Unmarshal(tc.msg.Type(), frame[HeaderLen:])
		if err != nil {
			t.Fatal(err)
		}
		for i := HeaderLen; i < len(frame); i++ {
			frame[i] ^= 0xff
		}
		if !reflect.DeepEqual(m, tc.msg) {
			t.Fatalf("%s aliases its input", tc.file)
		}
	}
}

// TestEncodeRefuses: an encoder refuses what a decoder would refuse, with
// ErrMalformed, and leaves b as it was.
func TestEncodeRefuses(t *testing.T) {
	d := testKeys(t).Destination()
	key := transientPub()
	off := func() *i2p.OfflineSignature {
		return &i2p.OfflineSignature{Expires: 1, TransientType: i2p.SigEd25519, TransientKey: key, Signature: make([]byte, 64)}
	}
	long := strings.Repeat("x", 256)
	tests := []struct {
		name string
		msg  Message
	}{
		{"assign/long leader", &Assign{Leader: long}},
		{"assign/too many", &Assign{Assignments: make([]Assignment, MaxAssignments+1)}},
		{"assign/no destination", &Assign{Assignments: []Assignment{{Name: "a"}}}},
		{"assign/bad policy", &Assign{Assignments: []Assignment{{Destination: d, Policy: 2}}}},
		{"assign/long service", &Assign{Assignments: []Assignment{{Destination: d, Service: long}}}},
		{"keyrequest/unknown type", &KeyRequest{TransientType: 9, TransientKey: key}},
		{"keyrequest/short key", &KeyRequest{TransientType: i2p.SigEd25519, TransientKey: key[:31]}},
		{"keyrequest/no key", &KeyRequest{TransientType: i2p.SigEd25519}},
		{"keygrant/no offline", &KeyGrant{Grant: []byte{1}}},
		{"keygrant/no signature", &KeyGrant{Offline: &i2p.OfflineSignature{TransientType: i2p.SigEd25519, TransientKey: key}, Grant: []byte{1}}},
		{"keygrant/long signature", &KeyGrant{Offline: &i2p.OfflineSignature{TransientType: i2p.SigEd25519, TransientKey: key,
			Signature: make([]byte, MaxSignatureLen+1)}, Grant: []byte{1}}},
		{"keygrant/no grant", &KeyGrant{Offline: off()}},
		{"keygrant/long grant", &KeyGrant{Offline: off(), Grant: make([]byte, MaxGrantLen+1)}},
		{"keyrefused/long reason", &KeyRefused{Reason: long}},
		{"report/too many", &Report{Dests: make([]DestReport, MaxDestReports+1)}},
		{"report/long error", &Report{Dests: []DestReport{{LastError: long}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte{9, 9, 9}
			b, err := tt.msg.AppendBinary(prefix)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("AppendBinary err = %v, want ErrMalformed", err)
			}
			if !bytes.Equal(b, prefix) {
				t.Fatalf("AppendBinary left %x, want %x", b, prefix)
			}
			if f, err := AppendFrame(prefix, tt.msg); !errors.Is(err, ErrMalformed) || !bytes.Equal(f, prefix) {
				t.Fatalf("AppendFrame = %x, %v", f, err)
			}
		})
	}
}

// hugeMsg is a message whose body is over MaxBody, which no real message
// can reach.
type hugeMsg struct{}

func (hugeMsg) Type() MsgType { return TypeKeyRefused }
func (hugeMsg) AppendBinary(b []byte) ([]byte, error) {
	return append(b, make([]byte, MaxBody+1)...), nil
}

func TestTooLarge(t *testing.T) {
	if b, err := AppendFrame([]byte{1}, hugeMsg{}); !errors.Is(err, ErrTooLarge) || !bytes.Equal(b, []byte{1}) {
		t.Fatalf("AppendFrame = %d bytes, %v; want ErrTooLarge", len(b), err)
	}
	if _, err := Unmarshal(TypeKeyRefused, make([]byte, MaxBody+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Unmarshal err = %v, want ErrTooLarge", err)
	}
}

func TestUnknownType(t *testing.T) {
	for _, typ := range []MsgType{0, 6, 200, 255} {
		_, err := Unmarshal(typ, nil)
		if !errors.Is(err, ErrUnknownType) {
			t.Fatalf("type %d: err = %v, want ErrUnknownType", typ, err)
		}
		if !strings.HasSuffix(err.Error(), ": "+strconv.Itoa(int(typ))) {
			t.Fatalf("type %d: err %q does not name the number", typ, err)
		}
		if want := "MsgType(" + strconv.Itoa(int(typ)) + ")"; typ.String() != want {
			t.Fatalf("String = %q, want %q", typ.String(), want)
		}
	}
	if TypeKeyGrant.String() != "KeyGrant" {
		t.Fatalf("String = %q", TypeKeyGrant.String())
	}
}

// TestTruncated: every proper prefix of every golden body is refused (each
// message ends with a field it cannot do without), and so is any body with
// a byte appended.
func TestTruncated(t *testing.T) {
	for _, tc := range goldenCases(t) {
		frame, err := Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		body := frame[HeaderLen:]
		for i := range body {
			if m, err := Unmarshal(tc.msg.Type(), body[:i]); !errors.Is(err, ErrMalformed) || m != nil {
				t.Fatalf("%s cut at %d of %d: %v, %v", tc.file, i, len(body), m, err)
			}
		}
		trailing := append(append([]byte(nil), body...), 0)
		if _, err := Unmarshal(tc.msg.Type(), trailing); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s with a trailing byte: %v", tc.file, err)
		}
	}
}

// TestMalformed changes one field of a golden body at a time.
func TestMalformed(t *testing.T) {
	body := func(file string) []byte {
		for _, tc := range goldenCases(t) {
			if tc.file == file {
				f, err := Marshal(tc.msg)
				if err != nil {
					t.Fatal(err)
				}
				return f[HeaderLen:]
			}
		}
		t.Fatalf("no golden case %s", file)
		return nil
	}
	set := func(b []byte, off int, v ...byte) []byte {
		b = append([]byte(nil), b...)
		copy(b[off:], v)
		return b
	}
	assign := body("assign.hex")
	// assign.hex: term 8, "agent-1" 8, "fe-a" 5, count 2 at 21, then
	// [0] "web" 4, destination 391, "r1" 3, "127.0.0.1:8080" 15, policy, flags.
	policy0 := 23 + 4 + 391 + 3 + 15
	keyReq := body("keyrequest.hex") // "web" 4, type at 4, length at 6
	keyGrant := body("keygrant.hex") // "web" 4, expires 4, type at 8, length at 10, key 32, sig length at 44
	report := body("report.hex")     // "fe-a" 5, "r1" 3, count at 8, [0] "web" 4, flags at 14
	tests := []struct {
		name string
		typ  MsgType
		body []byte
	}{
		{"assign/count over max", TypeAssign, set(assign, 21, 0x01, 0x01)},
		{"assign/count over entries", TypeAssign, set(assign, 21, 0x00, 0x03)},
		{"assign/policy 2", TypeAssign, set(assign, policy0, 2)},
		{"assign/flag bit 2", TypeAssign, set(assign, policy0+1, 0x04)},
		{"assign/flag bit 7", TypeAssign, set(assign, policy0+1, 0x80)},
		{"assign/bad destination cert", TypeAssign, set(assign, 23+4+384, 0x07)},
		{"keyrequest/unknown sig type", TypeKeyRequest, set(keyReq, 4, 0x00, 0x09)},
		{"keyrequest/key length 31", TypeKeyRequest, set(keyReq, 6, 0x00, 0x1f)},
		{"keyrequest/wrong type for key", TypeKeyRequest, set(keyReq, 4, 0x00, 0x01)},
		{"keygrant/unknown sig type", TypeKeyGrant, set(keyGrant, 8, 0xff, 0xff)},
		{"keygrant/key length 33", TypeKeyGrant, set(keyGrant, 10, 0x00, 0x21)},
		{"keygrant/empty signature", TypeKeyGrant, set(keyGrant, 44, 0x00, 0x00)},
		{"keygrant/signature over max", TypeKeyGrant, set(keyGrant, 44, 0x04, 0x01)},
		{"keygrant/string past end", TypeKeyGrant, set(keyGrant, 0, 0xff)},
		{"report/count over max", TypeReport, set(report, 8, 0x01, 0x01)},
		{"report/flag bit 2", TypeReport, set(report, 14, 0x07)},
		{"empty assign", TypeAssign, nil},
		{"empty keygrant", TypeKeyGrant, []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Unmarshal(tt.typ, tt.body)
			if !errors.Is(err, ErrMalformed) || m != nil {
				t.Fatalf("Unmarshal = %#v, %v; want ErrMalformed", m, err)
			}
			t.Log(err)
		})
	}
}

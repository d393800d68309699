package routerproto

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// seedBodies adds every golden frame body of type t (and the section 9
// vectors) to the corpus.
func seedBodies(f *testing.F, t Type) {
	for _, tc := range goldenCases(f) {
		if tc.msg.Type() == t {
			f.Add(expandGolden(f, tc.hex)[HeaderLen:])
		}
	}
	switch t {
	case TypeCreateSession:
		f.Add(readHexFile(f, "createsession.hex")[HeaderLen:])
		f.Add(offlineCreateSessionBody(f))
	case TypeReconfigureSession:
		f.Add(append([]byte{0, 1}, readHexFile(f, "createsession.hex")[HeaderLen:]...))
	case TypeCreateLeaseSet2:
		f.Add(readHexFile(f, "createleaseset2.hex")[HeaderLen:])
	}
	f.Add([]byte{})
}

// roundTrip decodes body as t; whatever decodes must encode, and decoding
// that encoding must give the same message and the same bytes again.
func roundTrip(t *testing.T, typ Type, body []byte) {
	m, err := Decode(typ, body)
	if err != nil {
		if m != nil && !errors.Is(err, ErrUnknownType) {
			t.Fatalf("error %v with a message %#v", err, m)
		}
		return
	}
	enc, err := Marshal(m)
	if err != nil {
		t.Fatalf("decoded %#v does not encode: %v", m, err)
	}
	m2, n, err := SplitFrame(enc)
	if err != nil || n != len(enc) {
		t.Fatalf("re-decode: n=%d/%d err=%v", n, len(enc), err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip changed the message\n was %#v\n now %#v", m, m2)
	}
	enc2, err := Marshal(m2)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("second encoding differs (err %v)", err)
	}
}

func fuzzType(f *testing.F, t Type) {
	seedBodies(f, t)
	f.Fuzz(func(tt *testing.T, body []byte) { roundTrip(tt, t, body) })
}

func FuzzGetDate(f *testing.F)                 { fuzzType(f, TypeGetDate) }
func FuzzSetDate(f *testing.F)                 { fuzzType(f, TypeSetDate) }
func FuzzCreateSession(f *testing.F)           { fuzzType(f, TypeCreateSession) }
func FuzzReconfigureSession(f *testing.F)      { fuzzType(f, TypeReconfigureSession) }
func FuzzSessionStatus(f *testing.F)           { fuzzType(f, TypeSessionStatus) }
func FuzzDestroySession(f *testing.F)          { fuzzType(f, TypeDestroySession) }
func FuzzRequestVariableLeaseSet(f *testing.F) { fuzzType(f, TypeRequestVariableLeaseSet) }
func FuzzCreateLeaseSet2(f *testing.F)         { fuzzType(f, TypeCreateLeaseSet2) }
func FuzzSendMessage(f *testing.F)             { fuzzType(f, TypeSendMessage) }
func FuzzSendMessageExpires(f *testing.F)      { fuzzType(f, TypeSendMessageExpires) }
func FuzzMessageStatus(f *testing.F)           { fuzzType(f, TypeMessageStatus) }
func FuzzMessagePayload(f *testing.F)          { fuzzType(f, TypeMessagePayload) }
func FuzzDisconnect(f *testing.F)              { fuzzType(f, TypeDisconnect) }
func FuzzHostLookup(f *testing.F)              { fuzzType(f, TypeHostLookup) }
func FuzzHostReply(f *testing.F)               { fuzzType(f, TypeHostReply) }
func FuzzGetBandwidthLimits(f *testing.F)      { fuzzType(f, TypeGetBandwidthLimits) }
func FuzzBandwidthLimits(f *testing.F)         { fuzzType(f, TypeBandwidthLimits) }
func FuzzCapabilities(f *testing.F)            { fuzzType(f, TypeCapabilities) }
func FuzzGetFastTier(f *testing.F)             { fuzzType(f, TypeGetFastTier) }
func FuzzPeerList(f *testing.F)                { fuzzType(f, TypePeerList) }
func FuzzCreateTunnel(f *testing.F)            { fuzzType(f, TypeCreateTunnel) }
func FuzzTunnelStatus(f *testing.F)            { fuzzType(f, TypeTunnelStatus) }
func FuzzGetTunnelPool(f *testing.F)           { fuzzType(f, TypeGetTunnelPool) }
func FuzzTunnelList(f *testing.F)              { fuzzType(f, TypeTunnelList) }
func FuzzSendVia(f *testing.F)                 { fuzzType(f, TypeSendVia) }
func FuzzPayloadFrom(f *testing.F)             { fuzzType(f, TypePayloadFrom) }
func FuzzLeaseSetStatus(f *testing.F)          { fuzzType(f, TypeLeaseSetStatus) }
func FuzzNeedLeaseSet(f *testing.F)            { fuzzType(f, TypeNeedLeaseSet) }

// FuzzSplitFrame feeds whole frames (any type byte, any length field).
func FuzzSplitFrame(f *testing.F) {
	for _, tc := range goldenCases(f) {
		f.Add(expandGolden(f, tc.hex))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := SplitFrame(b)
		if err != nil {
			return
		}
		if n > len(b) || n < HeaderLen {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		roundTrip(t, m.Type(), b[HeaderLen:n])
	})
}

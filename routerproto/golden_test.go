package routerproto

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/imh-project/imh/i2p"
)

// goldenCases are frames written by hand from the I2P-WIRE 4.x tables (and
// PROTOCOL.md for extensions). "D" stands for the 391-byte section 9
// Destination, "H1"/"H2" for 32 bytes of 0x11/0x22.
func goldenCases(t testing.TB) []struct {
	name string
	msg  Message
	hex  string
} {
	d := vectorKeys(t).Destination()
	var h1, h2 i2p.Hash
	for i := range h1 {
		h1[i], h2[i] = 0x11, 0x22
	}
	var bw BandwidthLimits
	for i := range bw.Limits {
		bw.Limits[i] = uint32(i + 1)
	}
	return []struct {
		name string
		msg  Message
		hex  string
	}{
		{"GetDate+auth", &GetDate{Version: "0.9.67", Options: i2p.Mapping{"i2cp.username": "u"}},
			"0000001b 20 06 302e392e3637 0012 0d 693263702e757365726e616d65 3d 01 75 3b"},
		{"GetDate/empty", &GetDate{}, "00000001 20 00"},
		{"SetDate", &SetDate{Date: 0x0000019412345678, Version: "0.9.67"},
			"0000000f 21 0000019412345678 06 302e392e3637"},
		{"SetDate/noversion", &SetDate{Date: 1}, "00000008 21 0000000000000001"},
		{"SessionStatus", &SessionStatus{SessionID: 0x1234, Status: SessionCreated}, "00000003 14 1234 01"},
		{"DestroySession", &DestroySession{SessionID: 0xbeef}, "00000002 03 beef"},
		{"RequestVariableLeaseSet", &RequestVariableLeaseSet{SessionID: 7, Leases: []i2p.Lease{
			{Gateway: h1, TunnelID: 0x01020304, EndMs: 0x0000019400000001}}},
			"0000002f 25 0007 01 H1 01020304 0000019400000001"},
		{"SendMessage", &SendMessage{SessionID: 1, Destination: d, Payload: []byte{0xaa, 0xbb}, Nonce: 9},
			"00000193 05 0001 D 00000002 aabb 00000009"},
		{"SendMessageExpires", &SendMessageExpires{SendMessage: SendMessage{SessionID: 1, Destination: d, Payload: []byte{0xaa}, Nonce: 0},
			Flags: 0x0100, Expiration: 0x019400000002},
			"0000019a 24 0001 D 00000001 aa 00000000 0100 019400000002"},
		{"MessageStatus", &MessageStatus{SessionID: 2, MessageID: 0x0a0b0c0d, Status: MsgGuaranteedSuccess, Size: 0, Nonce: 5},
			"0000000f 16 0002 0a0b0c0d 04 00000000 00000005"},
		{"MessagePayload", &MessagePayload{SessionID: 2, MessageID: 3, Payload: []byte{1, 2, 3}},
			"0000000d 1f 0002 00000003 00000003 010203"},
		{"Disconnect", &Disconnect{Reason: "bye"}, "00000004 1e 03 627965"},
		{"HostLookup/hash", &HostLookup{SessionID: NoSession, RequestID: 1, TimeoutMs: 10000, LookupType: LookupHash, Hash: h1},
			"0000002b 26 ffff 00000001 00002710 00 H1"},
		{"HostLookup/name", &HostLookup{SessionID: 3, RequestID: 2, TimeoutMs: 10000, LookupType: LookupHostname, Hostname: "a.i2p"},
			"00000011 26 0003 00000002 00002710 01 05 612e693270"},
		{"HostReply/ok", &HostReply{SessionID: 3, RequestID: 2, Result: HostOK, Destination: d},
			"0000018e 27 0003 00000002 00 D"},
		{"HostLookup/destination", &HostLookup{SessionID: 3, RequestID: 4, TimeoutMs: 10000, LookupType: LookupDestOptions, Destination: d},
			"00000192 26 0003 00000004 00002710 04 D"},
		{"HostReply/options", &HostReply{SessionID: 3, RequestID: 4, Result: HostOK, Destination: d, Options: i2p.Mapping{"a": "b"}},
			"00000196 27 0003 00000004 00 D 0006 01 61 3d 01 62 3b"},
		{"HostReply/fail", &HostReply{SessionID: 3, RequestID: 2, Result: HostFailed}, "00000007 27 0003 00000002 01"},
		{"GetBandwidthLimits", &GetBandwidthLimits{}, "00000000 08"},
		{"BandwidthLimits", &bw, "00000040 17 00000001 00000002 00000003 00000004 00000005 00000006 00000007 00000008" +
			" 00000009 0000000a 0000000b 0000000c 0000000d 0000000e 0000000f 00000010"},
		// Extensions (PROTOCOL.md).
		{"Capabilities", &Capabilities{Version: 1, Names: []string{"fast-tier", "send-via"}, RouterHash: h2},
			"00000035 c8 01 02 09 666173742d74696572 08 73656e642d766961 H2"},
		{"GetFastTier", &GetFastTier{RequestID: 0x11, Max: 75}, "00000006 c9 00000011 004b"},
		{"PeerList", &PeerList{RequestID: 0x11, Result: ResultOK, Peers: []Peer{{Hash: h1, Caps: "OfR", Bandwidth: 'O', Reliability: 9500, LatencyMs: 120}}},
			"00000030 ca 00000011 00 0001 H1 03 4f6652 4f 251c 0078"},
		{"CreateTunnel/chosen", &CreateTunnel{RequestID: 5, SessionID: 1, Direction: Inbound, HopCount: 3},
			"00000009 cb 00000005 0001 00 03 00"},
		{"CreateTunnel/explicit", &CreateTunnel{RequestID: 6, SessionID: 1, Direction: Outbound, HopCount: 2, Hops: []i2p.Hash{h1, h2}},
			"00000049 cb 00000006 0001 01 02 02 H1 H2"},
		{"TunnelStatus", &TunnelStatus{RequestID: 5, SessionID: 1, Result: ResultOK,
			Tunnel: TunnelInfo{Direction: Inbound, TunnelID: 0x01020304, Gateway: h1, Expires: 0x67748858, Hops: []i2p.Hash{h1}}},
			"00000052 cc 00000005 0001 00 00 01020304 H1 67748858 01 H1 00"},
		{"TunnelStatus/expired", &TunnelStatus{SessionID: 1, Result: ResultExpired,
			Tunnel: TunnelInfo{Direction: Outbound, TunnelID: 9, Expires: 1}, Reason: "x"},
			"00000033 cc 00000000 0001 02 01 00000009 " + strings.Repeat("00", 32) + " 00000001 00 01 78"},
		{"GetTunnelPool", &GetTunnelPool{RequestID: 8, SessionID: 1, Direction: DirBoth}, "00000007 cd 00000008 0001 02"},
		{"TunnelList", &TunnelList{RequestID: 8, SessionID: 1, Result: ResultOK, Tunnels: []TunnelInfo{{Direction: Inbound, TunnelID: 2, Gateway: h2, Expires: 3}}},
			"00000032 ce 00000008 0001 00 01 00 00000002 H2 00000003 00"},
		{"SendVia", &SendVia{SessionID: 1, TunnelID: 0x77, Destination: d, Payload: []byte{0xcc}, Nonce: 4, Flags: 0, Expiration: 0},
			"0000019e cf 0001 00000077 D 00000001 cc 00000004 0000 000000000000"},
		{"PayloadFrom", &PayloadFrom{SessionID: 2, MessageID: 3, TunnelID: 4, Gateway: h1},
			"0000002a d0 0002 00000003 00000004 H1"},
		{"LeaseSetStatus", &LeaseSetStatus{SessionID: 2, Published: 0x67748580, State: LeaseSetPublished, Floodfills: 2, Reason: ""},
			"00000009 d1 0002 67748580 02 02 00"},
		{"NeedLeaseSet", &NeedLeaseSet{SessionID: 2, Reason: NeedRequested, DeadlineMs: 10000, MinPublished: 0x67748580},
			"0000000b d2 0002 01 00002710 67748580"},
	}
}

func expandGolden(t testing.TB, s string) []byte {
	t.Helper()
	d := hex.EncodeToString(vectorKeys(t).Destination().Bytes())
	s = strings.ReplaceAll(s, "D", d)
	s = strings.ReplaceAll(s, "H1", strings.Repeat("11", 32))
	s = strings.ReplaceAll(s, "H2", strings.Repeat("22", 32))
	return unhex(t, s)
}

func TestGoldenFrames(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			want := expandGolden(t, tc.hex)
			got, err := Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encode\n got %x\nwant %x", got, want)
			}
			m, n, err := SplitFrame(want)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if n != len(want) {
				t.Fatalf("decode used %d of %d bytes", n, len(want))
			}
			if !reflect.DeepEqual(m, tc.msg) {
				t.Fatalf("decode\n got %#v\nwant %#v", m, tc.msg)
			}
		})
	}
}

// TestGoldenReconfigureSession checks the layout: session id, then the
// section 9 SessionConfig bytes unchanged.
func TestGoldenReconfigureSession(t *testing.T) {
	cs := readHexFile(t, "createsession.hex")[HeaderLen:]
	m, err := Decode(TypeReconfigureSession, append([]byte{0x12, 0x34}, cs...))
	if err != nil {
		t.Fatal(err)
	}
	rc := m.(*ReconfigureSession)
	if rc.SessionID != 0x1234 || rc.Config.Verify() != nil {
		t.Fatalf("decoded %+v", rc)
	}
	got, err := Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	want := append(unhex(t, "0000023702 1234"), cs...)
	if !bytes.Equal(got, want) {
		t.Fatalf("encode\n got %x\nwant %x", got, want)
	}
}

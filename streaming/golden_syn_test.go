package streaming

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/golden"
)

// TestGoldenSYN pins a whole signed SYN of ours (Ed25519 signatures are
// deterministic): header, FROM, MAX_PACKET_SIZE and signature, in the
// layout of the SYN i2pd 2.45.1 sent in TestStreamServiceOnI2PD
// (TestI2pdSYN). testdata/syn.hex is annotated by field.
func TestGoldenSYN(t *testing.T) {
	id, err := NewIdentity(testKeys(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	p := &Packet{RecvStreamID: 0x01020304, Flags: FlagSYN | FlagFrom | FlagMaxPacketSize | FlagNoAck,
		From: id.Destination(), MaxSize: 1730}
	raw, err := id.SignPacket(p)
	if err != nil {
		t.Fatal(err)
	}
	const path = "testdata/syn.hex"
	if golden.Updating() {
		if err := os.WriteFile(path, []byte(annotate(raw, p)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := hex.DecodeString(stripComments(string(want)))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(raw) != hex.EncodeToString(golden) {
		t.Fatalf("SYN encoding changed:\n got %x\nwant %x", raw, golden)
	}
	got, err := ParsePacket(golden)
	if err != nil {
		t.Fatal(err)
	}
	k, err := KeyFrom(got, time.Now())
	if err != nil || got.Verify(golden, k) != nil {
		t.Fatalf("golden SYN does not verify: %v", err)
	}
}

// annotate writes the packet one field a line, "# comment" after each.
func annotate(raw []byte, p *Packet) string {
	dl := p.From.Len()
	fields := []struct {
		n    int
		name string
	}{
		{4, "sendStreamId (0: unknown in a SYN)"}, {4, "receiveStreamId"}, {4, "sequenceNum"},
		{4, "ackThrough"}, {1, "NACK count"}, {1, fmt.Sprintf("resendDelay (%d s)", p.ResendDelay)},
		{2, "flags: SYN|SIGNATURE|FROM|MAX_PACKET_SIZE|NO_ACK"}, {2, "option size"},
		{dl, "FROM: the Destination"}, {2, fmt.Sprintf("MAX_PACKET_SIZE %d", p.MaxSize)}, {len(p.Signature), "SIGNATURE (Ed25519)"},
	}
	var b strings.Builder
	off := 0
	for _, f := range fields {
		b.WriteString(hex.EncodeToString(raw[off:off+f.n]) + " # " + f.name + "\n")
		off += f.n
	}
	if off < len(raw) {
		b.WriteString(hex.EncodeToString(raw[off:]) + " # payload\n")
	}
	return b.String()
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		b.WriteString(strings.TrimSpace(line))
	}
	return b.String()
}

// TestI2pdSYN checks a SYN that stock i2pd 2.45.1 sent (an i2pd client
// tunnel opening a stream to imh's service, captured from the agent's
// debug log in TestStreamServiceOnI2PD): it parses, every field is what
// i2pd's Stream::SendBuffer writes, its signature verifies with the FROM
// key (and fails with a bit flipped), and it re-encodes to the same bytes.
func TestI2pdSYN(t *testing.T) {
	b, err := os.ReadFile("testdata/i2pd-2.45.1-syn.hex")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(stripComments(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePacket(raw)
	if err != nil {
		t.Fatal(err)
	}
	wantFlags := FlagSYN | FlagSignature | FlagFrom | FlagMaxPacketSize | FlagNoAck
	if p.SendStreamID != 0 || p.RecvStreamID == 0 || p.Seq != 0 || p.AckThrough != 0 || len(p.NACKs) != 0 || p.Target != nil ||
		p.ResendDelay != 9 || p.Flags != wantFlags || p.MaxSize != 1812 || len(p.Payload) != 0 || p.Offline != nil {
		t.Errorf("i2pd SYN fields: send %d recv %d seq %d ack %d nacks %v target %v resend %d flags %#x max %d payload %d",
			p.SendStreamID, p.RecvStreamID, p.Seq, p.AckThrough, p.NACKs, p.Target, p.ResendDelay, p.Flags, p.MaxSize, len(p.Payload))
	}
	if p.From == nil || p.From.SigType() != 7 || len(p.Signature) != 64 {
		t.Fatalf("i2pd SYN: FROM %v, signature %d bytes; want an Ed25519 Destination and 64", p.From, len(p.Signature))
	}
	k, err := KeyFrom(p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(raw, k); err != nil {
		t.Errorf("i2pd SYN does not verify: %v", err)
	}
	bad := bytes.Clone(raw)
	bad[len(bad)-len(p.Signature)-2] ^= 1 // the MAX_PACKET_SIZE option
	q, err := ParsePacket(bad)
	if err != nil {
		t.Fatal(err)
	}
	if q.Verify(bad, k) == nil {
		t.Error("i2pd SYN with a flipped bit verifies")
	}
	again, err := p.MarshalBinary()
	if err != nil || !bytes.Equal(again, raw) {
		t.Errorf("i2pd SYN re-encodes differently (%v):\n got %x\nwant %x", err, again, raw)
	}
}

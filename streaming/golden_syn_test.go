package streaming

import (
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenSYN pins a whole signed SYN (Ed25519 signatures are
// deterministic): header, FROM, MAX_PACKET_SIZE and signature, in the
// layout i2pd sends. testdata/syn.hex is annotated by field.
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
	if *update {
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
		{4, "ackThrough"}, {1, "NACK count"}, {1, "resendDelay"},
		{2, "flags: SYN|SIGNATURE|FROM|MAX_PACKET_SIZE|NO_ACK"}, {2, "option size"},
		{dl, "FROM: the Destination"}, {2, "MAX_PACKET_SIZE 1730"}, {len(p.Signature), "SIGNATURE (Ed25519)"},
	}
	var b strings.Builder
	off := 0
	for _, f := range fields {
		b.WriteString(hex.EncodeToString(raw[off:off+f.n]) + " # " + f.name + "\n")
		off += f.n
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

package streaming

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/imh-project/imh/i2p"
)

// WrapPacket writes exactly what i2p.Payload.MarshalBinary writes, and it
// parses back.
func TestWrapPacketMatchesPayload(t *testing.T) {
	for _, data := range [][]byte{nil, {1}, bytes.Repeat([]byte("abc"), 700), bytes.Repeat([]byte{7}, i2p.MaxPayloadData)} {
		for range 2 { // the second round uses a reused writer
			got, err := WrapPacket(0x1234, 0xfedc, data)
			if err != nil {
				t.Fatal(err)
			}
			want, err := i2p.Payload{Protocol: i2p.ProtoStreaming, SrcPort: 0x1234, DstPort: 0xfedc, Data: data}.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes: WrapPacket differs from i2p.Payload.MarshalBinary", len(data))
			}
			p, err := i2p.ParsePayload(got)
			if err != nil || p.Protocol != i2p.ProtoStreaming || p.SrcPort != 0x1234 || p.DstPort != 0xfedc || !bytes.Equal(p.Data, data) {
				t.Fatalf("%d bytes: parsed back %+v, %v", len(data), p, err)
			}
		}
	}
	if _, err := WrapPacket(1, 2, make([]byte, i2p.MaxPayloadData+1)); err == nil {
		t.Fatal("oversized packet wrapped")
	}
}

// Regression: every packet sent built a new gzip writer, whose flate
// compressor allocates about 700 KB. Under the race detector that cost
// (shadow memory for each large allocation) starved bulk streams: four 1 MiB
// downloads through the balancer moved ~650 KB each in 60 s. A reused
// writer costs a packet's bytes.
func TestWrapPacketAllocations(t *testing.T) {
	packet := bytes.Repeat([]byte("0123456789abcdef"), 1730/16)
	if _, err := WrapPacket(1, 2, packet); err != nil { // warm the free list
		t.Fatal(err)
	}
	const n = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if _, err := WrapPacket(1, 2, packet); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 32<<10 {
		t.Fatalf("WrapPacket allocates %d bytes per packet, want < 32 KiB", per)
	}
}

package fsm

import (
	"fmt"
	"testing"
)

// bigState holds 100 routers with 16 tunnels each, the size issue 14 measures.
func bigState(b *testing.B) *State {
	b.Helper()
	s := New()
	applyAll(b, s, sampleLog(b))
	var log []Command
	for r := range 100 {
		name := fmt.Sprintf("bench-r%d", r)
		log = append(log, &RouterPut{Name: name, Addr: fmt.Sprintf("10.0.%d.%d:7654", r/250, r%250+1)})
		for i := range 16 {
			t := tunnel(name, "web", Direction(i%2+1), uint32(i+1), 4000)
			log = append(log, &TunnelRecorded{Tunnel: t})
		}
	}
	applyAll(b, s, log)
	return s
}

// BenchmarkSnapshot measures what the FSM goroutine pays when raft asks
// for a snapshot: the capture, not the encoding done later in Persist.
func BenchmarkSnapshot(b *testing.B) {
	s := bigState(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Snapshot()
	}
}

// BenchmarkFreeze is what the FSM goroutine pays since Persist encodes.
func BenchmarkFreeze(b *testing.B) {
	s := bigState(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Freeze()
	}
}

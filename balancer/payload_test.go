package balancer

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// TestEchoBoundedWorkers: with MaxEchoWorkers replies in flight (their
// sends stuck), further echo payloads are dropped and counted instead of
// each starting a goroutine; the stuck ones are answered once sends move.
func TestEchoBoundedWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := fsm.DefaultSettings()
		s.Service = fsm.ServiceEcho
		h := newHarness(t, 1, allCaps, s)
		h.tune = func(c *Config) { c.MaxEchoWorkers = 2 }
		r1 := h.router("r1")
		gate := make(chan struct{})
		r1.sendGate = gate
		run := h.start(5, 9)
		defer run.stop(t)
		time.Sleep(time.Minute)
		sender, _ := i2p.NewPrivateKeys(newRandReader(42))
		sid := r1.sessionIDs()[h.keys.Destination().Hash()]
		r1.mu.Lock()
		ctrl := r1.sessions[h.keys.Destination().Hash()].ctrl
		r1.mu.Unlock()
		for i := range 5 {
			dg, _ := i2p.NewRepliableDatagram(sender, fmt.Appendf(nil, "ping %d", i))
			body, _ := dg.MarshalBinary()
			p, _ := i2p.Payload{Protocol: i2p.ProtoRepliableDatagram, SrcPort: 1234, DstPort: 80, Data: body}.MarshalBinary()
			ctrl.push(&routerproto.MessagePayload{SessionID: sid, MessageID: uint32(i + 1), Payload: p})
		}
		time.Sleep(2 * time.Second)
		v, _ := run.b.Destination("web")
		if v.PayloadsByRouter["r1"] != 5 || v.EchoDropped != 3 {
			t.Fatalf("payloads %v, echo dropped %d; want 5 and 3", v.PayloadsByRouter, v.EchoDropped)
		}
		close(gate)
		time.Sleep(2 * time.Second)
		r1.mu.Lock()
		sent := slices.Clone(r1.sent)
		r1.mu.Unlock()
		if len(sent) != 2 {
			t.Fatalf("%d echo replies sent, want 2", len(sent))
		}
	})
}

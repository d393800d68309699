package balancer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/routerproto"
)

// benchLeader builds a leader loop over routers fake routers with tunnels
// tunnels each for one destination, and runs it until it is quiet: the
// steady state issue 14 measures (100 routers × 16 tunnels).
func benchLeader(b *testing.B, routers, tunnels int) *loop {
	b.Helper()
	cl, net := newFakeCluster(5), newFakeNet(400)
	for i := range routers {
		name := fmt.Sprintf("r%03d", i)
		r := net.addRouter(name, i, allCaps)
		r.buildTime = 0
		cl.mustApply(b, &fsm.RouterPut{Name: name, Addr: r.addr})
	}
	s := fsm.DefaultSettings()
	s.Inbound, s.Outbound = uint8(tunnels/2), uint8(tunnels/2)
	cl.addDest(b, "web", 7, s)
	cfg := DefaultConfig()
	cfg.Cluster, cfg.Dial, cfg.Rand = termCluster{cl, 5}, net.dial, newRand(1)
	bal, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := newLoop(ctx, bal, 5)
	b.Cleanup(func() { cancel(); l.wg.Wait(); l.stopServices() })
	for range 30 { // settle: step, then handle events until none come for a while
		l.step(time.Now())
		for quiet := false; !quiet; {
			select {
			case ev := <-l.events:
				l.handle(ev)
			case <-time.After(20 * time.Millisecond):
				quiet = true
			}
		}
	}
	if n := len(cl.State().Tunnels("web")); n < routers*tunnels/2 {
		b.Fatalf("not settled: %d tunnels for %d routers", n, routers)
	}
	return l
}

// BenchmarkLeaderStep is one leader step (after the events queued) at 100 routers × 16 tunnels.
func BenchmarkLeaderStep(b *testing.B) {
	l := benchLeader(b, 100, 16)
	b.ReportAllocs()
	for b.Loop() {
		l.drain() // what the routers answered since: as in run
		l.step(time.Now())
	}
}

// BenchmarkLeaderPayload is one payload event through the loop's handler.
func BenchmarkLeaderPayload(b *testing.B) {
	l := benchLeader(b, 100, 16)
	ev := payloadEvent(b, l)
	b.ReportAllocs()
	for b.Loop() {
		l.handle(ev)
	}
}

// BenchmarkLeaderSecond is one second of load: one tick and 1,000
// payloads. ns/op over 1e9 is the share of a core the leader needs.
func BenchmarkLeaderSecond(b *testing.B) {
	l := benchLeader(b, 100, 16)
	ev := payloadEvent(b, l)
	b.ReportAllocs()
	for b.Loop() {
		l.drain()
		l.step(time.Now())
		for range 1000 {
			l.handle(ev)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e7, "%core")
}

// payloadEvent is a payload from the last router on web's session there.
func payloadEvent(b *testing.B, l *loop) evMessage {
	b.Helper()
	d := l.dests["web"]
	name := l.order[len(l.order)-1]
	r, s := l.routers[name], d.sessions[name]
	if d == nil || s == nil || !s.ready {
		b.Fatalf("no ready session on %s", name)
	}
	msg := &routerproto.MessagePayload{SessionID: s.id, Payload: make([]byte, 1024)}
	return evMessage{router: name, gen: r.gen, msg: msg}
}

package simnet_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/router/simnet"
)

// serveNetwork serves n on a loopback port until the test ends.
func serveNetwork(t *testing.T, n *simnet.Network) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var serveErr error
	wg.Go(func() { serveErr = simnet.Serve(ctx, ln, n, nil) })
	stop = sync.OnceFunc(func() {
		cancel()
		wg.Wait()
		if serveErr != nil {
			t.Errorf("Serve: %v", serveErr)
		}
	})
	t.Cleanup(stop)
	return "simnet://" + ln.Addr().String(), stop
}

// fastConfig keeps real-time latencies small for tests over TCP.
func fastConfig(seed int64) simnet.Config {
	cfg := testConfig(seed)
	cfg.NetDBLatency = time.Millisecond
	cfg.RouterLatency = time.Millisecond
	return cfg
}

// TestRemoteRoutersAndSend runs two routers and a sender against a served
// network over loopback TCP, then takes one router down.
func TestRemoteRoutersAndSend(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := newNetwork(t, fastConfig(21))
	addr, stop := serveNetwork(t, n)

	var routers []*fakeRouter
	var links []*simnet.RemoteLink
	for _, name := range []string{"r1", "r2"} {
		l, err := simnet.DialRemote(ctx, addr, name, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", name, err)
		}
		if l.Hash() != n.RouterHash(name) {
			t.Fatalf("%s: hash %s, want %s", name, l.Hash(), n.RouterHash(name))
		}
		links = append(links, l)
		routers = append(routers, newFakeRouter(t, l, simnet.RealClock()))
	}
	if _, err := simnet.Dial(ctx, addr, "r1", nil); !errors.Is(err, simnet.ErrNameInUse) {
		t.Fatalf("second r1: %v, want ErrNameInUse", err)
	}
	tier, err := links[0].FastTier(ctx)
	if err != nil || len(tier) != 75 {
		t.Fatalf("remote fast tier: %d, %v", len(tier), err)
	}
	if _, err := links[0].BuildTunnel(ctx, simnet.BuildRequest{HopCount: 9}); !errors.Is(err, simnet.ErrBadRequest) {
		t.Fatalf("bad build over the wire: %v, want ErrBadRequest", err)
	}

	d := newTestDest(t, 21)
	var tunnels [][]simnet.Tunnel
	for _, r := range routers {
		r.host(d.hash())
		tunnels = append(tunnels, r.buildInbound(ctx, 2, 0, d.hash().B32()))
	}
	ls := d.leaseSet(t, time.Now(), 9*time.Minute, tunnels...)
	if err := links[0].Publish(ctx, ls); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := links[1].Publish(ctx, ls); !errors.Is(err, simnet.ErrLeaseSetRejected) {
		t.Fatalf("republish of the same leaseset: %v, want ErrLeaseSetRejected", err)
	}
	got, err := links[1].Lookup(ctx, d.hash())
	if err != nil || string(got) != string(ls) {
		t.Fatalf("remote lookup: %v", err)
	}

	cfg := simnet.SendConfig{Dest: d.hash(), Count: 25, Clients: 8, Mode: simnet.ModeOneway, Behaviour: simnet.BehaviourMix}
	res, err := simnet.RemoteSend(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("remote send, both routers up: %+v", res)
	if res.Delivered != 200 || res.ByRouter["r1"] == 0 || res.ByRouter["r2"] == 0 {
		t.Fatalf("both up: %+v", res)
	}
	if routers[0].receivedBy(d.hash())+routers[1].receivedBy(d.hash()) != 200 {
		t.Fatal("routers did not receive what the network counted")
	}

	// r1 goes away: its connection closes, its tunnels die.
	if err := links[0].Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-links[0].Done():
	case <-ctx.Done():
		t.Fatal("link not done after Close")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(n.Routers()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("routers %v after r1 closed", n.Routers())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cfg.Messages = true // and every message's outcome, as `imh simnet send --messages`
	before := time.Now()
	res, err = simnet.RemoteSend(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("remote send, r1 down: %d delivered, %d failed, %v", res.Delivered, res.Failed, res.Reasons)
	if res.Reasons[string(simnet.ReasonRouterDown)] == 0 || res.ByRouter["r1"] != 0 || res.Delivered == 0 {
		t.Fatalf("r1 down: %+v", res)
	}
	checkMessages(t, res, cfg, before)

	// Stopping the daemon cuts the remaining router.
	stop()
	select {
	case <-links[1].Done():
	case <-time.After(10 * time.Second):
		t.Fatal("r2 link not done after the daemon stopped")
	}
	if _, err := links[1].FastTier(ctx); !errors.Is(err, simnet.ErrClosed) {
		t.Fatalf("call after the daemon stopped: %v, want ErrClosed", err)
	}
}

// TestServeBadInput: garbage on the daemon's port closes that connection
// and nothing else; a router attached meanwhile keeps working.
func TestServeBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := newNetwork(t, fastConfig(22))
	addr, _ := serveNetwork(t, n)
	hp, _ := simnet.ParseAddr(addr)
	good, err := simnet.DialRemote(ctx, addr, "good", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, '{'}},
		{"not json", []byte{0, 0, 0, 3, 'a', 'b', 'c'}},
		{"wrong version", rawFrame(`{"id":1,"op":"hello","version":9,"name":"x"}`)},
		{"unknown first op", rawFrame(`{"id":1,"op":"fly","version":1}`)},
		{"hello without name", rawFrame(`{"id":1,"op":"hello","version":1}`)},
		{"nothing", nil},
	} {
		c, err := net.Dial("tcp", hp)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(tc.in)
		if tc.in == nil {
			c.(*net.TCPConn).CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("%s: connection not closed by the daemon", tc.name)
				}
				break
			}
		}
		c.Close()
	}
	if _, err := good.FastTier(ctx); err != nil {
		t.Fatalf("attached router after bad input: %v", err)
	}
	if got := n.Routers(); len(got) != 1 || got[0] != "good" {
		t.Fatalf("routers %v, want [good]", got)
	}
}

func rawFrame(body string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// checkMessages checks that res lists each message of cfg once, with
// outcomes adding up to its counts and send times after before.
func checkMessages(t *testing.T, res simnet.SendResult, cfg simnet.SendConfig, before time.Time) {
	t.Helper()
	if len(res.Messages) != cfg.Clients*cfg.Count {
		t.Fatalf("%d messages listed, want %d", len(res.Messages), cfg.Clients*cfg.Count)
	}
	seen := map[[2]int]bool{}
	delivered, reasons := 0, map[string]int{}
	for _, m := range res.Messages {
		k := [2]int{m.Client, m.Seq}
		if seen[k] || m.Client < 0 || m.Client >= cfg.Clients || m.Seq < 0 || m.Seq >= cfg.Count {
			t.Fatalf("message %+v listed twice or out of range", m)
		}
		seen[k] = true
		if m.Sent.Before(before) || m.Sent.After(time.Now()) {
			t.Fatalf("message %+v sent at %v, outside the run", m, m.Sent)
		}
		switch {
		case m.Delivered && (m.Router == "" || m.Reason != ""):
			t.Fatalf("delivered message %+v without a router or with a reason", m)
		case m.Delivered:
			delivered++
		case m.Reason == "":
			t.Fatalf("lost message %+v without a reason", m)
		default:
			reasons[string(m.Reason)]++
		}
	}
	if delivered != res.Delivered || len(res.Messages)-delivered != res.Failed {
		t.Fatalf("messages: %d delivered of %d, counts %d and %d", delivered, len(res.Messages), res.Delivered, res.Failed)
	}
	for r, n := range reasons {
		if res.Reasons[r] != n {
			t.Fatalf("messages: %d lost for %s, counted %d", n, r, res.Reasons[r])
		}
	}
}

package simnet_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/router/simnet"
)

// TestRemoteEndpoint runs an endpoint across the daemon's wire against a
// remote router (r1) and an in-process one (r2): payloads both ways,
// binding refused across the wire, bad input, close.
func TestRemoteEndpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := newNetwork(t, fastConfig(41))
	addr, _ := serveNetwork(t, n)
	l1, err := simnet.DialRemote(ctx, addr, "r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	r1, r2 := newFakeRouter(t, l1, simnet.RealClock()), attachFake(t, n, "r2")
	d := newTestDest(t, 41)
	var tunnels [][]simnet.Tunnel
	for _, r := range []*fakeRouter{r1, r2} {
		r.host(d.hash())
		tunnels = append(tunnels, r.buildInbound(ctx, 1, 0, d.hash().B32()))
	}
	if err := l1.Publish(ctx, d.leaseSet(t, time.Now(), 9*time.Minute, tunnels...)); err != nil {
		t.Fatalf("publish: %v", err)
	}

	e, err := simnet.DialEndpoint(ctx, addr, newTestDest(t, 4100).keys, simnet.BehaviourJava, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := simnet.DialEndpoint(ctx, addr, newTestDest(t, 4100).keys, simnet.BehaviourJava, nil); !errors.Is(err, simnet.ErrDestInUse) {
		t.Fatalf("second endpoint of one destination: %v, want ErrDestInUse", err)
	}
	got := make(chan []byte, 4)
	e.SetHandler(func(p []byte) { got <- p })
	expectPayload := func(want string) {
		t.Helper()
		select {
		case p := <-got:
			if string(p) != want {
				t.Fatalf("endpoint got %q, want %q", p, want)
			}
		case <-ctx.Done():
			t.Fatalf("endpoint did not get %q", want)
		}
	}

	to, err := e.Lookup(ctx, d.hash())
	if err != nil || !to.Equal(d.keys.Destination()) {
		t.Fatalf("lookup: %v, %v", to, err)
	}
	if err := e.Send(ctx, to, []byte("syn")); err != nil {
		t.Fatalf("send: %v", err)
	}
	first, other := r1, r2
	if r2.lastPayload() != nil {
		first, other = r2, r1
	}
	if string(first.lastPayload()) != "syn" {
		t.Fatalf("router got %q", first.lastPayload())
	}
	if err := first.link.Send(ctx, d.hash(), e.Destination(), []byte("syn-ack")); err != nil {
		t.Fatalf("%s send: %v", first.link.Name(), err)
	}
	expectPayload("syn-ack")
	if err := other.link.Send(ctx, d.hash(), e.Destination(), []byte("stray")); err != nil {
		t.Fatalf("%s send: %v", other.link.Name(), err)
	}
	expectPayload("stray")
	err = e.Send(ctx, to, []byte("data"))
	var nd *simnet.NotDeliveredError
	if !errors.As(err, &nd) || nd.Reason != simnet.ReasonBoundElsewhere || nd.Dest != d.hash() {
		t.Fatalf("send after the other router answered: %v, want session_bound_elsewhere", err)
	}

	// Bad frames: a clear error, the rest unaffected.
	hp, _ := simnet.ParseAddr(addr)
	for _, tc := range []struct{ name, frame, want string }{
		{"bad destination", `{"id":1,"op":"ep_hello","version":1,"dest":"AAEC"}`, "destination"},
		{"bad behaviour", `{"id":1,"op":"ep_hello","version":1,"dest":"` + b64(d.keys.Destination().Bytes()) + `","behaviour":"fly"}`, "behaviour"},
	} {
		if answer := rawExchange(t, hp, tc.frame); !strings.Contains(answer.Err, tc.want) || answer.Code != "bad_request" {
			t.Fatalf("%s: answer %+v", tc.name, answer)
		}
	}
	// On attached connections a bad request is answered and the
	// connection stays.
	hello := func(name string) string { return `{"id":1,"op":"hello","version":1,"name":"` + name + `"}` }
	if a := rawExchange(t, hp, hello("raw1"), `{"id":2,"op":"ep_send","dest":"AAEC"}`); !strings.Contains(a.Err, "unknown op") {
		t.Fatalf("endpoint op on a router connection: %+v", a)
	}
	if a := rawExchange(t, hp, hello("raw2"), `{"id":2,"op":"router_send","hash":`+jsonOf(d.hash())+`,"dest":"AAEC"}`, `{"id":3,"op":"fast_tier"}`); a.Err != "" {
		t.Fatalf("router connection after a bad router_send: %+v", a)
	}
	epHello := `{"id":1,"op":"ep_hello","version":1,"dest":"` + b64(newTestDest(t, 4101).keys.Destination().Bytes()) + `"}`
	if a := rawExchange(t, hp, epHello, `{"id":2,"op":"fast_tier"}`); !strings.Contains(a.Err, "unknown endpoint op") {
		t.Fatalf("router op on an endpoint connection: %+v", a)
	}
	if _, err := l1.Lookup(ctx, d.hash()); err != nil {
		t.Fatalf("router after bad frames: %v", err)
	}
	if _, err := e.Lookup(ctx, d.hash()); err != nil {
		t.Fatalf("endpoint after bad frames: %v", err)
	}

	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	<-e.Done()
	if err := r2.link.Send(ctx, d.hash(), e.Destination(), []byte("x")); !errors.Is(err, simnet.ErrNoEndpoint) {
		t.Fatalf("send to a closed endpoint: %v, want ErrNoEndpoint", err)
	}
	if err := l1.Send(ctx, d.hash(), e.Destination(), []byte("x")); !errors.Is(err, simnet.ErrNoEndpoint) {
		t.Fatalf("remote send to a closed endpoint: %v, want ErrNoEndpoint", err)
	}
	if err := e.Send(ctx, to, []byte("x")); !errors.Is(err, simnet.ErrClosed) {
		t.Fatalf("send on a closed endpoint: %v, want ErrClosed", err)
	}
}

type rawAnswer struct {
	Err  string `json:"err"`
	Code string `json:"code"`
}

// rawExchange writes frames on a fresh connection and returns the answer
// to the last one.
func rawExchange(t *testing.T, hp string, frames ...string) rawAnswer {
	t.Helper()
	c, err := net.Dial("tcp", hp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var a rawAnswer
	for _, f := range frames {
		a = rawRoundTrip(t, c, f)
	}
	return a
}

func rawRoundTrip(t *testing.T, c net.Conn, frame string) rawAnswer {
	t.Helper()
	if _, err := c.Write(rawFrame(frame)); err != nil {
		t.Fatal(err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("no answer to %s: %v", frame, err)
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	var a rawAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func b64(b []byte) string { return strings.Trim(jsonOf(b), `"`) }

func jsonOf(v any) string {
	j, _ := json.Marshal(v)
	return string(j)
}

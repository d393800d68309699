package ping

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
	"github.com/imh-project/imh/routerproto/routertest"
)

// dialer dials addr over plain TCP, as the CLI does for i2cp://.
func dialer(addr string) Dialer {
	return func(ctx context.Context, cfg routerproto.ClientConfig) (*routerproto.Client, error) {
		return routerproto.Dial(ctx, addr, cfg)
	}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		oneway   bool
		received int
		proto    uint8
	}{
		{"echo, every other one answered", false, 2, i2p.ProtoRepliableDatagram},
		{"oneway", true, 0, i2p.ProtoRawDatagram},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := routertest.NewEcho(t, routertest.EchoConfig{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var progress strings.Builder
			o := Options{Router: e.Addr, Count: 4, Interval: 10 * time.Millisecond, Oneway: tc.oneway, ReplyWait: time.Second}
			res, err := Run(ctx, dialer(e.Addr), e.Target.Destination().Hash(), o, &progress)
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != 4 || res.Received != tc.received || len(res.RTTms) != tc.received {
				t.Fatalf("result %+v, want 4 sent, %d received", res, tc.received)
			}
			for _, rtt := range res.RTTms {
				if rtt <= 0 || rtt > 30000 {
					t.Errorf("rtt %v ms", rtt)
				}
			}
			if n := e.LeaseSets(); n != 1 {
				t.Errorf("%d valid leasesets handed over, want 1", n)
			}
			for _, p := range e.Protocols() {
				if p != tc.proto {
					t.Fatalf("sent protocols %v, want all %d", e.Protocols(), tc.proto)
				}
			}
			want := "ping: " + e.Target.Destination().B32() + " from "
			if !strings.HasPrefix(progress.String(), want) || !strings.HasSuffix(progress.String(), " via "+e.Addr+"\n") {
				t.Errorf("progress %q, want %q... via %s", progress.String(), want, e.Addr)
			}
		})
	}
}

// TestRunErrors: what keeps the pings from going out is an error naming
// the step; nothing coming back is not.
func TestRunErrors(t *testing.T) {
	e := routertest.NewEcho(t, routertest.EchoConfig{})
	other, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		dial    Dialer
		target  i2p.Hash
		timeout time.Duration
		want    string
	}{
		{"unknown target", dialer(e.Addr), other.Destination().Hash(), 1500 * time.Millisecond, "not found (no LeaseSet)"},
		{"no router", func(context.Context, routerproto.ClientConfig) (*routerproto.Client, error) {
			return nil, routerproto.ErrClosed
		}, e.Target.Destination().Hash(), time.Second, "ping: router " + e.Addr + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			res, err := Run(ctx, tc.dial, tc.target, Options{Router: e.Addr, Count: 1}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("res %+v, err %v; want an error with %q", res, err, tc.want)
			}
		})
	}
}

// TestRunNothingBack: a router that reports every datagram undeliverable
// ends the wait early and is quoted; one that says nothing waits the full
// reply wait and leaves nothing to quote.
func TestRunNothingBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail routerproto.MessageStatusCode
		wait time.Duration
		why  string
	}{
		{"router says no route", routerproto.MsgNoLeaseSet, 20 * time.Second, "simulated router"},
		{"router says network failure", routerproto.MsgNetworkFailure, 20 * time.Second, `"network failure" for 2`},
		{"router says nothing", 0, 300 * time.Millisecond, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := routertest.NewEcho(t, routertest.EchoConfig{Silent: true, Fail: tc.fail})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			o := Options{Router: e.Addr, Count: 2, Interval: 10 * time.Millisecond, ReplyWait: tc.wait}
			res, err := Run(ctx, dialer(e.Addr), e.Target.Destination().Hash(), o, io.Discard)
			if err != nil || res.Sent != 2 || res.Received != 0 {
				t.Fatalf("res %+v, err %v", res, err)
			}
			if tc.why == "" && res.Why != "" || !strings.Contains(res.Why, tc.why) {
				t.Errorf("why %q, want %q", res.Why, tc.why)
			}
			if d := time.Since(start); tc.fail != 0 && d > 10*time.Second {
				t.Errorf("took %v although the router reported every datagram undeliverable", d)
			}
		})
	}
}

func TestWhy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failed map[routerproto.MessageStatusCode]int
		want   string
	}{
		{"none", nil, ""},
		{"one", map[routerproto.MessageStatusCode]int{routerproto.MsgNetworkFailure: 3},
			`: the router at r:1 reported "network failure" for 3`},
		{"worst first, ties by code", map[routerproto.MessageStatusCode]int{
			routerproto.MsgExpired: 1, routerproto.MsgNetworkFailure: 1, routerproto.MsgOverflow: 4},
			`: the router at r:1 reported "overflow" for 4, "network failure" for 1, "expired" for 1`},
		{"unknown code", map[routerproto.MessageStatusCode]int{200: 1}, `: the router at r:1 reported status 200 for 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := why("r:1", tc.failed); got != tc.want {
				t.Errorf("why = %q, want %q", got, tc.want)
			}
		})
	}
	got := why("r:1", map[routerproto.MessageStatusCode]int{routerproto.MsgNoLeaseSet: 2, routerproto.MsgExpired: 1})
	if !strings.HasPrefix(got, `: the router at r:1 reported "no leaseset (no route to the destination)" for 2, "expired" for 1 (a simulated router`) {
		t.Errorf("why = %q, want the simulated-router hint", got)
	}
}

// TestResultJSON: the JSON docs/cli.md promises; Why stays out of it.
func TestResultJSON(t *testing.T) {
	for _, tc := range []struct {
		res  Result
		want string
	}{
		{Result{RTTms: []float64{}}, `{"sent":0,"received":0,"rtt_ms":[]}`},
		{Result{Sent: 3, Received: 2, RTTms: []float64{1.5, 20}, Why: "x"}, `{"sent":3,"received":2,"rtt_ms":[1.5,20]}`},
	} {
		b, err := json.Marshal(tc.res)
		if err != nil || string(b) != tc.want {
			t.Errorf("json %s %v, want %s", b, err, tc.want)
		}
	}
}

// TestResultWriteText pins the summary `imh ping` prints (docs/cli.md).
func TestResultWriteText(t *testing.T) {
	target, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := target.Destination().Hash()
	for _, tc := range []struct {
		name   string
		res    Result
		oneway bool
		want   string
	}{
		{"replies", Result{Sent: 3, Received: 2, RTTms: []float64{30, 10}}, false,
			"3 sent, 2 received, 1 lost\nrtt min/avg/max = 10.0/20.0/30.0 ms\n"},
		{"none", Result{Sent: 2, RTTms: []float64{}}, false, "2 sent, 0 received, 2 lost\n"},
		{"oneway", Result{Sent: 4, RTTms: []float64{}}, true,
			"4 raw datagrams sent to " + h.B32() + " (one-way: count them at the receiver)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			if err := tc.res.WriteText(&out, h, tc.oneway); err != nil || out.String() != tc.want {
				t.Errorf("WriteText = %q, %v; want %q", out.String(), err, tc.want)
			}
			if tc.name == "replies" && tc.res.RTTms[0] != 30 {
				t.Errorf("WriteText sorted the caller's RTTms: %v", tc.res.RTTms)
			}
		})
	}
}

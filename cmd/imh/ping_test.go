package main

import (
	"crypto/rand"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/ping"
	"github.com/imh-project/imh/routerproto"
	"github.com/imh-project/imh/routerproto/routertest"
)

// TestPingUsage: malformed arguments are usage errors (exit 2); a router
// that cannot be reached is a failure (exit 1).
func TestPingUsage(t *testing.T) {
	target, _ := i2p.NewPrivateKeys(rand.Reader)
	b32 := target.Destination().B32()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		args []string
		exit int
	}{
		{[]string{"ping", b32}, 2},
		{[]string{"ping", "not-a-b32", "--via", "i2cp://127.0.0.1:7654"}, 2},
		{[]string{"ping", b32, "--via", "127.0.0.1"}, 2},
		{[]string{"ping", b32, "--via", "i2cp://127.0.0.1:7654", "--count", "0"}, 2},
		{[]string{"ping", b32, "--via", "i2cp://" + dead}, 1},
	} {
		root := newRootCmd()
		root.SetArgs(tc.args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		if got := exitCode(err); got != tc.exit {
			t.Errorf("imh %v: exit %d (%v), want %d", tc.args, got, err, tc.exit)
		}
	}
}

// TestPingCLI: the command's output, error line and exit code around the
// engine (internal/ping): replies print the summary and exit 0; a ping that
// gets no reply prints its summary and exits 1, and when the router
// reported why (MessageStatus), the one-line error quotes it.
func TestPingCLI(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     routertest.EchoConfig
		flags   []string
		exit    int
		stdout  string // a substring
		errWant string // a substring of the error
	}{
		{"replies", routertest.EchoConfig{}, []string{"--count", "1"}, 0, "1 sent, 1 received, 0 lost\nrtt min/avg/max = ", ""},
		{"oneway", routertest.EchoConfig{}, []string{"--count", "2", "--interval", "10ms", "--oneway"}, 0, "2 raw datagrams sent to ", ""},
		{"json", routertest.EchoConfig{Silent: true, Fail: routerproto.MsgNetworkFailure}, []string{"--count", "1", "--json"}, 1,
			`{"sent":1,"received":0,"rtt_ms":[]}` + "\n", `"network failure" for 1`},
		{"router says no route", routertest.EchoConfig{Silent: true, Fail: routerproto.MsgNoLeaseSet}, []string{"--count", "3", "--interval", "10ms"}, 1,
			"3 sent, 0 received, 3 lost", "simulated router"},
		{"router says network failure", routertest.EchoConfig{Silent: true, Fail: routerproto.MsgNetworkFailure}, []string{"--count", "3", "--interval", "10ms"}, 1,
			"3 sent, 0 received, 3 lost", `"network failure" for 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := routertest.NewEcho(t, tc.cfg)
			root := newRootCmd()
			var out, errOut strings.Builder
			root.SetArgs(append([]string{"ping", e.Target.Destination().B32(), "--via", "i2cp://" + e.Addr}, tc.flags...))
			root.SetOut(&out)
			root.SetErr(&errOut)
			start := time.Now()
			err := root.Execute()
			if exitCode(err) != tc.exit {
				t.Fatalf("err %v (exit %d), want exit %d", err, exitCode(err), tc.exit)
			}
			if tc.exit != 0 && (!strings.Contains(err.Error(), tc.errWant) || strings.Contains(err.Error(), "\n")) {
				t.Fatalf("err %v, want one line with %q", err, tc.errWant)
			}
			if !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("stdout %q, want %q", out.String(), tc.stdout)
			}
			if !strings.HasPrefix(errOut.String(), "ping: "+e.Target.Destination().B32()+" from ") {
				t.Errorf("stderr %q, want the progress line", errOut.String())
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestPrintPing: --json prints the result as one JSON object, else its
// text (ping.Result.WriteText, whose wording internal/ping's
// TestResultWriteText pins), one-way or not as the flags say.
func TestPrintPing(t *testing.T) {
	target, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := target.Destination().Hash()
	res := ping.Result{Sent: 2, Received: 1, RTTms: []float64{1.25}, Why: "x"}
	for _, tc := range []struct {
		name string
		o    pingOptions
		want string
	}{
		{"text", pingOptions{}, "2 sent, 1 received, 1 lost\nrtt min/avg/max = 1.2/1.2/1.2 ms\n"},
		{"oneway", pingOptions{run: ping.Options{Oneway: true}}, "2 raw datagrams sent to " + h.B32() + " (one-way: count them at the receiver)\n"},
		{"json", pingOptions{asJSON: true}, `{"sent":2,"received":1,"rtt_ms":[1.25]}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			if err := printPing(&out, h, &res, tc.o); err != nil || out.String() != tc.want {
				t.Errorf("printPing = %q, %v; want %q", out.String(), err, tc.want)
			}
		})
	}
}

package demo

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/internal/status"
)

// TestPortPlan: every address the demo gives a child is distinct and
// inside [base, base+PortSpan), so --base-port's check of that span covers
// all of them and no two children fight over a port.
func TestPortPlan(t *testing.T) {
	d := &demo{base: 20000}
	addrs := map[string]string{"simnet": d.simnetAddr(), "simnet http": d.port(1), "tunnel": d.port(demoTunnelAt)}
	for i := 1; i <= demoRouters; i++ {
		n := strconv.Itoa(i)
		addrs["router "+n] = d.routerAddr(i)
		addrs["router http "+n] = d.routerHTTP(i)
		addrs["frontend "+n] = d.frontendAddr(i)
		addrs["frontend http "+n] = d.frontendHTTP(i)
	}
	for i := 1; i <= demoAgents; i++ {
		for j, a := range d.agentPorts(i) {
			addrs["agent "+strconv.Itoa(i)+" port "+strconv.Itoa(j)] = a
		}
	}
	seen := map[string]string{}
	for what, addr := range addrs {
		if other, ok := seen[addr]; ok {
			t.Errorf("%s and %s share %s", what, other, addr)
		}
		seen[addr] = what
		host, port, err := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		if err != nil || host != "127.0.0.1" || p < d.base || p >= d.base+PortSpan {
			t.Errorf("%s at %s: outside 127.0.0.1:%d..%d", what, addr, d.base, d.base+PortSpan-1)
		}
	}
}

// TestAgentArgs: each agent joins every agent's gossip port and presents
// its own certificate.
func TestAgentArgs(t *testing.T) {
	d := &demo{base: 20000, dir: "/tmp/x"}
	for i := 1; i <= demoAgents; i++ {
		args := strings.Join(d.agentArgs(i), " ")
		for _, want := range []string{
			"--node-name " + d.agentName(i), "--data-dir " + d.agentDir(i), "--bootstrap-expect 3",
			"--cert-file " + d.tlsFiles(d.agentName(i)).Cert, "--http-bind " + d.agentPorts(i)[2],
		} {
			if !strings.Contains(args, want) {
				t.Errorf("agent %d: %q lacks %q", i, args, want)
			}
		}
		for j := 1; j <= demoAgents; j++ {
			if !strings.Contains(args, "--join "+d.agentPorts(j)[1]) {
				t.Errorf("agent %d does not join agent %d: %q", i, j, args)
			}
		}
	}
}

func TestDemoState(t *testing.T) {
	up, down := status.Router{State: status.RouterUp}, status.Router{State: status.RouterDown}
	tests := []struct {
		name string
		st   status.Status
		want string
	}{
		{"nothing yet", status.Status{}, "leader none, 0 of 0 routers up, no destination yet"},
		{"routers, no destination", status.Status{Leader: "n2", Routers: []status.Router{up, down, up}},
			"leader n2, 2 of 3 routers up, no destination yet"},
		{"other destinations only", status.Status{Leader: "n1", Destinations: []status.Destination{{Name: "site", Leases: 2}}},
			"leader n1, 0 of 0 routers up, no destination yet"},
		{"leases", status.Status{Leader: "n1", Routers: []status.Router{up}, Destinations: []status.Destination{{Name: demoDest, Leases: 7}}},
			"leader n1, 1 of 1 routers up, 7 leases published"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := demoState(&tt.st); got != tt.want {
				t.Errorf("demoState = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCall: the API client is dialed once per agent and kept, a failed
// dial is not kept, and call errors go through CallErr.
func TestCall(t *testing.T) {
	errDial, errWorded := errors.New("bad TLS files"), errors.New("worded")
	dials := 0
	fail := true
	d := &demo{dir: "/tmp/x", cfg: Config{
		Dial: func(addr string, files pki.Files) (*client.Client, error) {
			dials++
			if fail {
				return nil, errDial
			}
			if files.Cert != "/tmp/x/tls/operator.pem" {
				t.Errorf("dialed with %+v, want the operator's certificate", files)
			}
			return client.New(client.Config{Addr: addr})
		},
		CallErr: func(err error) error {
			if err != nil {
				return errWorded
			}
			return nil
		},
	}}
	ok := func(*client.Client) (int, error) { return 1, nil }
	bad := func(*client.Client) (int, error) { return 0, errors.New("raw") }
	tests := []struct {
		name      string
		fail      bool
		f         func(*client.Client) (int, error)
		want      error
		wantDials int
	}{
		{"failed dial is returned as is", true, ok, errDial, 1},
		{"and tried again", false, ok, nil, 2},
		{"kept client", false, ok, nil, 2},
		{"call error worded", false, bad, errWorded, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fail = tt.fail
			_, err := call(d, "127.0.0.1:1", tt.f)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("call = %v, want %v", err, tt.want)
			}
			if dials != tt.wantDials {
				t.Errorf("%d dials, want %d", dials, tt.wantDials)
			}
		})
	}
}

func TestDemoEnv(t *testing.T) {
	t.Setenv("IMH_HTTP_ADDR", "127.0.0.1:1")
	t.Setenv("IMH_DEMO_TEST_KEEP", "")
	t.Setenv("NOT_IMH_KEPT", "1")
	env := strings.Join(demoEnv(), "\n")
	if strings.Contains(env, "IMH_HTTP_ADDR=") || strings.Contains(env, "IMH_DEMO_TEST_KEEP=") || !strings.Contains(env, "NOT_IMH_KEPT=1") {
		t.Errorf("demoEnv keeps the user's IMH_* settings or drops others:\n%s", env)
	}
}

func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}

//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/eventually"
)

// simnetStatus is the part of `imh simnet serve`'s /status the tests read.
type simnetStatus struct {
	Peers        int      `json:"peers"`
	Routers      []string `json:"routers"`
	Destinations map[string]struct {
		Stores  int `json:"stores"`
		Lookups int `json:"lookups"`
		History []struct {
			LeaseSet string `json:"leaseset"`
			StoredAt int64  `json:"stored_at"`
		} `json:"history"`
	} `json:"destinations"`
}

// startSimnet starts `imh simnet serve` on free loopback ports and waits
// until /status answers; it returns the process, the network address and
// the status URL.
func startSimnet(t *testing.T, extra ...string) (p *proc, addr, statusURL string) {
	t.Helper()
	addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := append([]string{"simnet", "serve", "--listen", addr, "--http", httpAddr}, extra...)
	p = startIMH(t, "simnet", args...)
	statusURL = "http://" + httpAddr + "/status"
	eventually.True(t, 20*time.Second, "simnet /status", func() bool {
		var st simnetStatus
		return httpGetJSON(statusURL, &st) == nil
	})
	return p, addr, statusURL
}

func TestSimnetServeStatusAndSIGTERM(t *testing.T) {
	p, addr, statusURL := startSimnet(t, "--seed", "3", "--peers", "500")
	var st simnetStatus
	if err := httpGetJSON(statusURL, &st); err != nil {
		t.Fatal(err)
	}
	if st.Peers != 500 || st.Routers == nil || st.Destinations == nil {
		t.Fatalf("status %+v, want 500 peers and empty routers and destinations", st)
	}

	// A sender to a destination nobody published: every message is lost
	// for want of a LeaseSet, and the floodfills count the lookups.
	const b32 = "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq"
	stdout, stderr, code := runIMH(t, "simnet", "send", "--network", "simnet://"+addr, "--dest", b32+".b32.i2p", "--count", "4", "--clients", "2", "--json")
	if code != 0 {
		t.Fatalf("simnet send: exit %d, stderr %s", code, stderr)
	}
	for _, want := range []string{`"delivered":0`, `"failed":8`, `"no_leaseset":8`, `"session_bound_elsewhere":0`, `"by_router":{}`} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("simnet send --json = %s, want %s", stdout, want)
		}
	}
	if err := httpGetJSON(statusURL, &st); err != nil {
		t.Fatal(err)
	}
	if got := st.Destinations[b32+".b32.i2p"].Lookups; got != 8 {
		t.Fatalf("lookups counted %d, want 8", got)
	}

	if err := p.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, p.LogTail(20))
	}
}

// TestSimnetServeEnv: a daemon flag not given on the command line comes from
// IMH_<FLAG>; the flag wins over the environment.
func TestSimnetServeEnv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string
		args  []string
		peers int
	}{
		{"env", []string{"IMH_PEERS=300"}, nil, 300},
		{"flag wins", []string{"IMH_PEERS=300"}, []string{"--peers", "400"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			env := append([]string{"IMH_LISTEN=127.0.0.1:0", "IMH_HTTP=" + httpAddr}, tc.env...)
			p := startIMHEnv(t, "simnet-env", env, append([]string{"simnet", "serve"}, tc.args...)...)
			var st simnetStatus
			eventually.True(t, 20*time.Second, "simnet /status", func() bool {
				return httpGetJSON("http://"+httpAddr+"/status", &st) == nil
			})
			if st.Peers != tc.peers {
				t.Fatalf("peers %d, want %d", st.Peers, tc.peers)
			}
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
	_, stderr, code := runIMHEnv(t, []string{"IMH_PEERS=many"}, "simnet", "serve", "--listen", "127.0.0.1:0")
	if code != 2 || !strings.Contains(stderr, "IMH_PEERS") {
		t.Fatalf("IMH_PEERS=many: exit %d, stderr %q; want exit 2 naming the variable", code, stderr)
	}
}

func TestSimnetCLIUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"simnet", "serve"},
		{"simnet", "serve", "--listen", "127.0.0.1:0", "--time-scale", "0"},
		{"simnet", "send", "--network", "simnet://127.0.0.1:1", "--dest", "nope"},
		{"simnet", "send", "--network", "simnet://127.0.0.1:1", "--dest", "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq", "--mode", "twoway"},
	} {
		_, stderr, code := runIMH(t, args...)
		if code != 2 || !strings.HasPrefix(stderr, "imh: ") {
			t.Errorf("imh %s: exit %d stderr %q, want exit 2 and one imh: line", strings.Join(args, " "), code, stderr)
		}
	}
	// Unreachable daemon: the operation fails (exit 1).
	_, _, code := runIMH(t, "simnet", "send", "--network", fmt.Sprintf("simnet://127.0.0.1:%d", freePort(t)), "--dest", "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq")
	if code != 1 {
		t.Errorf("send to nothing: exit %d, want 1", code)
	}
}

// TestSimnetBaselineProcesses: `imh simnet baseline` attaches two stock
// routers with the same keys to `imh simnet serve`; their LeaseSets are
// stored, `imh simnet send` reaches the destination, and SIGTERM ends both
// processes cleanly.
func TestSimnetBaselineProcesses(t *testing.T) {
	sim, addr, statusURL := startSimnet(t, "--seed", "4")
	keyFile := filepath.Join(t.TempDir(), "svc.dat")
	stdout, stderr, code := runIMH(t, "dest", "new", "--out", keyFile)
	if code != 0 {
		t.Fatalf("dest new: exit %d: %s", code, stderr)
	}
	b32 := strings.TrimSpace(stdout)
	base := startIMH(t, "baseline", "simnet", "baseline", "--network", "simnet://"+addr, "--keys", keyFile, "--routers", "b1,b2", "--hops", "1", "--json")

	var st simnetStatus
	eventually.True(t, 60*time.Second, "a stored baseline LeaseSet", func() bool {
		return httpGetJSON(statusURL, &st) == nil && st.Destinations[b32].Stores >= 1 && len(st.Routers) == 2
	})
	stdout, stderr, code = runIMH(t, "simnet", "send", "--network", "simnet://"+addr, "--dest", strings.TrimSuffix(b32, ".b32.i2p"), "--count", "10", "--clients", "4", "--behaviour", "mix", "--json")
	if code != 0 {
		t.Fatalf("simnet send: exit %d: %s", code, stderr)
	}
	var res struct {
		Delivered int            `json:"delivered"`
		Failed    int            `json:"failed"`
		Reasons   map[string]int `json:"reasons"`
		ByRouter  map[string]int `json:"by_router"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("send output %q: %v", stdout, err)
	}
	if res.Delivered != 40 || len(res.Reasons) != 5 {
		t.Fatalf("send to the baseline: %+v", res)
	}

	if err := base.Stop(); err != nil {
		t.Fatalf("baseline SIGTERM: %v\n%s", err, base.LogTail(20))
	}
	if !strings.Contains(base.Log(), `"publishes"`) {
		t.Fatalf("baseline printed no summary:\n%s", base.LogTail(10))
	}
	eventually.True(t, 10*time.Second, "baseline routers detached", func() bool {
		return httpGetJSON(statusURL, &st) == nil && len(st.Routers) == 0
	})
	if err := sim.Stop(); err != nil {
		t.Fatalf("simnet SIGTERM: %v", err)
	}
}

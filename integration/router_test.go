//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/routerproto"
)

// routerStatus is the router daemon's GET /status (CLI.md).
type routerStatus struct {
	Name     string `json:"name"`
	Hash     string `json:"hash"`
	Backend  string `json:"backend"`
	Sessions []struct {
		ID              uint16 `json:"id"`
		B32             string `json:"b32"`
		Managed         bool   `json:"managed"`
		Term            uint64 `json:"term"`
		ControlAttached bool   `json:"control_attached"`
		DataAttached    int    `json:"data_attached"`
		StaleRefused    uint64 `json:"stale_refused"`
	} `json:"sessions"`
	Tunnels []struct {
		ID        uint32   `json:"id"`
		Direction string   `json:"direction"`
		Gateway   string   `json:"gateway"`
		Hops      []string `json:"hops"`
		Expires   int64    `json:"expires"`
	} `json:"tunnels"`
	FastTier int `json:"fast_tier"`
	Builds   struct {
		OK     uint64 `json:"ok"`
		Failed uint64 `json:"failed"`
	} `json:"builds"`
	Delivered uint64 `json:"delivered"`
}

// routerSimnetStatus is the part of the simnet daemon's /status a router test
// reads.
type routerSimnetStatus struct {
	Destinations map[string]struct {
		Stores  int              `json:"stores"`
		History []storedLeaseSet `json:"history"`
	} `json:"destinations"`
}

// storedLeaseSet is one LeaseSet the simulated floodfills stored.
type storedLeaseSet struct {
	LeaseSet string `json:"leaseset"`
	StoredAt int64  `json:"stored_at"`
}

// routerNet is one `imh simnet serve` and its routers, all as processes.
type routerNet struct {
	simAddr, simHTTP string
	sim              *proc
	routers          []*routerProc
}

type routerProc struct {
	name, addr, http string
	p                *proc
}

func (r *routerProc) status(t *testing.T) routerStatus {
	t.Helper()
	var st routerStatus
	if err := httpGetJSON("http://"+r.http+"/status", &st); err != nil {
		t.Fatalf("router %s status: %v", r.name, err)
	}
	return st
}

// startRouterNet starts the simulated network and one router per name.
func startRouterNet(t testing.TB, grace time.Duration, names ...string) *routerNet {
	t.Helper()
	n := &routerNet{
		simAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		simHTTP: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	n.sim = startIMH(t, "simnet", "simnet", "serve", "--listen", n.simAddr, "--http", n.simHTTP, "--peers", "500", "--seed", "7")
	eventually.True(t, 20*time.Second, "simnet /status", func() bool {
		var v map[string]any
		return httpGetJSON("http://"+n.simHTTP+"/status", &v) == nil
	})
	for _, name := range names {
		r := &routerProc{
			name: name,
			addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			http: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		}
		r.p = startIMH(t, "router-"+name, "router", "serve", "--listen", r.addr, "--http", r.http, "--name", name,
			"--grace-period", grace.String(), "--network", "simnet://"+n.simAddr)
		n.routers = append(n.routers, r)
	}
	for _, r := range n.routers {
		eventually.True(t, 20*time.Second, "router "+r.name+" /status", func() bool {
			var st routerStatus
			return httpGetJSON("http://"+r.http+"/status", &st) == nil && st.Name == r.name
		})
	}
	return n
}

// routerKeyFile writes a new Ed25519 private key file and returns its path
// and the destination's b32.
func routerKeyFile(t *testing.T) (string, string) {
	t.Helper()
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "probe.dat")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, k.Destination().B32()
}

// routerProbeResult is `imh i2cp probe --json` (CLI.md).
type routerProbeResult struct {
	RouterVersion string            `json:"router_version"`
	ClockOffsetMs int64             `json:"clock_offset_ms"`
	Extensions    []string          `json:"extensions"`
	SessionID     *int              `json:"session_id"`
	Leases        []json.RawMessage `json:"leases"`
	SessionKept   bool              `json:"session_kept"`
}

// TestRouterDaemons: `imh simnet serve` with two `imh router serve`;
// `imh i2cp probe` without keys (handshake, extensions) and with keys (an
// ordinary session whose LeaseSet the simulated floodfills store); every
// daemon stops cleanly on SIGTERM.
func TestRouterDaemons(t *testing.T) {
	n := startRouterNet(t, 2*time.Second, "r1", "r2")
	hashes := map[string]bool{}
	for _, r := range n.routers {
		st := r.status(t)
		if st.Backend != "simnet" || len(st.Hash) != 64 || st.FastTier == 0 || len(st.Sessions) != 0 {
			t.Fatalf("router %s status %+v", r.name, st)
		}
		hashes[st.Hash] = true
	}
	if len(hashes) != 2 {
		t.Fatal("two routers share one identity hash")
	}

	r1 := n.routers[0]
	// The router serves TLS: plain I2CP gets nowhere, i2cps:// with the
	// operator's certificate (IMH_CERT_FILE) does.
	if _, _, code := runIMH(t, "i2cp", "probe", "i2cp://"+r1.addr, "--json"); code != 1 {
		t.Fatalf("plaintext probe of a TLS router: exit %d, want 1", code)
	}
	out, stderr, code := runIMH(t, "i2cp", "probe", "i2cps://"+r1.addr, "--json")
	if code != 0 {
		t.Fatalf("probe without keys: exit %d: %s", code, stderr)
	}
	var pr routerProbeResult
	if err := json.Unmarshal([]byte(out), &pr); err != nil {
		t.Fatalf("probe output %q: %v", out, err)
	}
	if pr.RouterVersion == "" || !routerContains(pr.Extensions, "managed-sessions") || !routerContains(pr.Extensions, "explicit-hops") {
		t.Fatalf("probe without keys: %+v", pr)
	}

	keys, b32 := routerKeyFile(t)
	out, stderr, code = runIMH(t, "i2cp", "probe", "i2cps://"+r1.addr, "--keys", keys, "--json")
	if code != 0 {
		t.Fatalf("probe with keys: exit %d: %s", code, stderr)
	}
	pr = routerProbeResult{}
	if err := json.Unmarshal([]byte(out), &pr); err != nil {
		t.Fatalf("probe output %q: %v", out, err)
	}
	if !pr.SessionKept || len(pr.Leases) == 0 || pr.SessionID == nil {
		t.Fatalf("probe with keys: %+v", pr)
	}
	// The router built the probe's tunnels itself, as an ordinary session.
	st := r1.status(t)
	if st.Builds.OK < 2 {
		t.Fatalf("router built %d tunnels for the probe's session, want at least 2", st.Builds.OK)
	}
	// The probe's LeaseSet reached the simulated floodfills.
	var sim routerSimnetStatus
	if err := httpGetJSON("http://"+n.simHTTP+"/status", &sim); err != nil {
		t.Fatal(err)
	}
	ds, ok := sim.Destinations[b32]
	if !ok {
		ds, ok = sim.Destinations[strings.TrimSuffix(b32, i2p.B32Suffix)]
	}
	if !ok || ds.Stores < 1 || len(ds.History) < 1 {
		t.Fatalf("floodfills know %+v of %s (found %v)", ds, b32, ok)
	}
	stored, err := i2p.Base64.DecodeString(ds.History[len(ds.History)-1].LeaseSet)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := i2p.ParseLeaseSet2(stored)
	if err != nil || ls.Verify() != nil || ls.Destination.B32() != b32 {
		t.Fatalf("stored leaseset: %v", err)
	}
	for _, l := range ls.Leases {
		if l.Gateway.String() != st.Hash {
			t.Fatalf("probe lease gateway %s, want the router itself (%s) for zero-hop tunnels", l.Gateway, st.Hash)
		}
	}
	// The probe destroyed its session: an unmanaged session has no grace.
	eventually.True(t, 10*time.Second, "probe session gone", func() bool { return len(r1.status(t).Sessions) == 0 })

	for _, r := range n.routers {
		if err := r.p.Stop(); err != nil {
			t.Errorf("router %s on SIGTERM: %v\n%s", r.name, err, r.p.LogTail(20))
		}
		if !strings.Contains(r.p.Log(), "router stopped") {
			t.Errorf("router %s did not log a clean stop", r.name)
		}
	}
	if err := n.sim.Stop(); err != nil {
		t.Errorf("simnet on SIGTERM: %v", err)
	}
}

// TestRouterServeFlags: usage errors exit 2; --upstream without an
// implementation fails with a clear message; a router whose network is
// unreachable fails (exit 1).
func TestRouterServeFlags(t *testing.T) {
	port := freePort(t)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no network", []string{"--listen", "127.0.0.1:1", "--name", "x"}, 2, "--network"},
		{"both backends", []string{"--listen", "127.0.0.1:1", "--name", "x", "--network", "simnet://127.0.0.1:1", "--upstream", "i2cp://127.0.0.1:1"}, 2, "exclusive"},
		{"no name", []string{"--listen", "127.0.0.1:1", "--network", "simnet://127.0.0.1:1"}, 2, "--name"},
		{"bad grace", []string{"--listen", "127.0.0.1:1", "--name", "x", "--network", "simnet://127.0.0.1:1", "--grace-period", "-1s"}, 2, "grace"},
		{"unreachable network", []string{"--listen", "127.0.0.1:0", "--name", "x", "--network", fmt.Sprintf("simnet://127.0.0.1:%d", port)}, 1, "simnet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runIMH(t, append([]string{"router", "serve"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, tt.code, tt.msg)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("error is not one line: %q", stderr)
			}
		})
	}
}

func routerContains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// TestRouterManagedSessionStatus drives a managed session of a router
// process with the routerproto Client and checks what /status reports: the
// session with its term, its tunnels with their hops, a stale attach in
// stale_refused, the controller's loss, and the session's end after the
// grace period.
func TestRouterManagedSessionStatus(t *testing.T) {
	const grace = 2 * time.Second
	n := startRouterNet(t, grace, "r1")
	r1 := n.routers[0]
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	session := func(term uint64) (*routerproto.Client, uint16, error) {
		c, err := routerproto.Dial(ctx, r1.addr, routerDialConfig(t, r1.name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		opts := i2p.Mapping{"imh.managed": "true", "imh.term": fmt.Sprint(term)}
		sc, err := routerproto.SignSessionConfig(k, bound(c, opts), uint64(c.RouterNow().UnixMilli()))
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.CreateSession(ctx, sc)
		return c, id, err
	}
	c1, id, err := session(3)
	if err != nil {
		t.Fatal(err)
	}
	var tun *routerproto.TunnelStatus
	for i := 0; i < 20 && (tun == nil || tun.Result != routerproto.ResultOK); i++ {
		if tun, err = c1.CreateTunnel(ctx, &routerproto.CreateTunnel{SessionID: id, Direction: routerproto.Inbound, HopCount: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if tun.Result != routerproto.ResultOK {
		t.Fatalf("no tunnel built: %+v", tun)
	}
	st := r1.status(t)
	if len(st.Sessions) != 1 || !st.Sessions[0].Managed || st.Sessions[0].Term != 3 || !st.Sessions[0].ControlAttached || st.Sessions[0].B32 != k.Destination().B32() {
		t.Fatalf("sessions %+v", st.Sessions)
	}
	if len(st.Tunnels) != 1 || st.Tunnels[0].Direction != "inbound" || len(st.Tunnels[0].Hops) != 2 ||
		st.Tunnels[0].Gateway != tun.Tunnel.Gateway.String() || st.Tunnels[0].Hops[0] != st.Tunnels[0].Gateway || st.Tunnels[0].ID != tun.Tunnel.TunnelID {
		t.Fatalf("tunnels %+v, built %+v", st.Tunnels, tun.Tunnel)
	}

	if _, _, err := session(2); err == nil {
		t.Fatal("stale term accepted")
	}
	if st := r1.status(t); st.Sessions[0].StaleRefused != 1 || st.Sessions[0].Term != 3 {
		t.Fatalf("after a stale attach: %+v", st.Sessions[0])
	}

	_ = c1.Close()
	eventually.True(t, 5*time.Second, "controller detached", func() bool {
		st := r1.status(t)
		return len(st.Sessions) == 1 && !st.Sessions[0].ControlAttached
	})
	eventually.True(t, grace+10*time.Second, "session ended after the grace period", func() bool { return len(r1.status(t).Sessions) == 0 })
	if err := r1.p.Stop(); err != nil {
		t.Errorf("router on SIGTERM: %v", err)
	}
}

// TestRouterStopAndNetworkLoss: SIGTERM stops a router cleanly while a
// controller is attached (the controller sees the connection end), and a
// router whose simulated network goes away exits with an error naming it.
func TestRouterStopAndNetworkLoss(t *testing.T) {
	n := startRouterNet(t, time.Minute, "r1", "r2")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := routerproto.Dial(ctx, n.routers[0].addr, routerDialConfig(t, n.routers[0].name))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := routerproto.SignSessionConfig(k, bound(c, i2p.Mapping{"imh.managed": "true", "imh.term": "1"}), uint64(c.RouterNow().UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSession(ctx, sc); err != nil {
		t.Fatal(err)
	}
	if err := n.routers[0].p.Stop(); err != nil {
		t.Fatalf("router with an attached controller on SIGTERM: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("controller's connection still open after the router stopped")
	}

	if err := n.sim.Stop(); err != nil {
		t.Fatalf("simnet on SIGTERM: %v", err)
	}
	r2 := n.routers[1]
	err = r2.p.Wait(15 * time.Second)
	if !r2.p.Exited() {
		t.Fatal("router still running 15 s after losing its network")
	}
	if err == nil {
		t.Fatal("router exited 0 after losing its network")
	}
	if !strings.Contains(r2.p.Log(), "connection to the simulated network lost") {
		t.Fatalf("router log does not say why it stopped:\n%s", r2.p.LogTail(5))
	}
}

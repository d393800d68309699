//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/i2cpclient"
	"github.com/imh-project/imh/internal/i2pdtest"
	"github.com/imh-project/imh/routerproto"
)

// i2cpProbeOut is `imh i2cp probe --json` (CLI.md).
type i2cpProbeOut struct {
	RouterVersion string   `json:"router_version"`
	ClockOffsetMs *int64   `json:"clock_offset_ms"`
	Extensions    []string `json:"extensions"`
	SessionID     *uint16  `json:"session_id"`
	Leases        []struct {
		Gateway string `json:"gateway"`
		Tunnel  uint32 `json:"tunnel"`
		End     uint32 `json:"end"`
	} `json:"leases"`
	SessionKept bool `json:"session_kept"`
}

func i2cpProbe(t *testing.T, args ...string) (i2cpProbeOut, time.Duration) {
	t.Helper()
	start := time.Now()
	stdout, stderr, code := runIMH(t, append([]string{"i2cp", "probe"}, args...)...)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("imh i2cp probe %v: exit %d\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("probe output %q: %v", stdout, err)
	}
	for _, k := range []string{"router_version", "clock_offset_ms", "extensions", "session_id", "leases", "session_kept"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("probe JSON lacks %q: %s", k, stdout)
		}
	}
	if len(raw) != 6 {
		t.Errorf("probe JSON has %d keys, want 6: %s", len(raw), stdout)
	}
	var out i2cpProbeOut
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	return out, took
}

// TestI2CPProbeI2pd is the conformance proof of issue 3: a stock i2pd
// 2.45.1 accepts our handshake, our CreateSession and our CreateLeaseSet2
// and keeps the session past its 10 s LeaseSet deadline, with an
// i2pd-written signing-type-7 key file, an `imh dest new` key file and a
// library-generated one.
func TestI2CPProbeI2pd(t *testing.T) {
	i2pdPool.join(t)
	r := i2pdtest.Start(t, i2pdtest.Options{ServerTunnels: []i2pdtest.ServerTunnel{{Name: "k7", SigType: 7}}})
	r.WaitI2CP(t)
	r.TunnelB32(t, "k7") // the key file exists once the tunnel is listed

	t.Run("no keys", func(t *testing.T) {
		for _, addr := range []string{"i2cp://" + r.I2CPAddr, r.I2CPAddr} {
			out, _ := i2cpProbe(t, addr, "--json")
			if out.RouterVersion == "" || out.ClockOffsetMs == nil || len(out.Extensions) != 0 || out.SessionID != nil || out.SessionKept {
				t.Fatalf("probe %s: %+v", addr, out)
			}
			if *out.ClockOffsetMs > 2000 || *out.ClockOffsetMs < -2000 {
				t.Fatalf("clock offset %d ms against a router on this machine", *out.ClockOffsetMs)
			}
			t.Logf("i2pd answered SetDate with version %q (i2pd 2.45.1 echoes the client's version), offset %d ms", out.RouterVersion, *out.ClockOffsetMs)
		}
		stdout, _, code := runIMH(t, "i2cp", "probe", r.I2CPAddr)
		if code != 0 || !strings.Contains(stdout, "router version:") || !strings.Contains(stdout, "none (stock router)") {
			t.Fatalf("human output (exit %d): %s", code, stdout)
		}
	})

	imhKeys := filepath.Join(t.TempDir(), "imh.dat")
	if stdout, stderr, code := runIMH(t, "dest", "new", "--out", imhKeys); code != 0 {
		t.Fatalf("imh dest new: exit %d: %s %s", code, stdout, stderr)
	}
	libKeys := filepath.Join(t.TempDir(), "lib.dat")
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(libKeys, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file string }{
		{"i2pd sig type 7 key file", r.KeyFile("k7")},
		{"imh dest new key file", imhKeys},
		{"i2p.NewPrivateKeys key file", libKeys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, took := i2cpProbe(t, "i2cp://"+r.I2CPAddr, "--keys", tc.file, "--json")
			if out.SessionID == nil || !out.SessionKept || len(out.Leases) == 0 || len(out.Extensions) != 0 {
				t.Fatalf("probe: %+v", out)
			}
			now := uint32(time.Now().Unix())
			for _, l := range out.Leases {
				if len(l.Gateway) != 64 || l.Tunnel == 0 || l.End < now || l.End > now+12*60 {
					t.Fatalf("lease %+v (now %d)", l, now)
				}
			}
			if took < 12*time.Second {
				t.Fatalf("probe returned after %v, before the 12 s wait", took)
			}
			t.Logf("session %d kept; %d lease(s), first gateway %s; probe took %v", *out.SessionID, len(out.Leases), out.Leases[0].Gateway[:16], took.Round(time.Millisecond))
		})
	}
	if r.Exited() {
		t.Fatal("i2pd exited during the probes")
	}
}

// TestI2CPClientI2pd drives the routerproto Client against i2pd directly:
// the handshake with imh.ext=1 (ignored by a stock router), a session, the
// time until the lease request, our LeaseSet accepted (the session lives on
// past the 10 s deadline while we use it), bandwidth limits, a lookup of our
// own destination, and DestroySession answered with SessionDestroyed.
func TestI2CPClientI2pd(t *testing.T) {
	i2pdPool.join(t)
	r := i2pdtest.Start(t, i2pdtest.Options{})
	r.WaitI2CP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := routerproto.Dial(ctx, r.I2CPAddr, routerproto.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Extended() {
		t.Fatal("stock i2pd offered extensions")
	}
	if _, err := c.GetFastTier(ctx, 0); !errors.Is(err, routerproto.ErrNotSupported) {
		t.Fatalf("extension call on stock router: %v", err)
	}
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	opts := i2p.Mapping{"inbound.length": "0", "outbound.length": "0", "inbound.quantity": "1", "outbound.quantity": "1",
		"i2cp.leaseSetEncType": "4", "i2cp.leaseSetType": "3", "i2cp.fastReceive": "true", "i2cp.messageReliability": "none"}
	sc, err := routerproto.SignSessionConfig(keys, opts, uint64(c.RouterNow().UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sid, err := c.CreateSession(ctx, sc)
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	created := time.Since(start)
	var req *routerproto.RequestVariableLeaseSet
	for req == nil {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatalf("closed before the lease request: %v", c.Err())
			}
			req, _ = e.Message.(*routerproto.RequestVariableLeaseSet)
		case <-ctx.Done():
			t.Fatal("no lease request")
		}
	}
	leaseAfter := time.Since(start)
	lk, err := i2p.NewLeaseSetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	published := uint32(c.RouterNow().Unix())
	ls := &i2p.LeaseSet2{Destination: keys.Destination(), Published: published, Expires: 600, Keys: []i2p.EncryptionKey{lk.EncryptionKey()}}
	for _, l := range req.Leases {
		ls.Leases = append(ls.Leases, l.ToLease2())
	}
	if err := ls.Sign(keys); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateLeaseSet2(&routerproto.CreateLeaseSet2{SessionID: sid, LeaseSet: ls,
		PrivateKeys: []routerproto.LeaseSetPrivateKey{{Type: i2p.EncX25519, Key: lk.Private()}}}); err != nil {
		t.Fatal(err)
	}
	bw, err := c.GetBandwidthLimits(ctx)
	if err != nil {
		t.Fatalf("bandwidth limits: %v", err)
	}
	hr, err := c.HostLookup(ctx, &routerproto.HostLookup{SessionID: sid, TimeoutMs: 10000, LookupType: routerproto.LookupHash, Hash: keys.Destination().Hash()})
	if err != nil {
		t.Fatalf("host lookup: %v", err)
	}
	if hr.Result == routerproto.HostOK && !hr.Destination.Equal(keys.Destination()) {
		t.Fatalf("lookup of our own hash returned %s", hr.Destination.B32())
	}
	// Past i2pd's 10 s deadline the session must still be there.
	deadline := time.NewTimer(12 * time.Second)
	defer deadline.Stop()
wait:
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatalf("session not kept: %v", c.Err())
			}
			if st, isSt := e.Message.(*routerproto.SessionStatus); isSt {
				t.Fatalf("session status %s during the wait", st.Status)
			}
		case <-deadline.C:
			break wait
		}
	}
	if err := c.DestroySession(sid); err != nil {
		t.Fatal(err)
	}
	var destroyed bool
	for !destroyed {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatalf("closed without SessionDestroyed: %v", c.Err())
			}
			st, isSt := e.Message.(*routerproto.SessionStatus)
			destroyed = isSt && st.Status == routerproto.SessionDestroyed && st.SessionID == sid
		case <-ctx.Done():
			t.Fatal("no SessionDestroyed")
		}
	}
	t.Logf("i2pd: SetDate version %q, clock offset %v; SessionStatus created after %v; lease request after %v with %d lease(s); bandwidth limits in/out %d/%d KBps; own-hash lookup result %d",
		c.RouterVersion(), c.ClockOffset(), created.Round(time.Millisecond), leaseAfter.Round(time.Millisecond), len(req.Leases), bw.Limits[0], bw.Limits[1], hr.Result)
}

// TestI2CPProbeUsage: exit codes that need no router.
func TestI2CPProbeUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.dat")
	if err := os.WriteFile(bad, []byte("not a key file"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t)) // nothing listens
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"i2cp", "probe", "not-an-address"}, 2},
		{[]string{"i2cp", "probe", "i2cp://127.0.0.1"}, 2},
		{[]string{"i2cp", "probe"}, 2},
		{[]string{"i2cp", "probe", addr, "--keys", filepath.Join(t.TempDir(), "missing.dat")}, 2},
		{[]string{"i2cp", "probe", addr, "--keys", bad}, 2},
		{[]string{"i2cp", "probe", addr, "--bogus"}, 2},
		{[]string{"i2cp", "probe", addr}, 1},
	} {
		stdout, stderr, code := runIMH(t, tc.args...)
		if code != tc.code {
			t.Errorf("imh %v: exit %d, want %d (stdout %q stderr %q)", tc.args, code, tc.code, stdout, stderr)
		}
		if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "imh: ") {
			t.Errorf("imh %v: stderr %q, want one line", tc.args, stderr)
		}
	}
}

// i2cpSession is a zero-hop session with a transient destination on
// addr; its lease requests are the caller's to answer, through la.
type i2cpSession struct {
	c  *routerproto.Client
	la *i2cpclient.LeaseAnswerer
}

func openI2CPSession(t *testing.T, ctx context.Context, addr string) *i2cpSession {
	t.Helper()
	c, err := routerproto.Dial(ctx, addr, routerproto.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	opts := i2p.Mapping{"inbound.length": "0", "outbound.length": "0", "inbound.quantity": "1", "outbound.quantity": "1",
		"i2cp.leaseSetEncType": "4", "i2cp.leaseSetType": "3", "i2cp.fastReceive": "true", "i2cp.messageReliability": "none"}
	la, err := i2cpclient.OpenTransient(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &i2cpSession{c: c, la: la}
}

// answer answers a lease request; failing to is fatal.
func (s *i2cpSession) answer(t *testing.T, req *routerproto.RequestVariableLeaseSet) {
	t.Helper()
	if err := s.la.Answer(req); err != nil {
		t.Fatal(err)
	}
}

// TestI2CPSendMessageI2pd: i2pd parses our SendMessageExpires and answers
// MessageStatus with our nonce. (On one isolated router the target's
// LeaseSet cannot be looked up, since i2pd 2.45.1 asks floodfills even for
// its own destinations, so the status is a failure; delivery end to end is
// the private-network tests' job.)
func TestI2CPSendMessageI2pd(t *testing.T) {
	i2pdPool.join(t)
	r := i2pdtest.Start(t, i2pdtest.Options{})
	r.WaitI2CP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := openI2CPSession(t, ctx, r.I2CPAddr)
	b := openI2CPSession(t, ctx, r.I2CPAddr)
	payload, err := i2p.Payload{Protocol: 18, SrcPort: 1, DstPort: 2, Data: []byte("imh conformance")}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	const nonce = 0x01020304
	sent := false
	start := time.Now()
	for {
		select {
		case e, ok := <-a.c.Events():
			if !ok {
				t.Fatalf("sender closed: %v", a.c.Err())
			}
			switch m := e.Message.(type) {
			case *routerproto.RequestVariableLeaseSet:
				a.answer(t, m)
				if !sent {
					sent = true
					start = time.Now()
					if err := a.c.SendMessageExpires(&routerproto.SendMessageExpires{SendMessage: routerproto.SendMessage{SessionID: a.la.SessionID(),
						Destination: b.la.Keys().Destination(), Payload: payload, Nonce: nonce}, Expiration: uint64(time.Now().Add(time.Minute).UnixMilli())}); err != nil {
						t.Fatal(err)
					}
				}
			case *routerproto.MessageStatus:
				if m.Nonce != nonce || m.SessionID != a.la.SessionID() {
					t.Fatalf("status %+v, want nonce %#x", m, nonce)
				}
				t.Logf("i2pd answered our SendMessageExpires with MessageStatus %d after %v", m.Status, time.Since(start).Round(time.Millisecond))
				return
			}
		case e, ok := <-b.c.Events():
			if !ok {
				t.Fatalf("receiver closed: %v", b.c.Err())
			}
			if req, isReq := e.Message.(*routerproto.RequestVariableLeaseSet); isReq {
				b.answer(t, req)
			}
		case <-ctx.Done():
			t.Fatalf("no MessageStatus (sent: %v)", sent)
		}
	}
}

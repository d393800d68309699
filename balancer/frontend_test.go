package balancer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/frontend"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/streaming"
)

// tapConn records every byte a frontend link carries, both ways.
type tapConn struct {
	net.Conn
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (c tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.buf.Write(b[:n])
	c.mu.Unlock()
	return n, err
}

func (c tapConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.buf.Write(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// lockedBuffer is a log sink shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// download fetches blob's copy from b32 through a fresh client mux and
// reports whether it arrived exact.
func download(ctx context.Context, t *testing.T, mux *streaming.Mux, b32 string, want [32]byte) error {
	c, err := mux.Dial(ctx, b32)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, "GET\n"); err != nil {
		return err
	}
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if sha256.Sum256(got) != want {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// Multi-client mode on the simulated network: two routers with a
// frontend each. The frontends terminate the streams, so downloads in
// flight complete while the leader is gone and a new leader takes over;
// the transient keys rotate under running streams; the long-term signing
// key never crosses a frontend link nor reaches a frontend's log; and a
// frontend cut off from the cluster stops signing when its key ends.
func TestFrontendsSimnet(t *testing.T) {
	n := fastSimnet(t, 300, 10)
	blob := make([]byte, 1<<20)
	rand.Read(blob)
	want := sha256.Sum256(blob)
	backend := blobServer(t, blob)

	cl := newFakeCluster(3)
	var logs lockedBuffer
	feLog := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fes := map[string]*frontend.Frontend{}
	for _, name := range []string{"r1", "r2"} {
		r := startSimRouter(t, n, name)
		cl.mustApply(t, &fsm.RouterPut{Name: name, Addr: r.addr})
		fe, err := frontend.New(frontend.Config{Name: "f-" + name, Router: r.addr, Logger: feLog, ReportInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); fe.Serve(ctx, ln) }()
		t.Cleanup(func() { cancel(); <-done; fe.Close() })
		fes[name] = fe
		cl.mustApply(t, &fsm.FrontendPut{Name: "f-" + name, Addr: ln.Addr().String(), Router: name})
	}
	st := fsm.Settings{Inbound: 2, Outbound: 2, Hops: 1, Policy: fsm.PolicyFailover, Service: fsm.ServiceTCP, ServiceAddr: backend, Frontends: true}
	// A random signing key, so that its bytes cannot occur by chance in
	// what a frontend may see (the Destination's padding, say).
	seed := make([]byte, 32)
	rand.Read(seed)
	var pad [32]byte
	rand.Read(pad[:])
	encPriv := make([]byte, i2p.EncElGamal.PrivateKeyLen())
	rand.Read(encPriv)
	keys, err := i2p.NewEd25519PrivateKeys(seed, pad, encPriv)
	if err != nil {
		t.Fatal(err)
	}
	cl.putDest(t, "web", keys, 9, st)
	b32 := keys.Destination().B32()

	var tapMu sync.Mutex
	var tapped bytes.Buffer
	const lifetime = 8 * time.Second
	withFrontends := func(c *Config) {
		c.FrontendKeyLifetime = lifetime
		c.DialFrontend = func(ctx context.Context, _, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return tapConn{Conn: nc, mu: &tapMu, buf: &tapped}, nil
		}
	}
	b, stop := startSimnetBalancer(t, cl, 100*time.Millisecond, withFrontends)
	eventually.True(t, 30*time.Second, "a LeaseSet stored", func() bool { return storedLeaseSet(t, n, keys.Destination().Hash()) != nil })
	attached := func(name string) bool {
		for _, d := range fes[name].Status().Dests {
			if d.Name == "web" && d.Attached {
				return true
			}
		}
		return false
	}
	eventually.True(t, 30*time.Second, "both frontends attached", func() bool { return attached("r1") && attached("r2") })
	// The leader's status view shows each frontend up, beside its router,
	// with the destination attached.
	eventually.True(t, 10*time.Second, "frontends attached in the status view", func() bool {
		for _, r := range []string{"r1", "r2"} {
			v, ok := b.Frontend("f-" + r)
			if !ok || v.State != status.RouterUp || v.Router != r || len(v.Destinations) != 1 || v.Destinations[0].Name != "web" || !v.Destinations[0].Attached {
				return false
			}
		}
		return true
	})
	live, _ := b.Destination("web")
	if live.Streams.Accepted != 0 {
		t.Fatalf("the leader terminated streams in multi-client mode: %+v", live.Streams)
	}

	// Downloads run while the leader stops and a successor (next term)
	// takes over: none of them breaks.
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, streamClients)
	for i := range streamClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := download(ctx, t, streamClient(t, n, byte(100+i)), b32, want); err != nil {
				errs <- err
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	stop()
	cl.mu.Lock()
	cl.term = 4
	cl.mu.Unlock()
	time.Sleep(time.Second)
	b2, stop2 := startSimnetBalancer(t, cl, 100*time.Millisecond, withFrontends)
	t.Cleanup(stop2)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("download across a leader change: %v", err)
	}
	served := uint64(0)
	for _, fe := range fes {
		for _, d := range fe.Status().Dests {
			served += d.Accepted
		}
	}
	if served < streamClients {
		t.Errorf("frontends accepted %d streams, want %d", served, streamClients)
	}
	if t.Failed() {
		for name, fe := range fes {
			t.Logf("frontend beside %s: %+v", name, fe.Status())
		}
		t.Fatalf("routers %+v; stored %+v", n.Stats(), storedLeaseSet(t, n, keys.Destination().Hash()))
	}
	// The successor's status view has the frontends' stream figures: every
	// blob went out through them.
	viewOut := func() (accepted, out uint64) {
		for _, r := range []string{"r1", "r2"} {
			v, _ := b2.Frontend("f-" + r)
			for _, d := range v.Destinations {
				accepted, out = accepted+d.Accepted, out+d.BytesOut
			}
		}
		return accepted, out
	}
	eventually.True(t, 10*time.Second, "the downloads in the status view", func() bool {
		accepted, out := viewOut()
		return accepted >= streamClients && out >= uint64(streamClients*len(blob))
	})

	// Rotation: a successor key is granted before the first expires, and
	// a download after the first key's end still works.
	first := fes["r1"].Status().Dests[0].KeyExpires
	eventually.True(t, lifetime, "a successor key", func() bool {
		d := fes["r1"].Status().Dests
		return len(d) == 1 && d[0].KeyExpires.After(first) && d[0].Attached
	})
	time.Sleep(time.Until(first) + time.Second)
	dctx, dcancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer dcancel()
	if err := download(dctx, t, streamClient(t, n, 150), b32, want); err != nil {
		t.Fatalf("download after the first key expired: %v", err)
	}

	// The active router's frontend dies: its router leaves the LeaseSet,
	// the standby (whose frontend is attached) takes over, and new
	// downloads work.
	live, _ = b2.Destination("web")
	active := live.ActiveRouter
	if fes[active] == nil {
		t.Fatalf("active router %q has no frontend", active)
	}
	fes[active].Close()
	killed := time.Now()
	eventually.True(t, 30*time.Second, "the standby active", func() bool {
		l, _ := b2.Destination("web")
		return l.ActiveRouter != "" && l.ActiveRouter != active
	})
	fctx, fcancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer fcancel()
	if err := download(fctx, t, streamClient(t, n, 160), b32, want); err != nil {
		t.Fatalf("download after the active frontend died: %v", err)
	}
	t.Logf("active frontend (beside %s) closed: a new download completed %s later", active, time.Since(killed).Round(time.Millisecond))
	delete(fes, active)

	// The long-term signing key never crossed a frontend link nor reached
	// a frontend's log, raw or encoded.
	priv := ed25519.NewKeyFromSeed(seed)
	tapMu.Lock()
	wire := tapped.Bytes()
	tapMu.Unlock()
	logText := logs.String()
	var forms [][]byte
	for _, k := range [][]byte{seed, priv} {
		forms = append(forms, k, []byte(i2p.Base64.EncodeToString(k)), []byte(base64.StdEncoding.EncodeToString(k)), []byte(hex.EncodeToString(k)))
	}
	for _, form := range forms {
		if bytes.Contains(wire, form) || strings.Contains(logText, string(form)) {
			t.Fatalf("the destination's signing key (%d bytes form) reached a frontend", len(form))
		}
	}
	if !bytes.Contains(wire, keys.Destination().Bytes()) {
		t.Fatal("tap saw no assignment: the check above proves nothing")
	}

	// Cut off: with no leader, the frontends stop signing when their key
	// ends, and detach from their routers.
	stop2()
	var last time.Time
	for _, fe := range fes {
		for _, d := range fe.Status().Dests {
			if d.KeyExpires.After(last) {
				last = d.KeyExpires
			}
		}
	}
	eventually.True(t, time.Until(last)+5*time.Second, "frontends stopped signing", func() bool {
		for _, fe := range fes {
			for _, d := range fe.Status().Dests {
				if d.Attached || !d.KeyExpires.IsZero() {
					return false
				}
			}
		}
		return true
	})
}

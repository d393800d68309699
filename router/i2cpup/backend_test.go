package i2cpup

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/servetest"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/routerproto"
)

// serveRouter runs an imh router over a Backend for the fake upstream at
// addr on 127.0.0.1:0 and returns the backend and the router's address.
func serveRouter(t *testing.T, upstream string) (*Backend, string) {
	t.Helper()
	return serveRouterRetry(t, upstream, 50*time.Millisecond)
}

// serveRouterRetry is serveRouter with the router's publish retry delay.
// StallRetry is 1 ns so that every failed lookup may ask for a fresh
// LeaseSet: with 1 ms an idle machine sent the second ask within the
// millisecond and TestBackendPublishStall waited for it in vain.
func serveRouterRetry(t *testing.T, upstream string, retry time.Duration) (*Backend, string) {
	t.Helper()
	return serveBackend(t, Config{Addr: upstream, AnswerWithin: 500 * time.Millisecond, StallRetry: time.Nanosecond}, func(cfg *router.Config) {
		cfg.PublishRetry = retry
		cfg.PublishRetryMax = max(retry, cfg.PublishRetryMax)
	})
}

// serveBackend runs an imh router named "up" over a Backend made from bcfg
// on 127.0.0.1:0 (tune, if set, adjusts the router's config) and returns
// the backend and the router's address; both stop with the test.
func serveBackend(t *testing.T, bcfg Config, tune func(*router.Config)) (*Backend, string) {
	t.Helper()
	be, err := NewBackend(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := router.DefaultConfig()
	cfg.Name = "up"
	if tune != nil {
		tune(&cfg)
	}
	rt, err := router.New(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	be.AttachRouter(rt)
	addr, stop := servetest.Loopback(t, rt)
	t.Cleanup(func() { stop(); _ = be.Close() })
	return be, addr
}

func dialBalancer(t *testing.T, addr string) *routerproto.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := routerproto.Dial(ctx, addr, routerproto.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func managedConfig(t *testing.T, b *balancer, term string) *routerproto.SessionConfig {
	t.Helper()
	opts := i2p.Mapping{"imh.managed": "true", "imh.term": term, "inbound.length": "1", "i2cp.leaseSetEncType": "4", "i2cp.leaseSetType": "3"}
	sc, err := routerproto.SignSessionConfig(b.keys, opts, uint64(time.Now().UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func nextEvent[T routerproto.Message](t *testing.T, c *routerproto.Client, match func(T) bool) T {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				var zero T
				t.Fatalf("events closed waiting for %T: %v", zero, c.Err())
			}
			if m, ok := ev.Message.(T); ok && (match == nil || match(m)) {
				return m
			}
		case <-timeout:
			var zero T
			t.Fatalf("no %T within 5s", zero)
		}
	}
}

// The imh router in front of a stock upstream: the capabilities it lacks
// are not announced; the balancer's signed config reaches the upstream
// unchanged; the upstream's lease request becomes TunnelStatus events; the
// balancer's LeaseSet goes upstream unchanged and is reported published;
// a balancer failover (new connection, higher term) keeps the upstream
// session; DestroySession ends it.
func TestBackendBehindRouter(t *testing.T) {
	f, upstream := startFake(t)
	_, addr := serveRouter(t, upstream)
	bal := newBalancer(t)

	c1 := dialBalancer(t, addr)
	for _, lacking := range []string{"fast-tier", "explicit-hops", "create-tunnel", "send-via"} {
		if c1.Has(lacking) {
			t.Errorf("router announces %s in front of a stock router", lacking)
		}
	}
	for _, has := range []string{"need-leaseset", "tunnel-pool", "payload-from", "leaseset-status", "managed-sessions"} {
		if !c1.Has(has) {
			t.Errorf("router lacks %s in front of a stock router", has)
		}
	}
	sc := managedConfig(t, bal, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sid, err := c1.CreateSession(ctx, sc)
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	conn := recv(t, f.conns, "upstream session")
	f.mu.Lock()
	got := f.configs[0]
	f.mu.Unlock()
	want, _ := sc.SignedBytes()
	gotB, _ := got.SignedBytes()
	if !bytes.Equal(gotB, want) || !bytes.Equal(got.Signature, sc.Signature) {
		t.Fatal("upstream got a different session config than the balancer signed")
	}

	leases := testLeases(2)
	if err := conn.RequestLeaseSet(fakeSessionID, leases); err != nil {
		t.Fatal(err)
	}
	var ids []uint32
	for range leases {
		ts := nextEvent[*routerproto.TunnelStatus](t, c1, func(m *routerproto.TunnelStatus) bool { return m.RequestID == 0 })
		if ts.SessionID != sid || ts.Tunnel.Direction != routerproto.Inbound {
			t.Fatalf("tunnel status %+v", ts)
		}
		ids = append(ids, ts.Tunnel.TunnelID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint32{leases[0].TunnelID, leases[1].TunnelID}) {
		t.Fatalf("reported tunnels %v, upstream leases %v", ids, leases)
	}
	need := nextEvent[*routerproto.NeedLeaseSet](t, c1, nil)
	if need.SessionID != sid || need.Reason != routerproto.NeedRequested || need.DeadlineMs == 0 || need.DeadlineMs > 500 {
		t.Fatalf("NeedLeaseSet after the lease request: %+v", need)
	}

	ls, keys := bal.leaseSet(t, uint32(time.Now().Unix()), leases)
	if err := c1.CreateLeaseSet2(&routerproto.CreateLeaseSet2{SessionID: sid, LeaseSet: ls, PrivateKeys: keys}); err != nil {
		t.Fatal(err)
	}
	up := recv(t, f.leaseSets, "leaseset upstream")
	if !bytes.Equal(marshal(t, up.LeaseSet), marshal(t, ls)) || up.SessionID != fakeSessionID {
		t.Fatal("upstream got a different leaseset")
	}
	nextEvent[*routerproto.LeaseSetStatus](t, c1, func(m *routerproto.LeaseSetStatus) bool {
		return m.Published == ls.Published && m.State == routerproto.LeaseSetPublished
	})

	// Balancer failover: the controller's connection goes, a new leader
	// re-attaches with a higher term; the upstream session is untouched.
	c1.Close()
	c2 := dialBalancer(t, addr)
	sid2, err := c2.CreateSession(ctx, managedConfig(t, bal, "2"))
	if err != nil || sid2 != sid {
		t.Fatalf("re-attach: id %d (was %d), err %v", sid2, sid, err)
	}
	none(t, f.destroyed, 200*time.Millisecond, "upstream destroy during failover")
	if n := f.sessionsCreated(); n != 1 {
		t.Fatalf("%d upstream sessions created, want 1", n)
	}

	if err := c2.DestroySession(sid); err != nil {
		t.Fatal(err)
	}
	if id := recv(t, f.destroyed, "upstream destroy"); id != fakeSessionID {
		t.Fatalf("destroyed upstream session %d", id)
	}
}

// Backend.Send looks the target up through the sender's upstream session
// (once; cached) and sends through it; PublishLeaseSet forwards a LeaseSet
// once however often the router retries it.
func TestBackendSendAndPublishRetry(t *testing.T) {
	f, upstream := startFake(t)
	be, err := NewBackend(Config{Addr: upstream})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	from, to := newBalancer(t), newBalancer(t)
	for _, b := range []*balancer{from, to} {
		sc := managedConfig(t, b, "1")
		if err := be.SessionOpened(ctx, router.SessionInfo{Dest: sc.Destination, Options: sc.Options, Managed: true, Config: sc}); err != nil {
			t.Fatal(err)
		}
		recv(t, f.conns, "upstream session")
	}
	if err := be.SessionOpened(ctx, router.SessionInfo{Dest: from.keys.Destination(), Config: managedConfig(t, from, "2")}); err != nil {
		t.Fatal(err)
	}
	if n := f.sessionsCreated(); n != 2 {
		t.Fatalf("%d upstream sessions, want 2 (a re-attach opens none)", n)
	}
	for i := range 2 {
		out := router.Outbound{From: from.keys.Destination().Hash(), To: to.keys.Destination().Hash(), Payload: []byte{byte(i)}}
		if err := be.Send(ctx, out); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		m := recv(t, f.sends, "upstream send")
		if !m.Destination.Equal(to.keys.Destination()) || m.Payload[0] != byte(i) {
			t.Fatalf("upstream send %d: to %s payload %v", i, m.Destination.B32(), m.Payload)
		}
	}
	var unknown i2p.Hash
	unknown[0] = 1
	if err := be.Send(ctx, router.Outbound{From: from.keys.Destination().Hash(), To: unknown}); !errors.Is(err, router.ErrNotFound) {
		t.Errorf("send to unknown: %v, want ErrNotFound", err)
	}
	if err := be.Send(ctx, router.Outbound{From: unknown, To: to.keys.Destination().Hash()}); !errors.Is(err, ErrClosed) {
		t.Errorf("send without session: %v, want ErrClosed", err)
	}

	ls, keys := from.leaseSet(t, uint32(time.Now().Unix()), testLeases(1))
	m := &routerproto.CreateLeaseSet2{LeaseSet: ls, PrivateKeys: keys}
	for attempt := range 3 {
		if err := be.PublishLeaseSet(ctx, from.keys.Destination().Hash(), m); err != nil {
			t.Fatalf("publish attempt %d: %v", attempt, err)
		}
	}
	recv(t, f.leaseSets, "forwarded leaseset")
	none(t, f.leaseSets, 200*time.Millisecond, "second forward of the same leaseset")

	be.SessionClosed(from.keys.Destination().Hash())
	recv(t, f.destroyed, "upstream destroy")
	if err := be.PublishLeaseSet(ctx, from.keys.Destination().Hash(), m); !errors.Is(err, ErrClosed) {
		t.Errorf("publish after close: %v, want ErrClosed", err)
	}
}

// TestBackendPublishStall: while the upstream cannot find the Destination,
// the balancer is asked for a fresh LeaseSet (reason not-stored), each
// fresh one is forwarded, and publication is reported once a lookup
// succeeds. Sends name the client's Destination without a lookup.
func TestBackendPublishStall(t *testing.T) {
	f, upstream := startFake(t)
	f.mu.Lock()
	f.lookupFails = 2
	f.mu.Unlock()
	// No retry of the same LeaseSet within the test: only fresh ones.
	_, addr := serveRouterRetry(t, upstream, time.Minute)
	bal := newBalancer(t)
	c := dialBalancer(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sid, err := c.CreateSession(ctx, managedConfig(t, bal, "1"))
	if err != nil {
		t.Fatal(err)
	}
	recv(t, f.conns, "upstream session")
	pub := uint32(time.Now().Unix())
	for i := range 3 {
		ls, keys := bal.leaseSet(t, pub+uint32(i), testLeases(1))
		if err := c.CreateLeaseSet2(&routerproto.CreateLeaseSet2{SessionID: sid, LeaseSet: ls, PrivateKeys: keys}); err != nil {
			t.Fatal(err)
		}
		if up := recv(t, f.leaseSets, "leaseset upstream"); up.LeaseSet.Published != ls.Published {
			t.Fatalf("forwarded published %d, want %d", up.LeaseSet.Published, ls.Published)
		}
		if i == 2 {
			break
		}
		need := nextEvent[*routerproto.NeedLeaseSet](t, c, nil)
		if need.Reason != routerproto.NeedNotStored || need.MinPublished != ls.Published {
			t.Fatalf("attempt %d: NeedLeaseSet %+v, want not-stored after %d", i, need, ls.Published)
		}
	}
	nextEvent[*routerproto.LeaseSetStatus](t, c, func(m *routerproto.LeaseSetStatus) bool {
		return m.Published == pub+2 && m.State == routerproto.LeaseSetPublished
	})

	stranger := newBalancer(t) // unknown to the upstream: a lookup would fail
	err = c.SendMessageExpires(&routerproto.SendMessageExpires{SendMessage: routerproto.SendMessage{SessionID: sid, Destination: stranger.keys.Destination(), Payload: []byte("p"), Nonce: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, f.sends, "upstream send"); !m.Destination.Equal(stranger.keys.Destination()) {
		t.Fatalf("sent to %s", m.Destination.B32())
	}
}

// TestStallRetrySpacing: fresh LeaseSets for a stalled publication are
// asked for at most once per StallRetry, per Destination.
func TestStallRetrySpacing(t *testing.T) {
	be, err := NewBackend(Config{Addr: "127.0.0.1:1", StallRetry: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var a, b i2p.Hash
	a[0], b[0] = 1, 2
	if !be.stallDue(a) || be.stallDue(a) {
		t.Fatal("first ask not due, or second one at once due")
	}
	if !be.stallDue(b) {
		t.Fatal("another destination held back")
	}
	time.Sleep(120 * time.Millisecond)
	if !be.stallDue(a) {
		t.Fatal("not due after StallRetry")
	}
}

package i2cpup

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/routerproto"
)

// serveReopen runs an imh router over a Backend that reopens lost upstream
// sessions after reopenDelay (doubling).
func serveReopen(t *testing.T, upstream string, reopenDelay time.Duration) (*Backend, string) {
	t.Helper()
	return serveBackend(t, Config{Addr: upstream, AnswerWithin: 500 * time.Millisecond, StallRetry: time.Millisecond, ReopenDelay: reopenDelay}, nil)
}

// tunnelEvents reads n TunnelStatus events with result res and returns
// their tunnel ids, sorted.
func tunnelEvents(t *testing.T, c *routerproto.Client, sid uint16, res routerproto.Result, n int) []uint32 {
	t.Helper()
	var ids []uint32
	for range n {
		ts := nextEvent[*routerproto.TunnelStatus](t, c, func(m *routerproto.TunnelStatus) bool { return m.Result == res })
		if ts.SessionID != sid || ts.Tunnel.Direction != routerproto.Inbound {
			t.Fatalf("tunnel status %+v", ts)
		}
		ids = append(ids, ts.Tunnel.TunnelID)
	}
	slices.Sort(ids)
	return ids
}

func leaseIDs(ls []i2p.Lease) []uint32 {
	ids := make([]uint32, 0, len(ls))
	for _, l := range ls {
		ids = append(ids, l.TunnelID)
	}
	slices.Sort(ids)
	return ids
}

// TestUpstreamLostReportsBrokenAndReopens: when the upstream drops the
// connection while the imh session lives, the balancer sees every inbound
// tunnel of the Destination broken at once; the upstream session is
// reopened (after refused attempts, with backoff) with the config exactly
// as the balancer signed it, and its lease request puts the router back in
// service.
func TestUpstreamLostReportsBrokenAndReopens(t *testing.T) {
	f, upstream := startFake(t)
	be, addr := serveReopen(t, upstream, 10*time.Millisecond)
	bal := newBalancer(t)
	c := dialBalancer(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc := managedConfig(t, bal, "1")
	sid, err := c.CreateSession(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	conn := recv(t, f.conns, "upstream session")
	leases := testLeases(2)
	if err := conn.RequestLeaseSet(fakeSessionID, leases); err != nil {
		t.Fatal(err)
	}
	if got := tunnelEvents(t, c, sid, routerproto.ResultOK, 2); !slices.Equal(got, leaseIDs(leases)) {
		t.Fatalf("reported %v, upstream leases %v", got, leases)
	}

	f.mu.Lock()
	f.refuse = 2 // the upstream comes back slowly
	f.mu.Unlock()
	conn.Close()
	if got := tunnelEvents(t, c, sid, routerproto.ResultBroken, 2); !slices.Equal(got, leaseIDs(leases)) {
		t.Fatalf("broken %v, want %v", got, leaseIDs(leases))
	}

	conn2 := recv(t, f.conns, "reopened upstream session")
	f.mu.Lock()
	refused, created := f.refused, len(f.configs)
	got := f.configs[len(f.configs)-1]
	f.mu.Unlock()
	if refused != 2 || created != 2 {
		t.Fatalf("%d refused, %d created; want 2 refused then the second created", refused, created)
	}
	want, _ := sc.SignedBytes()
	gotB, _ := got.SignedBytes()
	if !bytes.Equal(gotB, want) || !bytes.Equal(got.Signature, sc.Signature) {
		t.Fatal("reopened with a different session config than the balancer signed")
	}
	eventually.True(t, 5*time.Second, "live upstream session", func() bool {
		s, err := be.session(bal.keys.Destination().Hash())
		return err == nil && !s.ended()
	})

	leases2 := testLeases(1)
	leases2[0].TunnelID += 1000
	if err := conn2.RequestLeaseSet(fakeSessionID, leases2); err != nil {
		t.Fatal(err)
	}
	if got := tunnelEvents(t, c, sid, routerproto.ResultOK, 1); !slices.Equal(got, leaseIDs(leases2)) {
		t.Fatalf("after reopen reported %v, want %v", got, leaseIDs(leases2))
	}
	nextEvent[*routerproto.NeedLeaseSet](t, c, func(m *routerproto.NeedLeaseSet) bool { return m.SessionID == sid })
	ls, keys := bal.leaseSet(t, uint32(time.Now().Unix()), leases2)
	if err := c.CreateLeaseSet2(&routerproto.CreateLeaseSet2{SessionID: sid, LeaseSet: ls, PrivateKeys: keys}); err != nil {
		t.Fatal(err)
	}
	if up := recv(t, f.leaseSets, "leaseset through the reopened session"); up.LeaseSet.Published != ls.Published {
		t.Fatalf("forwarded published %d, want %d", up.LeaseSet.Published, ls.Published)
	}
}

// TestReopenStopsWithSession: a reopen that keeps failing stops when the
// imh session is destroyed, and when the backend closes: its goroutine
// ends, and no attempt starts after the stop, however late.
//
// The stop comes while one attempt is held under way by the upstream, so
// the number of attempts at the stop is known exactly; the test then waits
// for every reopen goroutine to have returned (after which nothing can
// reopen) instead of watching for a while, and wants no attempt beyond the
// held one.
func TestReopenStopsWithSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(be *Backend, c *routerproto.Client, sid uint16) error
	}{
		{"session destroyed", func(_ *Backend, c *routerproto.Client, sid uint16) error { return c.DestroySession(sid) }},
		{"backend closed", func(be *Backend, _ *routerproto.Client, _ uint16) error { return be.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, upstream := startFake(t)
			be, addr := serveReopen(t, upstream, time.Millisecond)
			bal := newBalancer(t)
			c := dialBalancer(t, addr)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			sid, err := c.CreateSession(ctx, managedConfig(t, bal, "1"))
			if err != nil {
				t.Fatal(err)
			}
			conn := recv(t, f.conns, "upstream session")
			f.mu.Lock()
			f.refuse = 1 << 30
			f.mu.Unlock()
			conn.Close()
			refused := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.refused }
			eventually.True(t, 5*time.Second, "refused reopens", func() bool { return refused() >= 2 })

			// Hold the next attempt: from then on the reopen sits in it.
			held := make(chan struct{})
			f.mu.Lock()
			f.hold = held
			f.mu.Unlock()
			recv(t, held, "a reopen attempt held under way")
			atStop := refused()

			stopped := make(chan error, 1)
			go func() { stopped <- tc.stop(be, c, sid) }()
			if err := recv(t, stopped, "the stop to return"); err != nil {
				t.Fatal(err)
			}
			ended := make(chan struct{})
			go func() { be.wg.Wait(); close(ended) }()
			recv(t, ended, "every reopen goroutine to return after the stop")
			// Nothing of the backend can reopen any more: the count is final.
			if n := refused(); n != atStop {
				t.Fatalf("%d reopen attempts started after the stop", n-atStop)
			}
			if got := f.sessionsCreated(); got != 1 {
				t.Fatalf("%d upstream sessions created, want 1", got)
			}
		})
	}
}

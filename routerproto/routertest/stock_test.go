package routertest

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/routerproto"
)

func dial(t *testing.T, addr string) *routerproto.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := routerproto.DefaultClientConfig()
	cfg.Version = "0.9.61"
	c, err := routerproto.Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func session(t *testing.T, c *routerproto.Client) (*i2p.PrivateKeys, uint16) {
	t.Helper()
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := routerproto.SignSessionConfig(keys, i2p.Mapping{"i2cp.leaseSetEncType": "4"}, uint64(c.RouterNow().UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	sid, err := c.CreateSession(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	return keys, sid
}

func next[T routerproto.Message](t *testing.T, c *routerproto.Client) T {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed: %v", c.Err())
			}
			if m, ok := e.Message.(T); ok {
				return m
			}
		case <-timeout:
			var zero T
			t.Fatalf("no %T", zero)
		}
	}
}

func answer(t *testing.T, c *routerproto.Client, keys *i2p.PrivateKeys, sid uint16, req *routerproto.RequestVariableLeaseSet, published uint32) *i2p.LeaseSet2 {
	t.Helper()
	lk, _ := i2p.NewLeaseSetKey(rand.Reader)
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
	return ls
}

func TestStockSessionLifecycle(t *testing.T) {
	s := NewStock(t, StockConfig{Leases: 3})
	c := dial(t, s.Addr)
	if c.Extended() || c.RouterVersion() != "0.9.61" {
		t.Fatalf("ext=%v version=%q (want the echo)", c.Extended(), c.RouterVersion())
	}
	if _, err := c.GetFastTier(context.Background(), 0); !errors.Is(err, routerproto.ErrNotSupported) {
		t.Fatal(err)
	}
	keys, sid := session(t, c)
	req := next[*routerproto.RequestVariableLeaseSet](t, c)
	if req.SessionID != sid || len(req.Leases) != 3 {
		t.Fatalf("request %+v", req)
	}
	now := uint32(time.Now().Unix())
	answer(t, c, keys, sid, req, now)
	eventually.True(t, 5*time.Second, "stored leaseset", func() bool { return len(s.LeaseSets(keys.Destination().Hash())) == 1 })

	if err := s.RotateTunnels(keys.Destination().Hash()); err != nil {
		t.Fatal(err)
	}
	req2 := next[*routerproto.RequestVariableLeaseSet](t, c)
	if req2.Leases[0].TunnelID == req.Leases[0].TunnelID {
		t.Fatal("rotation kept the tunnel")
	}
	answer(t, c, keys, sid, req2, now+1)
	eventually.True(t, 5*time.Second, "second leaseset", func() bool { return len(s.LeaseSets(keys.Destination().Hash())) == 2 })

	if err := s.Deliver(keys.Destination().Hash(), 5, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if p := next[*routerproto.MessagePayload](t, c); string(p.Payload) != "hello" || p.MessageID != 5 {
		t.Fatalf("payload %+v", p)
	}
	if err := c.SendMessage(&routerproto.SendMessage{SessionID: sid, Destination: keys.Destination(), Payload: []byte("x"), Nonce: 9}); err != nil {
		t.Fatal(err)
	}
	if st := next[*routerproto.MessageStatus](t, c); st.Status != routerproto.MsgAccepted || st.Nonce != 9 {
		t.Fatalf("status %+v", st)
	}
	if st := next[*routerproto.MessageStatus](t, c); st.Status != routerproto.MsgGuaranteedSuccess {
		t.Fatalf("status %+v", st)
	}
	if len(s.Sent()) != 1 {
		t.Fatal("send not recorded")
	}
	if err := c.DestroySession(sid); err != nil {
		t.Fatal(err)
	}
	if st := next[*routerproto.SessionStatus](t, c); st.Status != routerproto.SessionDestroyed {
		t.Fatalf("status %+v", st)
	}
	<-c.Done()
	eventually.True(t, 5*time.Second, "no sessions", func() bool { return s.Sessions() == 0 })
}

// TestStockStopsUnansweredSession: no LeaseSet (or a bad one) before the
// deadline, and the session and connection end, as with i2pd.
func TestStockStopsUnansweredSession(t *testing.T) {
	s := NewStock(t, StockConfig{LeaseDeadline: 200 * time.Millisecond})
	c := dial(t, s.Addr)
	keys, sid := session(t, c)
	req := next[*routerproto.RequestVariableLeaseSet](t, c)
	answer(t, c, keys, sid, req, uint32(time.Now().Add(-time.Hour).Unix())) // too old: dropped
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session not stopped")
	}
	if st := s.Stopped(); len(st) != 1 || st[0] != keys.Destination().Hash() {
		t.Fatalf("stopped %v", st)
	}
	if len(s.LeaseSets(keys.Destination().Hash())) != 0 {
		t.Fatal("stale leaseset stored")
	}
}

func TestStockOneDestinationPerConnection(t *testing.T) {
	s := NewStock(t, StockConfig{})
	c := dial(t, s.Addr)
	session(t, c)
	keys, _ := i2p.NewPrivateKeys(rand.Reader)
	sc, _ := routerproto.SignSessionConfig(keys, nil, uint64(time.Now().UnixMilli()))
	_, err := c.CreateSession(context.Background(), sc)
	var se *routerproto.SessionStatusError
	if !errors.As(err, &se) || se.Status != routerproto.SessionRefused {
		t.Fatalf("second session: %v", err)
	}
}

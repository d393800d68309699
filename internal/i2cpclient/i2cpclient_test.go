package i2cpclient

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
	"github.com/imh-project/imh/routerproto/routertest"
)

func dialStock(t *testing.T, addr string) *routerproto.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := routerproto.DefaultClientConfig()
	cfg.Extensions = false
	c, err := routerproto.Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestLeaseAnswerer: against a stock router, a transient session's lease
// request is answered with a LeaseSet2 the router accepts, and the session
// is kept; a router that stops the session before the answer arrives makes
// the wait fail.
func TestLeaseAnswerer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     routertest.StockConfig
		wantErr bool
	}{
		{"kept", routertest.StockConfig{Leases: 3}, false},
		{"stopped before the answer", routertest.StockConfig{LeaseDeadline: time.Nanosecond}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := routertest.NewStock(t, tc.cfg)
			c := dialStock(t, s.Addr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			la, err := OpenTransient(ctx, c, TransientOptions("imh-test"))
			if err != nil {
				t.Fatal(err)
			}
			err = la.WaitLeaseRequest(ctx)
			if err == nil {
				keepCtx, cancelKeep := context.WithTimeout(ctx, 300*time.Millisecond)
				err = la.Keep(keepCtx)
				cancelKeep()
			}
			if tc.wantErr {
				if err == nil {
					t.Fatal("session kept although the router stopped it")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := la.Leases()
			lss := s.LeaseSets(la.Keys().Destination().Hash())
			if len(got) != 3 || len(lss) != 1 || len(lss[0].Leases) != 3 || lss[0].Leases[0] != got[0] {
				t.Fatalf("answered %v, router stored %d leasesets", got, len(lss))
			}
			if len(lss[0].Keys) != 1 || lss[0].Keys[0].Type != i2p.EncX25519 {
				t.Fatalf("keys %+v", lss[0].Keys)
			}
			if err := c.DestroySession(la.SessionID()); err != nil {
				t.Fatal(err)
			}
			la.WaitDestroyed(ctx)
		})
	}
}

// TestAnswerRejects: requests that cannot make a valid LeaseSet are errors,
// and published times never go backwards.
func TestAnswerRejects(t *testing.T) {
	s := routertest.NewStock(t, routertest.StockConfig{LeaseDelay: time.Hour})
	c := dialStock(t, s.Addr)
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	la, err := NewLeaseAnswerer(c, keys, 1)
	if err != nil {
		t.Fatal(err)
	}
	future := uint64(time.Now().Add(10 * time.Minute).UnixMilli())
	for _, tc := range []struct {
		name   string
		leases []i2p.Lease
		want   string
	}{
		{"no leases", nil, "without leases"},
		{"expired", []i2p.Lease{{TunnelID: 1, EndMs: 1000}}, "already expired"},
		{"valid", []i2p.Lease{{TunnelID: 2, EndMs: future}}, ""},
		{"valid again", []i2p.Lease{{TunnelID: 3, EndMs: future}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := la.lastPublished
			err := la.Answer(&routerproto.RequestVariableLeaseSet{SessionID: 1, Leases: tc.leases})
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if la.lastPublished <= before {
				t.Errorf("published %d after %d", la.lastPublished, before)
			}
			if got := la.Leases(); len(got) != 1 || got[0].TunnelID != tc.leases[0].TunnelID {
				t.Errorf("leases %v", got)
			}
		})
	}
}

// TestLookup: a destination the router knows is found; one it does not is
// asked for again until the context ends.
func TestLookup(t *testing.T) {
	e := routertest.NewEcho(t, routertest.EchoConfig{})
	other, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    i2p.Hash
		want string
	}{
		{"known", e.Target.Destination().Hash(), ""},
		{"unknown", other.Destination().Hash(), "not found (no LeaseSet)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialStock(t, e.Addr)
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			la, err := OpenTransient(ctx, c, TransientOptions("imh-test"))
			if err != nil {
				t.Fatal(err)
			}
			d, err := Lookup(ctx, c, la.SessionID(), tc.h)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil || d.Hash() != tc.h {
				t.Fatalf("found %v, %v", d, err)
			}
		})
	}
}

func TestTransientOptions(t *testing.T) {
	o := TransientOptions("imh-x")
	for k, want := range map[string]string{
		"inbound.nickname": "imh-x", "outbound.nickname": "imh-x",
		"outbound.length": "0", "inbound.length": "1", "i2cp.leaseSetType": "3", "i2cp.leaseSetEncType": "4",
	} {
		if o[k] != want {
			t.Errorf("%s = %q, want %q", k, o[k], want)
		}
	}
}

// TestKeepSession: the probe's session, against a stock router that keeps
// it and one that stops it before the LeaseSet arrives.
func TestKeepSession(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     routertest.StockConfig
		wantErr bool
	}{
		{"kept", routertest.StockConfig{Leases: 2}, false},
		{"stopped before the answer", routertest.StockConfig{LeaseDeadline: time.Nanosecond}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := routertest.NewStock(t, tc.cfg)
			c := dialStock(t, s.Addr)
			keys, err := i2p.NewPrivateKeys(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rep, err := KeepSession(ctx, c, keys, ProbeOptions(), 10*time.Second, 300*time.Millisecond)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("session kept although the router stopped it: %+v", rep)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lss := s.LeaseSets(keys.Destination().Hash())
			if len(rep.Leases) != 2 || rep.LeaseAfter <= 0 || len(lss) != 1 || lss[0].Leases[1] != rep.Leases[1] {
				t.Fatalf("report %+v, router stored %d leasesets", rep, len(lss))
			}
			if n := s.Sessions(); n != 0 {
				t.Errorf("%d sessions left on the router, want the probe's destroyed", n)
			}
		})
	}
}

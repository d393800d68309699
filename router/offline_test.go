package router

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"maps"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// frontend holds what a multi-client frontend holds for d: a transient
// Ed25519 key and d's offline signature for it, not d's keys.
type frontend struct {
	d    *dest
	priv ed25519.PrivateKey
	off  *i2p.OfflineSignature
}

func newFrontend(t *testing.T, d *dest, expires time.Time) *frontend {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	off, err := d.keys.SignOffline(uint32(expires.Unix()), i2p.SigEd25519, pub)
	if err != nil {
		t.Fatal(err)
	}
	return &frontend{d: d, priv: priv, off: off}
}

// grant is the attach grant for f's transient key to router, signed by
// keys (the Destination's, unless a test says otherwise), as options.
func (f *frontend) grant(t *testing.T, keys *i2p.PrivateKeys, router string) i2p.Mapping {
	t.Helper()
	sig, err := routerproto.SignAttachGrant(keys, router, f.off)
	if err != nil {
		t.Fatal(err)
	}
	return i2p.Mapping{routerproto.OptGrantRouter: router, routerproto.OptGrant: i2p.Base64.EncodeToString(sig)}
}

// config is a SessionConfig of f's Destination with opts and grant, dated
// now and signed by the transient key.
func (f *frontend) config(t *testing.T, opts, grant i2p.Mapping) *routerproto.SessionConfig {
	t.Helper()
	o := maps.Clone(opts)
	maps.Copy(o, grant)
	sc := &routerproto.SessionConfig{Destination: f.d.keys.Destination(), Options: o, Date: uint64(time.Now().UnixMilli())}
	if err := sc.SignTransient(f.priv, f.off); err != nil {
		t.Fatal(err)
	}
	return sc
}

var dataAttach = i2p.Mapping{routerproto.OptAttach: "data"}

// TestOfflineSignedAttach: a config signed by a transient key makes a data
// attachment only with a valid grant, for this router, of that transient
// key, before it expires; it opens no other session.
func TestOfflineSignedAttach(t *testing.T) {
	tr := startRouter(t, time.Minute, nil) // named r-test
	d := newDest(t)
	ctrl := dial(t, tr.addr, true)
	id := ctrl.openManaged(d, 1)

	hour := time.Now().Add(time.Hour)
	f := newFrontend(t, d, hour)
	other := newFrontend(t, d, hour) // another transient key of d
	expired := newFrontend(t, d, time.Now().Add(-2*time.Second))
	loner := newFrontend(t, newDest(t), hour) // a Destination with no session here
	wrongSig := f.grant(t, d.keys, "r-other")
	wrongSig[routerproto.OptGrantRouter] = "r-test"

	for _, tt := range []struct {
		name string
		sc   *routerproto.SessionConfig
		ok   bool
	}{
		{"grant for another router", f.config(t, dataAttach, f.grant(t, d.keys, "r-other")), false},
		{"grant naming this router, signed for another", f.config(t, dataAttach, wrongSig), false},
		{"expired offline signature", expired.config(t, dataAttach, expired.grant(t, d.keys, "r-test")), false},
		{"managed session (takeover)", f.config(t, managed(2), f.grant(t, d.keys, "r-test")), false},
		{"unmanaged session", loner.config(t, i2p.Mapping{}, loner.grant(t, loner.d.keys, "r-test")), false},
		{"no grant", f.config(t, dataAttach, nil), false},
		{"grant for another transient key", f.config(t, dataAttach, other.grant(t, d.keys, "r-test")), false},
		{"grant by another destination", f.config(t, dataAttach, f.grant(t, newDest(t).keys, "r-test")), false},
		{"grant for this router", f.config(t, dataAttach, f.grant(t, d.keys, "r-test")), true},
	} {
		c := dial(t, tr.addr, true)
		c.send(&routerproto.CreateSession{Config: tt.sc})
		st := expect[*routerproto.SessionStatus](c, wait)
		switch {
		case tt.ok && (st.Status != routerproto.SessionCreated || st.SessionID != id):
			t.Errorf("%s: answered %s for session %d, want created %d", tt.name, st.Status, st.SessionID, id)
		case !tt.ok && st.Status != routerproto.SessionRefused:
			t.Errorf("%s: answered %s, want refused", tt.name, st.Status)
		}
	}
	ctrl.expectNone(20 * time.Millisecond) // not superseded by the offline-signed managed config
	if s, _ := tr.sessionOf(id); s.DataAttached != 1 || s.Term != 1 || !s.ControlAttached {
		t.Fatalf("status %+v, want one data attachment and the controller at term 1", s)
	}
	if n := len(tr.r.Status(context.Background()).Sessions); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
}

// TestOfflineSignedAttachExpires: at the offline signature's expiry the
// router ends the attachment (SessionDestroyed, connection kept), and the
// session's payloads go back to the controller.
func TestOfflineSignedAttachExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Name = "r-test"
		be := newFakeBackend(time.Hour)
		r, err := New(cfg, be)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx := context.Background()
		d := newDest(t)
		ctrlW, dataW := &recConn{}, &recConn{}
		ctrl, dc := r.attach(ctrlW, true), r.attach(dataW, true)
		sc, err := routerproto.SignSessionConfig(d.keys, managed(1), uint64(time.Now().UnixMilli()))
		if err != nil {
			t.Fatal(err)
		}
		r.createSession(ctx, ctrl, sc, peerConn{})
		synctest.Wait()
		id := statusOf(t, ctrlW).SessionID
		r.createTunnel(ctrl, &routerproto.CreateTunnel{RequestID: 2, SessionID: id, Direction: routerproto.Inbound, HopCount: 1})
		synctest.Wait()
		tun := lastOf[*routerproto.TunnelStatus](t, ctrlW).Tunnel

		f := newFrontend(t, d, time.Now().Add(time.Minute))
		r.createSession(ctx, dc, f.config(t, dataAttach, f.grant(t, d.keys, "r-test")), peerConn{})
		synctest.Wait()
		if st := statusOf(t, dataW); st.Status != routerproto.SessionCreated || st.SessionID != id {
			t.Fatalf("attach answered %+v", st)
		}

		time.Sleep(59 * time.Second)
		be.deliver(d.hash(), tun.TunnelID, []byte("before"))
		synctest.Wait()
		if p := lastOf[*routerproto.MessagePayload](t, dataW); string(p.Payload) != "before" {
			t.Fatalf("attachment got %q before the expiry", p.Payload)
		}

		time.Sleep(2 * time.Second)
		synctest.Wait()
		if st := statusOf(t, dataW); st.Status != routerproto.SessionDestroyed || st.SessionID != id {
			t.Fatalf("at the expiry the attachment got %+v, want destroyed %d", st, id)
		}
		if s, _ := sessionStatus(r, id); s.DataAttached != 0 || !s.ControlAttached {
			t.Fatalf("status after the expiry %+v", s)
		}
		be.deliver(d.hash(), tun.TunnelID, []byte("after"))
		synctest.Wait()
		if p := lastOf[*routerproto.MessagePayload](t, ctrlW); string(p.Payload) != "after" {
			t.Fatalf("controller got %q after the expiry", p.Payload)
		}
		if p := lastOf[*routerproto.MessagePayload](t, dataW); string(p.Payload) != "before" {
			t.Fatalf("expired attachment still got %q", p.Payload)
		}
		dataW.mu.Lock()
		closed := dataW.closed
		dataW.mu.Unlock()
		if closed {
			t.Fatal("the expired attachment's connection was closed")
		}
	})
}

// lastOf returns the last T c received, failing if none.
func lastOf[T routerproto.Message](t *testing.T, c *recConn) T {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if m, ok := c.msgs[i].(T); ok {
			return m
		}
	}
	var zero T
	t.Fatalf("no %T received", zero)
	return zero
}

func statusOf(t *testing.T, c *recConn) *routerproto.SessionStatus {
	t.Helper()
	return lastOf[*routerproto.SessionStatus](t, c)
}

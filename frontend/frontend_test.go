package frontend

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/imh-project/imh/frontendproto"
	"github.com/imh-project/imh/i2p"
)

// fakeLeader is the leader's end of one frontendproto link.
type fakeLeader struct {
	c    *frontendproto.Conn
	msgs chan frontendproto.Message
}

// connectLeader opens a link to f over a pipe, as a leader would.
func connectLeader(t *testing.T, f *Frontend) *fakeLeader {
	t.Helper()
	a, b := net.Pipe()
	go f.ServeLeader(t.Context(), b)
	l := &fakeLeader{c: frontendproto.NewConn(a), msgs: make(chan frontendproto.Message, 64)}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := l.c.Handshake(ctx); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			m, err := l.c.Recv()
			if err != nil {
				close(l.msgs)
				return
			}
			l.msgs <- m
		}
	}()
	t.Cleanup(func() { l.c.Close() })
	return l
}

// next returns the next message of type T within d, skipping others.
func next[T frontendproto.Message](t *testing.T, l *fakeLeader, d time.Duration) (T, bool) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m, ok := <-l.msgs:
			if !ok {
				var zero T
				return zero, false
			}
			if v, ok := m.(T); ok {
				return v, true
			}
		case <-timeout:
			var zero T
			return zero, false
		}
	}
}

func testDest(t *testing.T) *i2p.Destination {
	t.Helper()
	keys, err := i2p.NewEd25519PrivateKeys(bytes.Repeat([]byte{7}, 32), [32]byte{7}, bytes.Repeat([]byte{7}, 256))
	if err != nil {
		t.Fatal(err)
	}
	return keys.Destination()
}

func assign(term uint64, frontend string, d *i2p.Destination) *frontendproto.Assign {
	return &frontendproto.Assign{Term: term, Leader: "n1", Frontend: frontend, Assignments: []frontendproto.Assignment{
		{Name: "web", Destination: d, Router: "r1", Service: "127.0.0.1:1", Policy: frontendproto.PolicyFailover, Active: true},
	}}
}

// A key request lost with its leader is made again at once to the next
// one; an assignment from an older term or for another frontend name
// changes nothing; a grant for a key the frontend did not ask for is
// refused.
func TestFrontendLeaderChanges(t *testing.T) {
	f, err := New(Config{Name: "f1", Router: "127.0.0.1:1", ReportInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	d := testDest(t)

	first := connectLeader(t, f)
	if err := first.c.Send(assign(5, "f1", d)); err != nil {
		t.Fatal(err)
	}
	req, ok := next[*frontendproto.KeyRequest](t, first, 5*time.Second)
	if !ok || req.Name != "web" || req.TransientType != i2p.SigEd25519 || len(req.TransientKey) != 32 {
		t.Fatalf("first key request: %+v, %v", req, ok)
	}
	first.c.Close() // the leader dies with the request unanswered

	second := connectLeader(t, f)
	if err := second.c.Send(assign(6, "f1", d)); err != nil {
		t.Fatal(err)
	}
	again, ok := next[*frontendproto.KeyRequest](t, second, 3*time.Second)
	if !ok {
		t.Fatal("no key request to the new leader within 3 s (the lost one waits for askAgain)")
	}
	if bytes.Equal(again.TransientKey, req.TransientKey) {
		t.Error("the new request reuses the key sent to the dead leader")
	}

	// A grant for a key never asked for is refused (not installed).
	if err := second.c.Send(&frontendproto.KeyGrant{Name: "web", Router: "r1", Grant: []byte{1},
		Offline: &i2p.OfflineSignature{Expires: uint32(time.Now().Add(time.Hour).Unix()), TransientType: i2p.SigEd25519, TransientKey: bytes.Repeat([]byte{1}, 32), Signature: bytes.Repeat([]byte{2}, 64)}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if st := f.Status(); len(st.Dests) != 1 || !st.Dests[0].KeyExpires.IsZero() || st.Dests[0].Errors == 0 {
		t.Fatalf("a forged grant was installed or not counted: %+v", st)
	}

	// An older term, or another frontend's assignment, changes nothing.
	stale := connectLeader(t, f)
	if err := stale.c.Send(&frontendproto.Assign{Term: 5, Leader: "old", Frontend: "f1"}); err != nil {
		t.Fatal(err)
	}
	if err := second.c.Send(&frontendproto.Assign{Term: 6, Leader: "n1", Frontend: "f2"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if st := f.Status(); len(st.Dests) != 1 || st.Term != 6 {
		t.Fatalf("a stale or misaddressed assignment was taken: %+v", st)
	}
	// The current leader empties the set: the destination goes.
	if err := second.c.Send(&frontendproto.Assign{Term: 6, Leader: "n1", Frontend: "f1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.Status().Dests) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("destination still served: %+v", f.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := next[*frontendproto.Report](t, second, 2*time.Second); !ok {
		t.Fatal("no report to the leader")
	}
}

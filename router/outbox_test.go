package router

import (
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/routerproto"
)

// recordConn is a wireConn that records what the writer did.
type recordConn struct {
	mu     sync.Mutex
	sent   int
	reason chan string
}

func (r *recordConn) Send(routerproto.Message) error {
	r.mu.Lock()
	r.sent++
	r.mu.Unlock()
	return nil
}

func (r *recordConn) Disconnect(reason string) error { r.reason <- reason; return nil }
func (r *recordConn) Close() error                   { return nil }

// TestOutboxBoundedByBytes: a client whose outbox holds more bytes than its
// bound is disconnected, though far fewer messages than the count bound
// wait.
func TestOutboxBoundedByBytes(t *testing.T) {
	conn := &recordConn{reason: make(chan string, 1)}
	c := newClient(conn, true)
	c.maxBytes = 100_000
	for i := range 20 { // 200 kB, 20 messages
		c.send(&routerproto.MessagePayload{SessionID: 1, MessageID: uint32(i), Payload: make([]byte, 10_000)})
	}
	go c.run()
	defer func() {
		c.markClosed()
		<-c.done
	}()
	select {
	case reason := <-conn.reason:
		if reason != "imh: client too slow, outbox full" {
			t.Fatalf("disconnect reason %q", reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a client 200 kB behind was not disconnected (bound 100 kB)")
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.sent != 0 {
		t.Fatalf("%d messages written after the outbox overflowed, want 0", conn.sent)
	}
}

package routerproto

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestEventQueueBoundedByBytes: a consumer that stops reading Events while
// the router sends large payloads ends the client with ErrEventOverflow once
// the queue holds MaxQueuedBytes, long before MaxQueuedEvents.
func TestEventQueueBoundedByBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const sent = 200 // × 10 kB: 2 MB, 200 events
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		conn := NewConn(nc, 5*time.Second)
		if conn.ReadProtocolByte() != nil {
			return
		}
		if m, err := conn.ReadMessage(); err != nil || m.Type() != TypeGetDate {
			return
		}
		if conn.WriteMessage(&SetDate{Date: uint64(time.Now().UnixMilli()), Version: "0.9.58"}) != nil {
			return
		}
		for i := range sent {
			if conn.WriteMessage(&MessagePayload{SessionID: 1, MessageID: uint32(i), Payload: make([]byte, 10_000)}) != nil {
				return
			}
		}
		_, _ = conn.ReadMessage() // until the client cuts the connection
	}()
	c := dialTest(t, ln.Addr().String(), func(cfg *ClientConfig) {
		cfg.Extensions = false
		cfg.MaxQueuedEvents = 10_000
		cfg.MaxQueuedBytes = 256 << 10
	})
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the client kept queueing past MaxQueuedBytes")
	}
	if err := c.Err(); !errors.Is(err, ErrEventOverflow) {
		t.Fatalf("client ended with %v, want ErrEventOverflow", err)
	}
}

package routerproto

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
)

// TestConcurrentRequests: many goroutines share one client; each answer
// reaches the call with its request id even though the router answers
// from other goroutines in any order.
func TestConcurrentRequests(t *testing.T) {
	h := newTestHandler(t)
	_, addr := startServer(t, h, nil)
	c := dialTest(t, addr, nil)
	// Drain unsolicited expiries.
	go func() {
		for range c.Events() {
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hop := i2p.Hash{byte(i)}
			ts, err := c.CreateTunnel(context.Background(), &CreateTunnel{SessionID: 1, Direction: Outbound, HopCount: 1, Hops: []i2p.Hash{hop}})
			if err != nil {
				errs <- err
				return
			}
			if len(ts.Tunnel.Hops) != 1 || ts.Tunnel.Hops[0] != hop {
				errs <- fmt.Errorf("call %d got the answer for hops %v", i, ts.Tunnel.Hops)
			}
			if _, err := c.GetFastTier(context.Background(), 1); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPayloadFromStaysWithItsPayload: the router pushes payloads from many
// goroutines; every MessagePayload event carries the PayloadFrom written
// with it, never another one's.
func TestPayloadFromStaysWithItsPayload(t *testing.T) {
	h := newTestHandler(t)
	srv, addr := startServer(t, h, nil)
	c := dialTest(t, addr, nil)
	sc := onlyConn(t, srv)
	const senders, each = 8, 50
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := uint32(g*each + i + 1)
				if err := sc.SendPayload(&MessagePayload{SessionID: 1, MessageID: id, Payload: []byte{byte(g)}}, &PayloadFrom{TunnelID: id * 10}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for n := 0; n < senders*each; n++ {
		e := nextEvent(t, c, TypeMessagePayload)
		mp := e.Message.(*MessagePayload)
		if e.From == nil || e.From.TunnelID != mp.MessageID*10 {
			t.Fatalf("payload %d came with %+v", mp.MessageID, e.From)
		}
	}
	wg.Wait()
}

// TestCloseWithUnreadEvents: Close returns even when nobody reads Events.
func TestCloseWithUnreadEvents(t *testing.T) {
	h := newTestHandler(t)
	srv, addr := startServer(t, h, nil)
	c := dialTest(t, addr, nil)
	sc := onlyConn(t, srv)
	for i := range 500 {
		if err := sc.Send(&MessageStatus{SessionID: 1, MessageID: uint32(i)}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked")
	}
	if _, ok := <-c.Events(); ok {
		// Events may still hold buffered events; it must be closed after them.
		for range c.Events() {
		}
	}
}

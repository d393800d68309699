package netlimit

import (
	"net"
	"testing"
	"time"
)

func TestCapsTotalAndPerSourceAndReleases(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := New(raw, 3, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Everything comes from 127.0.0.1: the per-source cap (2) binds first.
	c1, c2, c3 := dial(), dial(), dial()
	defer c1.Close()
	defer c2.Close()
	defer c3.Close()
	got := []net.Conn{<-accepted, <-accepted}
	waitRefused(t, ln, 1)
	select {
	case <-accepted:
		t.Fatal("a third connection from one source was accepted")
	default:
	}
	got[0].Close() // frees a slot
	c4 := dial()
	defer c4.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("slot not released on Close")
	}
	got[1].Close()
}

func waitRefused(t *testing.T, ln *Listener, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ln.Refused() < n {
		if time.Now().After(deadline) {
			t.Fatalf("refused %d, want %d", ln.Refused(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package servetest

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
)

// echoOnce accepts connections and writes "ok" to each until ctx ends.
type echoOnce struct{ served atomic.Int32 }

func (e *echoOnce) Serve(ctx context.Context, ln net.Listener) error {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		e.served.Add(1)
		c.Write([]byte("ok"))
		c.Close()
	}
}

func TestLoopbackServesAndStops(t *testing.T) {
	e := &echoOnce{}
	addr, stop := Loopback(t, e)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read %q, %v", buf, err)
	}
	c.Close()
	stop()
	stop() // idempotent
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("still accepting after stop")
	}
	if e.served.Load() != 1 {
		t.Fatalf("served %d", e.served.Load())
	}
}

// failing returns an error of its own once ctx ends.
type failing struct{}

func (failing) Serve(ctx context.Context, ln net.Listener) error {
	<-ctx.Done()
	ln.Close()
	return errors.New("boom")
}

// recorder is a testing.TB that records Errorf.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) { r.errs = append(r.errs, format) }

func TestLoopbackReportsServeError(t *testing.T) {
	r := &recorder{TB: t}
	_, stop := Loopback(r, failing{})
	stop()
	if len(r.errs) != 1 {
		t.Fatalf("errors reported: %v, want one", r.errs)
	}
}

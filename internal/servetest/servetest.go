// Package servetest runs a server on a loopback port for the length of a
// test: the one helper behind every test that needs a routerproto server,
// a router or anything else that serves a listener until its context ends.
//
// It owns the part that is easy to get subtly wrong when copied: the
// server is stopped and waited for before the test's other cleanups run
// (so no goroutine outlives the test and trips the race detector or a
// goroutine-leak check), and an error from Serve fails the test instead of
// vanishing.
package servetest

import (
	"context"
	"net"
	"sync"
	"testing"
)

// Server serves connections from ln until ctx ends and then returns nil
// (routerproto.Server and router.Router do); any other return is an error.
type Server interface {
	Serve(ctx context.Context, ln net.Listener) error
}

// Loopback starts s on a free 127.0.0.1 port and returns its address and a
// stop function that ends Serve and waits for it. stop may be called more
// than once, and runs at the end of the test if the test did not call it;
// a test that tears down more (a backend, a network) calls stop first from
// its own t.Cleanup, registered after Loopback.
func Loopback(t testing.TB, s Server) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servetest: listen on loopback: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("servetest: serve %s: %v", ln.Addr(), err)
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

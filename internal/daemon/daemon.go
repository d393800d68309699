// Package daemon runs the parts of a long-running imh process as one: the
// router's, the frontend's and the simulated network's serve loop, their
// HTTP status server, and watchers such as the router's on its network
// link.
//
// Each of those daemons used to start its parts, select on their ends and
// shut its HTTP server down by hand, and each copy got a different corner
// wrong (one ignored a status server that died, leaving the port silently
// closed while the process looked healthy). Run owns that dance once: the
// parts start together, the first to return (failed or not) or the end of
// the caller's context stops all the others, Run waits for every part, so
// no goroutine outlives it, and it returns the first error any part
// returned. HTTP turns an http.Server into a part whose failure is such an
// error, as docs/cli.md promises for `router serve --http`, and
// StatusHandler is the GET /status and GET /metrics mux such a server
// serves.
package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ErrStatusServer ends a daemon whose --http status server failed: an
// operator or supervisor relying on /status must learn it, not find the
// port silently dead.
var ErrStatusServer = errors.New("status server failed")

// Part is one piece of a daemon. It runs until ctx ends, then returns nil
// (or an error from stopping), or until it fails. A Part that returns
// before ctx ends stops the daemon: a serve loop that ends is the daemon
// ending.
type Part func(ctx context.Context) error

// Run runs parts until ctx ends or one of them returns, then cancels the
// context of the others and waits for all of them. It returns the first
// non-nil error in the order the parts returned; nil when every part
// returned nil.
func Run(ctx context.Context, parts ...Part) error {
	if len(parts) == 0 {
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(parts))
	for _, p := range parts {
		go func() { errc <- p(ctx) }()
	}
	var first error
	for range parts {
		err := <-errc
		cancel() // the first part to return ends the daemon
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// ShutdownTimeout bounds how long an HTTP part waits, once its context
// ends, for the requests in flight before it closes their connections.
const ShutdownTimeout = 5 * time.Second

// HTTP returns a Part that serves srv on ln until ctx ends and then shuts
// srv down gracefully (for up to ShutdownTimeout). If Serve returns before
// that (the listener died, say), the Part returns Serve's error, which
// ends the daemon rather than leave it running without its HTTP server.
func HTTP(srv *http.Server, ln net.Listener) Part {
	return func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			if errors.Is(err, http.ErrServerClosed) {
				return nil // closed by someone else: not a failure of the server
			}
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close() // past the timeout the connections left are dropped
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

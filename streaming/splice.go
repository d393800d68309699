package streaming

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// halfCloser is a connection whose write side can end on its own (TCP and
// streaming connections both are): a splice passes an EOF on as a
// half-close instead of tearing the whole connection down.
type halfCloser interface {
	CloseWrite() error
}

// Counter counts bytes as they pass; nil counts nothing. It is read while a
// splice runs (live status), hence atomic.
type Counter = atomic.Uint64

// Splice copies a to b and b to a until both directions end, then closes
// both. An EOF in one direction half-closes the other side's write half, so
// a request/response protocol that relies on half-close (an HTTP/1.0
// client, nc) works; an error in either direction closes both at once
// (back-pressure holds throughout: a slow reader stalls its writer, nothing
// is buffered beyond io.Copy's buffer). It returns the bytes copied each way
// and the first error that was not an EOF or a close caused by the other
// direction.
func Splice(a, b net.Conn, aToB, bToA *Counter) (int64, int64, error) {
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		n        [2]int64
	)
	abort := func(err error) {
		once.Do(func() {
			firstErr = err
			a.Close()
			b.Close()
		})
	}
	pump := func(i int, dst, src net.Conn, c *Counter) {
		defer wg.Done()
		w := io.Writer(dst)
		if c != nil {
			w = countingWriter{w: dst, c: c}
		}
		var err error
		n[i], err = io.Copy(w, src)
		if err != nil {
			abort(err)
			return
		}
		if hc, ok := dst.(halfCloser); ok {
			if err := hc.CloseWrite(); err != nil {
				abort(err)
			}
			return
		}
		abort(nil)
	}
	wg.Add(2)
	go pump(0, b, a, aToB)
	go pump(1, a, b, bToA)
	wg.Wait()
	abort(nil)
	if errors.Is(firstErr, net.ErrClosed) {
		firstErr = nil
	}
	return n[0], n[1], firstErr
}

// countingWriter adds what it writes to a Counter.
type countingWriter struct {
	w io.Writer
	c *Counter
}

func (cw countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.c.Add(uint64(n))
	return n, err
}

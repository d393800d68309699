// Package netlimit caps the connections a listener holds open: in total
// and per source IP. Connections over a cap are closed as soon as they are
// accepted, before a byte is read, so a flood cannot exhaust the process's
// file descriptors or memory; connections already held are unaffected.
package netlimit

import (
	"net"
	"sync"
	"sync/atomic"
)

// Listener wraps a net.Listener with the caps. A zero cap means no cap.
type Listener struct {
	net.Listener
	max, perSource int

	mu      sync.Mutex
	total   int
	sources map[string]int
	refused atomic.Uint64
}

// New caps ln at max open connections in total and perSource per remote IP.
func New(ln net.Listener, max, perSource int) *Listener {
	return &Listener{Listener: ln, max: max, perSource: perSource, sources: map[string]int{}}
}

// Refused counts connections closed because a cap was reached.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Accept returns the next connection within the caps.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c.RemoteAddr())
		if !l.take(src) {
			l.refused.Add(1)
			_ = c.Close()
			continue
		}
		return &conn{Conn: c, release: func() { l.release(src) }}, nil
	}
}

func (l *Listener) take(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.max > 0 && l.total >= l.max) || (l.perSource > 0 && l.sources[src] >= l.perSource) {
		return false
	}
	l.total++
	l.sources[src]++
	return true
}

func (l *Listener) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.sources[src]--; l.sources[src] <= 0 {
		delete(l.sources, src)
	}
}

func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// conn releases its slot once, on the first Close.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

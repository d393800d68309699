package i2pdnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"time"
)

// nsIdentity is the (device, inode) pair that identifies a network
// namespace file.
type nsIdentity struct{ dev, ino uint64 }

func statNS(path string) (nsIdentity, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nsIdentity{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return nsIdentity{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// threadNSPath is the network namespace of the calling OS thread.
const threadNSPath = "/proc/thread-self/ns/net"

// setns moves the calling OS thread into the network namespace open as f.
func setns(f *os.File) error {
	_, _, errno := syscall.Syscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0)
	if errno != 0 {
		return fmt.Errorf("setns %s: %w", f.Name(), errno)
	}
	return nil
}

// DialContext connects to address (an IP literal of one of this network's
// routers, with a port) from inside the namespace: see the package doc. Any
// other address is refused with ErrOutsideNetwork, without a socket ever
// being created.
func (n *Net) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if err := n.checkTarget(network, address); err != nil {
		return nil, err
	}
	var c net.Conn
	err := n.inNamespace(func(inside func() error) error {
		d := net.Dialer{
			Timeout: dialTimeout,
			// Checked again when the socket exists, before connect.
			Control: func(string, string, syscall.RawConn) error { return inside() },
		}
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s in namespace %s: %w", address, n.ns, err)
	}
	return c, nil
}

// Listen opens a TCP listener inside the namespace, on the namespace's
// own loopback (127.0.0.1:port) or on a router's address: a server the
// test process runs for the processes inside (i2pd server tunnels, imh
// agents' service backends). Connections it accepts come from inside the
// namespace only; it works from any goroutine once made.
func (n *Net) Listen(network, address string) (net.Listener, error) {
	if err := n.checkListen(network, address); err != nil {
		return nil, err
	}
	var ln net.Listener
	err := n.inNamespace(func(inside func() error) error {
		lc := net.ListenConfig{Control: func(string, string, syscall.RawConn) error { return inside() }}
		var err error
		ln, err = lc.Listen(context.Background(), network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s in namespace %s: %w", address, n.ns, err)
	}
	return ln, nil
}

// inNamespace runs fn on a dedicated, locked OS thread that has entered the
// namespace; inside re-checks that the thread is still in it (fn calls it
// from socket Control hooks, before anything goes on the wire). The thread
// goes back to the scheduler only if it is back in its original namespace;
// otherwise it ends with its goroutine.
func (n *Net) inNamespace(fn func(inside func() error) error) error {
	if n.isClosed() {
		return ErrClosed
	}
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := runInNamespace(n.nsPath(), fn)
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}

// checkTarget accepts only tcp/tcp4 to "198.18.0.i:port" for one of this
// network's routers.
func (n *Net) checkTarget(network, address string) error {
	if network != "tcp" && network != "tcp4" {
		return fmt.Errorf("%w: network %q", ErrOutsideNetwork, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not ip:port: %w", ErrOutsideNetwork, address, err)
	}
	for _, r := range n.routers {
		if r.Addr == ap.Addr() {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is no router of namespace %s", ErrOutsideNetwork, ap.Addr(), n.ns)
}

// checkListen accepts tcp/tcp4 on 127.0.0.1 (the namespace's loopback) or
// on a router's address.
func (n *Net) checkListen(network, address string) error {
	if ap, err := netip.ParseAddrPort(address); err == nil && ap.Addr() == netip.AddrFrom4([4]byte{127, 0, 0, 1}) &&
		(network == "tcp" || network == "tcp4") {
		return nil
	}
	return n.checkTarget(network, address)
}

// runInNamespace must run on a locked OS thread. It switches the thread
// into the namespace at nsPath, verifies the switch, runs fn, and switches
// back; restored reports whether the thread is in its original namespace.
func runInNamespace(nsPath string, fn func(inside func() error) error) (restored bool, err error) {
	orig, err := os.Open(threadNSPath)
	if err != nil {
		return true, fmt.Errorf("open own namespace: %w", err)
	}
	defer orig.Close()
	origID, err := statNS(threadNSPath)
	if err != nil {
		return true, err
	}
	target, err := os.Open(nsPath)
	if err != nil {
		return true, fmt.Errorf("open namespace: %w", err)
	}
	defer target.Close()
	targetID, err := statNS(nsPath)
	if err != nil {
		return true, err
	}
	if err := setns(target); err != nil {
		return false, err // unknown state: the thread is discarded
	}
	defer func() {
		if setns(orig) != nil {
			return
		}
		id, serr := statNS(threadNSPath)
		restored = serr == nil && id == origID
	}()
	inside := func() error {
		id, err := statNS(threadNSPath)
		if err != nil {
			return err
		}
		if id != targetID {
			return errors.New("thread is not in the namespace after setns; refusing to use it")
		}
		return nil
	}
	if err := inside(); err != nil {
		return false, err
	}
	return false, fn(inside)
}

// HTTPClient returns a client whose connections are opened inside the
// namespace (DialContext) and that ignores proxy settings of the
// environment. Requests may only go to this network's routers.
func (n *Net) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: httpTimeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       n.DialContext,
			DisableKeepAlives: true,
		},
	}
}

// Timeouts for in-namespace connections; everything is on one lo.
const (
	dialTimeout = 5 * time.Second
	httpTimeout = 10 * time.Second
)

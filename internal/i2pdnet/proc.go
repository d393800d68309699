package i2pdnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is one i2pd process this package started.
type proc struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{} // closed once reaped
	waitErr error         // valid after done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// stop sends SIGTERM, waits grace, then SIGKILLs and waits for the reap.
func (p *proc) stop(grace time.Duration) error {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("%s (pid %d): no exit within %v of SIGTERM, killed", p.name, p.cmd.Process.Pid, grace)
	case <-time.After(killWait):
		return fmt.Errorf("%s (pid %d): still running after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// startAll starts every router's i2pd inside the namespace. The processes
// are in their own process group (a terminal's SIGINT makes i2pd wait for
// transit tunnels, minutes; the test tears down instead) and get SIGKILL if
// the test process dies without closing the network.
func (n *Net) startAll() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	n.procs = nil
	for _, r := range n.routers {
		p, err := n.startRouter(r)
		if err != nil {
			return err
		}
		n.procs = append(n.procs, p)
	}
	return nil
}

func (n *Net) startRouter(r Router) (*proc, error) {
	out, err := os.OpenFile(filepath.Join(r.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Name(), err)
	}
	cmd := exec.Command(n.ipBin, "netns", "exec", n.ns, n.i2pdBin,
		"--datadir="+r.Dir, "--conf="+filepath.Join(r.Dir, "i2pd.conf"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("%s: start i2pd: %w", r.Name(), err)
	}
	p := &proc{name: r.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	n.log.Debug("i2pd started", "router", r.Name(), "pid", cmd.Process.Pid)
	return p, nil
}

// stopAll stops the current processes (SIGTERM, SIGKILL after stopGrace).
func (n *Net) stopAll() error {
	n.mu.Lock()
	procs := n.procs
	n.mu.Unlock()
	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	var errs []error
	for _, p := range procs {
		if err := p.stop(stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// proc returns the current process of router i (1-based).
func (n *Net) proc(i int) *proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.procs[i-1]
}

// StopRouter stops router i's i2pd (SIGTERM, SIGKILL after 5 s), e.g. to
// test what happens when a router dies; Close does not mind.
func (n *Net) StopRouter(i int) error {
	_ = n.Router(i)
	return n.proc(i).stop(stopGrace)
}

// KillRouter SIGKILLs router i's i2pd and waits until it is gone.
func (n *Net) KillRouter(i int) error {
	_ = n.Router(i)
	p := n.proc(i)
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("%s (pid %d): still running after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// StartRouter starts router i's i2pd again after StopRouter or KillRouter
// (same data directory, keys and address). It fails if it is running.
func (n *Net) StartRouter(i int) error {
	r := n.Router(i)
	if !n.proc(i).exited() {
		return fmt.Errorf("%s: still running", r.Name())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	p, err := n.startRouter(r)
	if err != nil {
		return err
	}
	n.procs[i-1] = p
	return nil
}

// RouterRunning reports whether router i's i2pd is running.
func (n *Net) RouterRunning(i int) bool {
	_ = n.Router(i)
	return !n.proc(i).exited()
}

// AddTunnels writes conf (tunnels.conf sections) as tunnels.d/name.conf of
// router i and sends its i2pd SIGHUP, which makes it read its tunnel
// configuration again and start the new tunnels. Tunnels added once the
// network has settled publish their LeaseSets reliably; those in
// Options.Tunnels start with the router, and a LeaseSet published before
// the router has reached a floodfill is not published again for minutes.
func (n *Net) AddTunnels(i int, name, conf string) error {
	r := n.Router(i)
	dir := filepath.Join(r.Dir, "tunnels.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("i2pdnet: add tunnels to %s: %w", r.Name(), err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".conf"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("i2pdnet: add tunnels to %s: %w", r.Name(), err)
	}
	p := n.proc(i)
	if p.exited() {
		return fmt.Errorf("i2pdnet: add tunnels to %s: %w", r.Name(), ErrClosed)
	}
	p.signal(syscall.SIGHUP)
	return nil
}

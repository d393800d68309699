// Package supervise runs child processes for the commands and tests that
// stand a whole system up from one binary (`imh demo`, the integration
// tests): each child writes to its own log file and is reaped by one
// goroutine, a Group stops its children in reverse start order with SIGTERM
// and then SIGKILL, and a stopped child can be started again on the same
// arguments. It exists so that this start/stop discipline lives in one
// place with its tests rather than in each command or test harness.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/imh-project/imh/internal/clock"
)

// ErrStopTimeout marks a child that had to be killed because it did not
// exit within the stop timeout after SIGTERM.
var ErrStopTimeout = errors.New("supervise: no exit after SIGTERM, killed")

// Spec says how to run one child.
type Spec struct {
	Name string   // for errors and the caller's output
	Path string   // the program
	Args []string // its arguments, without the program name
	Env  []string // its environment; nil is the parent's
	Log  string   // file that receives stdout and stderr (appended to)
	// DieWithParent has the kernel send the child SIGTERM when the parent
	// dies without stopping it (Linux only): a demo killed hard leaves
	// nothing behind.
	DieWithParent bool
}

// Proc is one child process. Start, Restart, Stop and Kill are for the
// goroutine that owns it; Running, Done and Err may be used from any.
type Proc struct {
	spec Spec
	cmd  *exec.Cmd
	done chan struct{} // closed when the child has been reaped
	err  error         // the exit error, valid once done is closed
}

// Start starts a child as spec says. On Linux it runs in its own process
// group, so a terminal's Ctrl-C reaches only the parent, which stops its
// children in order.
func Start(spec Spec) (*Proc, error) {
	p := &Proc{spec: spec}
	if err := p.Restart(); err != nil {
		return nil, err
	}
	return p, nil
}

// Restart starts the child again with the same spec, appending to its log;
// the previous run must have ended (Done closed).
func (p *Proc) Restart() error {
	f, err := os.OpenFile(p.spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%s log: %w", p.spec.Name, err)
	}
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = p.spec.Env
	setSysProcAttr(cmd, p.spec.DieWithParent)
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.spec.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		f.Close()
		p.err = err
		close(done)
	}()
	return nil
}

// Name is the spec's name.
func (p *Proc) Name() string { return p.spec.Name }

// LogPath is the file that receives the child's output.
func (p *Proc) LogPath() string { return p.spec.Log }

// Cmd is the running (or last) command, for its Process and Args.
func (p *Proc) Cmd() *exec.Cmd { return p.cmd }

// Pid is the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the child's exit error (nil for exit code 0); valid once Done is
// closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Running reports whether the child has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits until the child is reaped.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout for the child to exit; a child
// still running then is killed. It returns the exit error, or one wrapping
// ErrStopTimeout when the child had to be killed.
func (p *Proc) Stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
		p.Kill()
		return fmt.Errorf("stop %s (pid %d) within %s: %w", p.spec.Name, p.Pid(), timeout, ErrStopTimeout)
	}
}

// Group is the children of one parent, run from one binary with one
// environment, their logs in one directory. Its methods are for one
// goroutine.
type Group struct {
	Path          string        // the program every child runs
	LogDir        string        // child name's output goes to LogDir/name.log
	Env           []string      // environment of every child; nil is the parent's
	StopTimeout   time.Duration // SIGTERM to SIGKILL in StopAll
	DieWithParent bool          // see Spec

	procs []*Proc
}

// Start starts a child named name with args and adds it to the group.
func (g *Group) Start(name string, args ...string) (*Proc, error) {
	p, err := Start(Spec{Name: name, Path: g.Path, Args: args, Env: g.Env,
		Log: filepath.Join(g.LogDir, name+".log"), DieWithParent: g.DieWithParent})
	if err != nil {
		return nil, err
	}
	g.procs = append(g.procs, p)
	return p, nil
}

// Procs are the group's children in start order.
func (g *Group) Procs() []*Proc { return g.procs }

// StopAll stops the running children in reverse start order (what started
// last depends on what started first): SIGTERM, then SIGKILL after
// StopTimeout.
func (g *Group) StopAll() {
	for i := len(g.procs) - 1; i >= 0; i-- {
		if p := g.procs[i]; p.Running() {
			_ = p.Stop(g.StopTimeout)
		}
	}
}

// WaitListening waits until something accepts TCP connections on addr, for
// at most timeout, or until ctx ends: a child is ready to use once its
// listener is up.
func WaitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, timeout, err)
		}
		if err := clock.Sleep(ctx, clock.Real(), 100*time.Millisecond); err != nil {
			return err
		}
	}
}

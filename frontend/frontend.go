// Package frontend is the data path of multi-client mode (proposal 140's
// "frontend"): one process beside one router, attached to that router's
// managed sessions as a data attachment, terminating the destination's
// I2P streams and bridging each to the TCP backend. The balancer leader
// only steers it (frontendproto): which destinations it serves, through
// which router, and a transient signing key certified by the destination's
// offline signature. The long-term key never reaches a frontend, and no
// byte of a stream passes through the leader, so a leader crash, transfer
// or whole-cluster restart leaves open connections alone.
package frontend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imh-project/imh/frontendproto"
)

// Defaults of Config.
const (
	DefaultReportInterval = time.Second
	// handshakeTimeout bounds the frontendproto preamble exchange.
	handshakeTimeout = 10 * time.Second
	// writeTimeout bounds a write to the leader (a report, a key request).
	writeTimeout = 10 * time.Second
)

// ErrClosed reports a call on a closed Frontend.
var ErrClosed = errors.New("frontend: closed")

// Config is what a frontend needs to know that no leader tells it.
type Config struct {
	// Name is the frontend's name in the cluster (imh frontend add NAME).
	Name string
	// Router is the routerproto address of the router beside it.
	Router string
	// RouterTLS, when set, gives the TLS config for dialing the router
	// the cluster calls name; it must fail the handshake unless the
	// router proves that name. Nil: plaintext (loopback only).
	RouterTLS func(name string) *tls.Config
	// DialBackend connects to a destination's TCP service; nil: net.Dialer.
	DialBackend func(ctx context.Context, network, addr string) (net.Conn, error)
	// ReportInterval is how often the leader hears from us.
	ReportInterval time.Duration
	Logger         *slog.Logger
}

// Frontend serves the destinations the current leader assigns to it. Its
// methods are safe for concurrent use.
type Frontend struct {
	cfg Config
	log *slog.Logger
	ctx context.Context

	mu     sync.Mutex
	cancel context.CancelFunc
	closed bool
	term   uint64 // the highest leader term heard
	leader *leaderLink
	dests  map[string]*destServer
	wg     sync.WaitGroup
}

// leaderLink is one connection from a leader.
type leaderLink struct {
	conn   *frontendproto.Conn
	term   uint64
	leader string
}

// New returns a Frontend that serves nothing until a leader connects.
func New(cfg Config) (*Frontend, error) {
	if cfg.Name == "" || cfg.Router == "" {
		return nil, errors.New("frontend: name and router address required")
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = DefaultReportInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Frontend{
		cfg: cfg, log: cfg.Logger.With("component", "frontend", "frontend", cfg.Name),
		ctx: ctx, cancel: cancel, dests: make(map[string]*destServer),
	}, nil
}

// Close ends every stream and attachment and waits for their goroutines.
func (f *Frontend) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	dests := f.dests
	f.dests = map[string]*destServer{}
	f.mu.Unlock()
	f.cancel()
	for _, d := range dests {
		d.stop()
	}
	f.wg.Wait()
	return nil
}

// Serve accepts leader connections from ln until ctx ends or ln fails.
func (f *Frontend) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("frontend %s: accept: %w", f.cfg.Name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.ServeLeader(ctx, nc); err != nil {
				f.log.Info("leader connection ended", "remote", nc.RemoteAddr(), "err", err)
			}
		}()
	}
}

// ServeLeader runs one leader connection until it ends. An Assign from a
// leader with an older term than one already heard is ignored: a deposed
// leader must not undo its successor's assignment.
func (f *Frontend) ServeLeader(ctx context.Context, nc net.Conn) error {
	c := frontendproto.NewConn(nc)
	c.SetWriteTimeout(writeTimeout) // a leader that stops reading fails the link
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	err := c.Handshake(hctx)
	cancel()
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	link := &leaderLink{conn: c}
	defer f.dropLeader(link)
	done := make(chan struct{})
	defer close(done)
	go f.reportLoop(link, done)
	for {
		m, err := c.Recv()
		if err != nil {
			return err
		}
		f.handle(link, m)
	}
}

func (f *Frontend) handle(link *leaderLink, m frontendproto.Message) {
	switch m := m.(type) {
	case *frontendproto.Assign:
		f.assign(link, m)
	case *frontendproto.KeyGrant:
		if d := f.dest(m.Name); d != nil {
			d.granted(m)
		}
	case *frontendproto.KeyRefused:
		f.log.Warn("leader refused a transient key", "dest", m.Name, "reason", m.Reason)
	default:
		f.log.Warn("unexpected message from the leader", "type", m.Type())
	}
}

// assign makes the served set exactly m's (from a leader at least as new
// as any heard before).
func (f *Frontend) assign(link *leaderLink, m *frontendproto.Assign) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if m.Term < f.term {
		f.log.Warn("assignment from a deposed leader ignored", "leader", m.Leader, "term", m.Term, "current", f.term)
		return
	}
	if m.Frontend != "" && m.Frontend != f.cfg.Name {
		f.log.Error("assignment for another frontend ignored (added under another name?)", "named", m.Frontend, "this", f.cfg.Name)
		return
	}
	changed := f.leader != link
	if changed || f.term != m.Term {
		f.log.Info("leader", "leader", m.Leader, "term", m.Term)
	}
	f.term, f.leader = m.Term, link
	link.term, link.leader = m.Term, m.Leader
	want := make(map[string]bool, len(m.Assignments))
	for _, a := range m.Assignments {
		want[a.Name] = true
		d := f.dests[a.Name]
		if d != nil && d.sameTarget(a) {
			d.update(a)
			if changed {
				d.newLeader()
			}
			continue
		}
		if d != nil {
			d.stop()
		}
		f.dests[a.Name] = newDestServer(f, a)
	}
	for name, d := range f.dests {
		if !want[name] {
			d.stop()
			delete(f.dests, name)
			f.log.Info("destination unassigned", "dest", name)
		}
	}
}

func (f *Frontend) dropLeader(link *leaderLink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leader == link {
		f.leader = nil
	}
}

func (f *Frontend) dest(name string) *destServer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dests[name]
}

// toLeader sends m to the current leader, if one is connected.
func (f *Frontend) toLeader(m frontendproto.Message) error {
	f.mu.Lock()
	link := f.leader
	f.mu.Unlock()
	if link == nil {
		return errors.New("no leader connected")
	}
	return link.conn.Send(m)
}

// reportLoop sends the leader our figures every ReportInterval.
func (f *Frontend) reportLoop(link *leaderLink, done <-chan struct{}) {
	t := time.NewTicker(f.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-f.ctx.Done():
			return
		case <-t.C:
			if err := link.conn.Send(f.report()); err != nil {
				link.conn.Close()
				return
			}
		}
	}
}

func (f *Frontend) report() *frontendproto.Report {
	st := f.Status()
	r := &frontendproto.Report{Frontend: f.cfg.Name, Router: st.Router}
	for _, d := range st.Dests {
		r.Dests = append(r.Dests, frontendproto.DestReport{
			Name: d.Name, Attached: d.Attached, BackendUp: d.BackendUp, KeyExpires: uint32(d.KeyExpires.Unix()),
			Open: uint32(min(d.Open, 1<<32-1)), Accepted: d.Accepted, Refused: d.Refused,
			BytesIn: d.BytesIn, BytesOut: d.BytesOut, Errors: d.Errors, LastError: d.LastError,
		})
	}
	return r
}

// Status is what `GET /status` of a frontend shows.
type Status struct {
	Name   string       `json:"name"`
	Router string       `json:"router"`
	Leader string       `json:"leader"`
	Term   uint64       `json:"term"`
	Dests  []DestStatus `json:"destinations"`
}

// DestStatus is one served destination.
type DestStatus struct {
	Name       string    `json:"name"`
	B32        string    `json:"b32"`
	Router     string    `json:"router"`
	Service    string    `json:"service"`
	Active     bool      `json:"active"`
	Draining   bool      `json:"draining"`
	Attached   bool      `json:"attached"`
	BackendUp  bool      `json:"backend_up"`
	KeyExpires time.Time `json:"key_expires"`
	Open       uint64    `json:"open"`
	Accepted   uint64    `json:"accepted"`
	Refused    uint64    `json:"refused"`
	BytesIn    uint64    `json:"bytes_in"`
	BytesOut   uint64    `json:"bytes_out"`
	Errors     uint64    `json:"errors"`
	LastError  string    `json:"last_error,omitempty"`
}

// Status returns the live figures.
func (f *Frontend) Status() Status {
	f.mu.Lock()
	st := Status{Name: f.cfg.Name, Router: f.cfg.Router, Term: f.term}
	if f.leader != nil {
		st.Leader = f.leader.leader
	}
	dests := make([]*destServer, 0, len(f.dests))
	for _, d := range f.dests {
		dests = append(dests, d)
	}
	f.mu.Unlock()
	for _, d := range dests {
		st.Dests = append(st.Dests, d.status())
	}
	slices.SortFunc(st.Dests, func(a, b DestStatus) int { return strings.Compare(a.Name, b.Name) })
	return st
}

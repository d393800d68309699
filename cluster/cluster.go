package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/logging"
	"github.com/imh-project/imh/internal/status"
)

// Sentinel errors callers test with errors.Is.
var (
	// ErrNotLeader: this agent is not the leader (see NotLeaderError).
	ErrNotLeader = errors.New("cluster: not leader")
	// ErrNoLeader: the cluster has no leader right now (no quorum, or an
	// election is under way).
	ErrNoLeader = errors.New("cluster: no leader")
	// ErrLeadershipLost: leadership was lost while a command was in flight;
	// it may or may not have been committed.
	ErrLeadershipLost = errors.New("cluster: leadership lost while applying; outcome unknown")
)

// NotLeaderError says which agent leads, if any is known.
type NotLeaderError struct{ Leader string }

// Error names the leader when one is known.
func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return "cluster: not leader, and no leader is known"
	}
	return "cluster: not leader (leader is " + e.Leader + ")"
}

// Unwrap makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

const applyTimeout = 10 * time.Second

// Cluster is one agent's replica. New starts raft and opens the listeners;
// Run serves until its context ends and then shuts everything down.
type Cluster struct {
	cfg   Config
	log   *slog.Logger
	state *fsm.State
	fsm   *raftFSM // what raft applies to (c.state)
	keys  *keyring

	rp        atomic.Pointer[raft.Raft] // replaced only when a removed agent rejoins fresh (rejoin.go)
	notifyCh  chan bool                 // raft's NotifyCh, drained at once into lead (leader.go)
	lead      *leaderFlag               // the latest leadership report
	closers   []io.Closer               // closed last, in reverse order
	bolt      io.Closer                 // the raft-boltdb store (nil with test stores)
	disk      *diskStore                // raft's view of bolt; waits out a full disk (nil with test stores)
	hasState  atomic.Bool               // raft state existed at start, or we bootstrapped
	removed   atomic.Bool               // removed from the configuration; waiting for a join (rejoin.go)
	resetMu   sync.Mutex                // serialises resetRaft
	localRaft raft.ServerAddress

	ml          *memberlist.Memberlist
	gossipAddr  string        // this agent's gossip address, fixed at start
	memberCh    chan struct{} // pinged on gossip membership changes (gossip loop)
	reconcileCh chan struct{} // the same, for the leader's reconcile loop

	httpLn  net.Listener
	httpSrv *http.Server
	client  *http.Client

	dead      *deadTracker // leader-only: when each unreachable server was first seen gone
	strangers mismatchLog  // gossip from nodes with another cluster secret (secretmismatch.go)
	foreign   mismatchLog  // joins refused by agents with another cluster secret
	// unsealable: raft delivers state sealed under a secret this agent
	// lacks (followSealKey)
	unsealable mismatchLog
	removes    *removeHold   // leader-only: servers removed recently, not re-added at once
	bootWait   bootstrapWait // gossip loop only: what maybeBootstrap last said it waits for

	live       atomic.Pointer[liveHolder]
	leaderTerm atomic.Uint64 // term at which this node's leader work started; 0 when not leading

	mu          sync.Mutex
	staticHTTP  map[string]string // node -> HTTP address from Config.Peers
	memberTable map[string]member // alive gossip members, kept by the event delegate
	// lastHTTP: node -> the API address it last gossiped, kept after gossip
	// lost it: raft may still follow a leader that gossip cannot reach (a
	// gossip partition), and a write forwarded there must not fail for it.
	lastHTTP map[string]string
}

type liveHolder struct{ v status.LiveView }

// New validates cfg, opens the data dir, starts raft and the listeners.
func New(cfg Config) (_ *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, err := newKeyring(cfg.Secret, cfg.PreviousSecret)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg: cfg, log: cfg.Logger.With("component", "cluster", "node", cfg.NodeName),
		state: fsm.New(), keys: keys, notifyCh: make(chan bool, 1), lead: newLeaderFlag(),
		memberCh: make(chan struct{}, 1), reconcileCh: make(chan struct{}, 1), client: agentHTTPClient(cfg.TLS),
		staticHTTP: map[string]string{}, memberTable: map[string]member{}, lastHTTP: map[string]string{},
		dead: newDeadTracker(), removes: newRemoveHold(),
	}
	defer func() {
		if err != nil {
			c.closeAll()
		}
	}()
	for _, p := range cfg.Peers {
		c.staticHTTP[p.Name] = p.HTTPAddr
	}
	if err := c.checkRemovedAtStart(); err != nil {
		return nil, err
	}
	if err := c.setupRaft(); err != nil {
		return nil, err
	}
	c.followSealKey() // the state restored from the last snapshot
	if err := c.setupHTTP(); err != nil {
		return nil, err
	}
	if cfg.GossipBind != "" {
		if err := c.setupGossip(); err != nil {
			return nil, err
		}
	}
	if len(cfg.Peers) > 0 {
		c.bootstrapStatic()
	}
	return c, nil
}

func (c *Cluster) setupRaft() error {
	cfg := &c.cfg
	hlog := logging.HCLog(cfg.Logger.With("node", cfg.NodeName), "raft")
	logs, stable, snaps, trans := cfg.LogStore, cfg.StableStore, cfg.SnapshotStore, cfg.Transport
	if logs == nil || stable == nil || snaps == nil {
		dir := filepath.Join(cfg.DataDir, "raft")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		if err := c.checkDataDir(dir); err != nil {
			return err
		}
		bolt, err := raftboltdb.New(raftboltdb.Options{
			Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{Timeout: 2 * time.Second},
		})
		if err != nil {
			if boltCorruption(err) {
				return &CorruptError{File: filepath.Join(dir, "raft.db"), Node: cfg.NodeName, Err: err}
			}
			return fmt.Errorf("open raft log %s (is another agent using this data dir?): %w", dir, err)
		}
		c.bolt = bolt
		c.disk = newDiskStore(bolt, bolt, dir, c.log)
		cache, err := raft.NewLogCache(512, c.disk)
		if err != nil {
			return fmt.Errorf("raft log cache: %w", err)
		}
		logs, stable = cache, c.disk
		if snaps, err = raft.NewFileSnapshotStoreWithLogger(dir, 2, hlog); err != nil {
			return fmt.Errorf("raft snapshot store: %w", err)
		}
	}
	if trans == nil {
		adv := cfg.RaftAdvertise
		if adv == "" {
			adv = cfg.RaftBind
		}
		advAddr, err := net.ResolveTCPAddr("tcp", adv)
		if err != nil {
			return fmt.Errorf("raft advertise %q: %w", adv, err)
		}
		var advertise net.Addr = advAddr
		if advAddr.Port == 0 {
			advertise = nil // bound to :0 (tests): advertise what we got (an untyped nil: raft tests for nil)
		}
		t, err := c.raftTransport(advertise, hlog)
		if err != nil {
			return fmt.Errorf("raft listen %s: %w", cfg.RaftBind, err)
		}
		trans = t // raft closes it on Shutdown
	}
	if c.localRaft == "" {
		c.localRaft = trans.LocalAddr() // fixed for the agent's life (read without a lock)
	} else if trans.LocalAddr() != c.localRaft {
		return fmt.Errorf("raft restarted on %s, want %s", trans.LocalAddr(), c.localRaft)
	}
	has, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return fmt.Errorf("read raft state: %w", err)
	}
	c.hasState.Store(has)
	rc := cfg.raftConfig()
	rc.NotifyCh = c.notifyCh
	// A removed agent notices it in its configuration (rejoin.go) and
	// waits for the operator instead of shutting raft down underneath
	// the API.
	rc.ShutdownOnRemove = false
	rc.Logger = hlog
	if c.fsm == nil {
		c.fsm = &raftFSM{s: c.state, log: c.log, applied: c.followSealKey}
	}
	r, err := raft.NewRaft(rc, c.fsm, logs, stable, snaps, trans)
	if err != nil {
		if cl, ok := trans.(io.Closer); ok && cfg.Transport == nil {
			_ = cl.Close()
		}
		if strings.Contains(err.Error(), "failed to load any existing snapshots") {
			return &CorruptError{File: filepath.Join(cfg.DataDir, "raft", "snapshots"), Node: cfg.NodeName, Err: err}
		}
		return fmt.Errorf("start raft: %w", err)
	}
	c.rp.Store(r)
	c.log.Info("raft started", "raft_addr", string(trans.LocalAddr()), "existing_state", has,
		"heartbeat_timeout", rc.HeartbeatTimeout, "election_timeout", rc.ElectionTimeout)
	return nil
}

// raftTransport is raft's TCP transport, over mutual TLS when the config
// has TLS material.
func (c *Cluster) raftTransport(advertise net.Addr, hlog hclog.Logger) (raft.Transport, error) {
	if c.cfg.TLS == nil {
		return raft.NewTCPTransportWithLogger(c.cfg.RaftBind, advertise, 3, 10*time.Second, hlog)
	}
	stream, err := newTLSStream(c.cfg.RaftBind, advertise, c.cfg.TLS, c.log)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransportWithLogger(stream, 3, 10*time.Second, hlog), nil
}

func (c *Cluster) setupHTTP() error {
	ln := c.cfg.HTTPListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", c.cfg.HTTPBind); err != nil {
			return fmt.Errorf("http listen %s: %w", c.cfg.HTTPBind, err)
		}
	}
	if c.cfg.TLS != nil {
		ln = tls.NewListener(ln, c.cfg.TLS.RequestServerConfig())
	}
	c.httpLn = ln
	c.httpSrv = &http.Server{Handler: c.authorize(c.apiHandler()), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: logging.StdLogger(c.cfg.Logger.With("component", "api", "node", c.cfg.NodeName))} // refused TLS handshakes, among others
	return nil
}

// bootstrapStatic bootstraps from Config.Peers (tests without gossip).
func (c *Cluster) bootstrapStatic() {
	if c.hasState.Load() {
		return
	}
	var conf raft.Configuration
	for _, p := range c.cfg.Peers {
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(p.Name), Address: raft.ServerAddress(p.RaftAddr)})
	}
	if err := c.r().BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		c.log.Error("bootstrap", "err", err)
		return
	}
	c.hasState.Store(true)
}

// Run serves the API, consumes leadership changes and runs gossip until ctx
// ends, then shuts down (leader work first, raft last) and returns.
func (c *Cluster) Run(ctx context.Context) error {
	stopDrain, drained := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(drained)
		c.drainNotify(stopDrain)
	}()
	defer func() {
		close(stopDrain) // raft is shut down by now (c.shutdown)
		<-drained
	}()
	var wg sync.WaitGroup
	httpErr := make(chan error, 1)
	wg.Go(func() {
		if err := c.httpSrv.Serve(c.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- err
		}
	})
	wg.Go(func() { c.runLeadership(ctx) })
	if c.ml != nil {
		wg.Go(func() { c.runGossip(ctx) })
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-httpErr:
		err = fmt.Errorf("http server: %w", err)
	}
	c.shutdown(&wg)
	return err
}

func (c *Cluster) shutdown(wg *sync.WaitGroup) {
	c.transferBeforeStop()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.httpSrv.Shutdown(sctx)
	// runLeadership and runGossip end with the context; wait for the
	// leader work to stop before raft goes away underneath it.
	if c.ml != nil {
		_ = c.ml.Leave(500 * time.Millisecond)
	}
	wg.Wait()
	c.closeAll()
	c.log.Info("stopped")
}

// closeAll releases what New opened; safe on a partly built Cluster.
func (c *Cluster) closeAll() {
	if c.ml != nil {
		_ = c.ml.Shutdown()
	}
	if c.disk != nil && c.disk.close() {
		// raft is blocked saving its term on a full disk: its Shutdown
		// would wait for it forever. The process exits around it.
		c.log.Warn("raft not shut down: it is waiting for space in the data dir", "err", c.disk.err())
		c.bolt = nil
	} else if r := c.r(); r != nil {
		if err := r.Shutdown().Error(); err != nil {
			c.log.Warn("raft shutdown", "err", err)
		}
	}
	if c.bolt != nil {
		_ = c.bolt.Close()
		c.bolt = nil
	}
	if c.httpLn != nil {
		_ = c.httpLn.Close()
	}
	for i := len(c.closers) - 1; i >= 0; i-- {
		_ = c.closers[i].Close()
	}
	c.closers = nil
}

// r is the current raft instance.
func (c *Cluster) r() *raft.Raft { return c.rp.Load() }

// State is the local replica of the replicated state (possibly stale on a
// follower). Callers must not modify what it returns beyond the copies its
// query methods hand out.
func (c *Cluster) State() *fsm.State { return c.state }

// Open unseals the field of the destination with hash dest, stored in the
// state sealed under any secret this agent holds.
func (c *Cluster) Open(sealed []byte, dest i2p.Hash, field fsm.SealedField) ([]byte, error) {
	return c.keys.Open(sealed, dest, field)
}

// Seal seals private key bytes for a command (at the edge, never in Apply)
// under the secret the cluster currently seals with.
func (c *Cluster) Seal(plain []byte, dest i2p.Hash, field fsm.SealedField) ([]byte, error) {
	return c.keys.Seal(plain, dest, field)
}

// followSealKey makes the secret the state names the one this agent seals,
// gossips and MACs snapshots with (keyring.follow); called after every
// applied entry and restore. A cheap comparison unless it changed.
func (c *Cluster) followSealKey() {
	want := c.state.SealKeyID()
	active, changed, held, err := c.keys.follow(want)
	if err != nil {
		c.log.Error("gossip keyring", "err", err)
	}
	switch {
	case !held:
		// Called after every applied entry: one line a minute, not one
		// per entry, for as long as the secret is wrong.
		if ok, suppressed := c.unsealable.allow(time.Now()); ok {
			c.log.Error("this agent has another cluster secret than the one the replicated state is sealed under: restart it with that secret (--secret-file)",
				"sealed_under", want.String(), "held", fmt.Sprint(c.keys.ids()), "repeats_suppressed", suppressed, "next_report_after", secretMismatchEvery)
		}
	case changed:
		c.log.Info("cluster secret switched: sealing and gossip now use it", "key_id", active.String())
	}
}

// NodeName is this agent's name (its raft server ID).
func (c *Cluster) NodeName() string { return c.cfg.NodeName }

// HTTPAddr is the address the API listens on.
func (c *Cluster) HTTPAddr() string { return c.httpLn.Addr().String() }

// RaftAddr is the raft transport's address.
func (c *Cluster) RaftAddr() string { return string(c.raftAddr()) }

func (c *Cluster) raftAddr() raft.ServerAddress { return c.localRaft }

// SetLiveView installs the balancer's live view (nil removes it). The
// status API uses it on the leader for router health and live facts.
func (c *Cluster) SetLiveView(v status.LiveView) {
	if v == nil {
		c.live.Store(nil)
		return
	}
	c.live.Store(&liveHolder{v: v})
}

func (c *Cluster) liveView() status.LiveView {
	if h := c.live.Load(); h != nil {
		return h.v
	}
	return nil
}

// Leader returns the name of the current leader, or "" if none is known.
func (c *Cluster) Leader() string {
	_, id := c.r().LeaderWithID()
	return string(id)
}

// Term is the current raft term as this node knows it.
func (c *Cluster) Term() uint64 { return c.r().CurrentTerm() }

// LeadershipTerm returns the term in which this node's current leadership
// began (after its Barrier) and true, or 0 and false when it is not the
// leader. The balancer fences routers with it (imh.term).
func (c *Cluster) LeadershipTerm() (uint64, bool) {
	t := c.leaderTerm.Load()
	return t, t != 0
}

// Apply proposes cmd and waits until it is committed and applied here, or
// until ctx ends. It returns the fsm's deterministic result (an error value
// from Apply), a *NotLeaderError on a follower, ErrLeadershipLost, or ctx's
// error: then the command may still be committed later (raft cannot take
// back a proposal), like a lost leadership's.
func (c *Cluster) Apply(ctx context.Context, cmd fsm.Command) error {
	b, err := fsm.Encode(cmd)
	if err != nil {
		return err
	}
	timeout := applyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if timeout <= 0 { // raft reads 0 as "wait forever"
		return fmt.Errorf("apply %s: %w", cmd.Type(), context.DeadlineExceeded)
	}
	r := c.r()
	f, err := await(ctx, func() raft.ApplyFuture { return r.Apply(b, timeout) })
	if err != nil {
		if derr := c.diskErr(err); derr != nil {
			return fmt.Errorf("apply %s: %w: %w", cmd.Type(), ErrDataDirFull, derr)
		}
		switch {
		case ctx.Err() != nil && f == nil:
			return fmt.Errorf("apply %s: %w (it may still be committed)", cmd.Type(), err)
		case errors.Is(err, raft.ErrNotLeader):
			return &NotLeaderError{Leader: c.Leader()}
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return fmt.Errorf("%w: %w", ErrLeadershipLost, err)
		}
		return fmt.Errorf("raft apply %s: %w", cmd.Type(), err)
	}
	if rerr, ok := f.Response().(error); ok {
		return rerr
	}
	return nil
}

// TakeSnapshot makes raft snapshot the fsm now and compact its log. On the
// leader it first applies a barrier: raft refuses to snapshot until an entry
// after the latest configuration change has reached the fsm.
func (c *Cluster) TakeSnapshot() error {
	if c.isLeader() {
		if err := c.r().Barrier(barrierTimeout).Error(); err != nil {
			return fmt.Errorf("snapshot: barrier: %w", err)
		}
	}
	if err := c.r().Snapshot().Error(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// configuration is raft's latest configuration, or raft's error (shut
// down, for one): never an empty configuration standing in for an error.
func (c *Cluster) configuration() (raft.Configuration, error) {
	f := c.r().GetConfiguration()
	if err := f.Error(); err != nil {
		return raft.Configuration{}, fmt.Errorf("raft configuration: %w", err)
	}
	return f.Configuration(), nil
}

// raftFSM adapts fsm.State to raft.FSM.
type raftFSM struct {
	s       *fsm.State
	log     *slog.Logger
	hook    atomic.Pointer[func()] // tests only (export_test.go): runs before each command
	applied func()                 // after each successful Apply and Restore; nil: none (cluster recover)
}

// maxSnapshot bounds what Restore reads (a snapshot is kilobytes per
// destination; this is generous).
const maxSnapshot = 256 << 20

func (f *raftFSM) notify() {
	if f.applied != nil {
		f.applied()
	}
}

func (f *raftFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	if h := f.hook.Load(); h != nil {
		(*h)()
	}
	if err := f.s.Apply(l.Index, l.Data); err != nil {
		f.log.Debug("command refused", "index", l.Index, "err", err)
		return err
	}
	f.notify()
	return nil
}

// Snapshot only freezes the state; Persist encodes it off the FSM goroutine.
func (f *raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{f: f.s.Freeze()}, nil
}

func (f *raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSnapshot+1))
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	if len(b) > maxSnapshot {
		return fmt.Errorf("%w: larger than %d bytes", fsm.ErrBadSnapshot, maxSnapshot)
	}
	if err := f.s.Restore(b); err != nil {
		return err
	}
	f.notify()
	return nil
}

type fsmSnapshot struct{ f fsm.Frozen }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.f.Marshal()); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

package balancer

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/clock"
	"github.com/imh-project/imh/internal/status"
)

// Errors of Run.
var (
	// ErrRunning reports a second Run while one is active: exactly one
	// loop may steer the routers.
	ErrRunning = errors.New("balancer: already running")
	// ErrNotLeading reports a Run on a node that does not lead.
	ErrNotLeading = errors.New("balancer: this node does not lead")
)

// Balancer is the leader's control loop. New builds it once per agent;
// the cluster calls Run on every leadership gain (after a Barrier) and
// cancels its context on loss. It implements status.LiveView.
type Balancer struct {
	cfg     Config
	log     *slog.Logger
	running atomic.Bool
	view    liveView
	loop    atomic.Pointer[loop] // the running loop, nil when not leading
	// counters survive loops; only the running loop touches them.
	counters counters
}

var _ status.LiveView = (*Balancer)(nil)

// New checks cfg and returns a Balancer.
func New(cfg Config) (*Balancer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	return &Balancer{cfg: cfg, log: cfg.Logger.With("component", "balancer")}, nil
}

// Run drives every router of every destination until ctx ends, then closes
// its router connections (managed sessions survive them for their grace
// period, so the next leader re-attaches) and returns nil. It returns an
// error only if it cannot start (ErrRunning, ErrNotLeading).
func (b *Balancer) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer b.running.Store(false)
	term, ok := b.cfg.Cluster.LeadershipTerm()
	if !ok {
		return ErrNotLeading
	}
	ctx, cancel := context.WithCancel(ctx)
	l := newLoop(ctx, b, term)
	b.loop.Store(l)
	defer func() {
		b.loop.Store(nil)
		cancel()
		l.stopServices()
		l.wg.Wait()
		b.view.clear()
	}()
	b.log.Info("balancer started", "term", l.term)
	l.run()
	b.log.Info("balancer stopped", "term", l.term)
	return nil
}

// Router implements status.LiveView.
func (b *Balancer) Router(name string) (status.RouterLive, bool) { return b.view.router(name) }

// Frontend implements status.LiveView.
func (b *Balancer) Frontend(name string) (status.FrontendLive, bool) { return b.view.frontend(name) }

// Destination implements status.LiveView.
func (b *Balancer) Destination(name string) (status.DestinationLive, bool) {
	return b.view.destination(name)
}

// event is something a goroutine of the loop reports to the loop.
type event interface{}

// loop is one Run: all its state is owned by the run goroutine; helper
// goroutines (router connections, requests) only post events.
type loop struct {
	ctx    context.Context
	b      *Balancer
	cfg    Config
	log    *slog.Logger
	rnd    Rand
	term   uint64
	events chan event
	wg     sync.WaitGroup
	gens   atomic.Uint64

	routers   map[string]*routerState
	order     []string // router names, sorted
	frontends map[string]*frontendState
	dests     map[string]*destState
	retry     *Retrier
	nextReq   uint64 // ids of pending tunnel builds

	reconciled bool   // reconcile ran once
	changes    uint64 // fsm.State.Changes at the last reconcile
	reopen     bool   // a destination failed to open: reconcile again

	echoSem chan struct{} // one token per echo reply in flight (payload.go)

	offset  time.Duration   // the routers' median clock offset last logged (now)
	offsets []time.Duration // scratch of routerOffset

	union        []i2p.Hash // cached union of fast tiers (unionFor)
	unionLargest int
	unionDirty   bool
}

func newLoop(ctx context.Context, b *Balancer, term uint64) *loop {
	var rnd Rand = &lockedRand{r: b.cfg.Rand}
	if b.cfg.Rand == nil {
		rnd = newSeededRand()
	}
	return &loop{
		ctx:       ctx,
		b:         b,
		cfg:       b.cfg,
		log:       b.log,
		rnd:       rnd,
		term:      term,
		events:    make(chan event, 1024),
		echoSem:   make(chan struct{}, b.cfg.MaxEchoWorkers),
		routers:   make(map[string]*routerState),
		frontends: make(map[string]*frontendState),
		dests:     make(map[string]*destState),
		retry:     NewRetrier(b.cfg.Backoff, rnd),

		unionDirty: true,
	}
}

// lockedRand makes a Rand safe for the loop's helper goroutines too.
type lockedRand struct {
	mu sync.Mutex
	r  Rand
}

func (l *lockedRand) IntN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

func newSeededRand() Rand {
	var seed [16]byte
	if _, err := io.ReadFull(crand.Reader, seed[:]); err != nil {
		binary.LittleEndian.PutUint64(seed[:], uint64(time.Now().UnixNano()))
	}
	src := rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))
	return &lockedRand{r: rand.New(src)}
}

// run is the loop: a step after every batch of events and every tick.
func (l *loop) run() {
	tick := time.NewTicker(l.cfg.Tick)
	defer tick.Stop()
	l.step(l.now())
	for {
		select {
		case <-l.ctx.Done():
			return
		case ev := <-l.events:
			changed := l.handle(ev)
			if !l.drain() && !changed {
				continue // payloads only: nothing for a step to do
			}
		case <-tick.C:
		}
		l.step(l.now())
	}
}

// drain handles the events already queued, so a burst costs one step. It
// reports whether any of them may have changed what a step decides.
func (l *loop) drain() bool {
	changed := false
	for range cap(l.events) {
		select {
		case ev := <-l.events:
			changed = l.handle(ev) || changed
		default:
			return changed
		}
	}
	return changed
}

// post hands an event to the loop unless the loop has ended.
func (l *loop) post(ev event) {
	select {
	case l.events <- ev:
	case <-l.ctx.Done():
	}
}

// spawn runs a request to a router in its own goroutine, bounded by
// OpTimeout, and posts its result.
func (l *loop) spawn(f func(ctx context.Context) event) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		ctx, cancel := context.WithTimeout(l.ctx, l.cfg.OpTimeout)
		defer cancel()
		if ev := f(ctx); ev != nil {
			l.post(ev)
		}
	}()
}

// apply proposes an fsm command, bounded by OpTimeout.
func (l *loop) apply(cmd fsm.Command) error {
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.OpTimeout)
	defer cancel()
	if err := l.cfg.Cluster.Apply(ctx, cmd); err != nil {
		return fmt.Errorf("apply %s: %w", cmd.Type(), err)
	}
	return nil
}

// handle dispatches one event; it returns false only for events that
// cannot change what a step decides (payloads), so that a stream's traffic
// does not cost the leader a step per packet.
func (l *loop) handle(ev event) bool {
	if e, ok := ev.(evMessage); ok && isPayload(e.msg) {
		l.routerMessage(e)
		return false
	}
	switch e := ev.(type) {
	case evRouterUp:
		l.routerUp(e)
	case evRouterDown:
		l.routerDown(e)
	case evMessage:
		l.routerMessage(e)
	case evFastTier:
		l.fastTier(e)
	case evSession:
		l.sessionResult(e)
	case evPool:
		l.poolResult(e)
	case evBuilt:
		l.built(e)
	case evMetrics:
		e.reply <- l.metrics()
		return false
	case evFrontendUp, evFrontendDown, evFrontendMsg:
		return l.frontendEvent(e)
	default:
		l.log.Error("unknown event", "type", fmt.Sprintf("%T", ev))
	}
	return true
}

// stopServices ends every destination's stream service (the loop ends).
func (l *loop) stopServices() {
	for _, d := range l.dests {
		d.stopService()
	}
}

// step brings everything in line with the fsm and the clock (now, the
// routers' time: loop.now): routers and destinations, sessions, fast
// tiers, tunnel plans, gateway sets and LeaseSets; then refreshes the live
// view.
func (l *loop) step(now time.Time) {
	if l.ctx.Err() != nil {
		return
	}
	l.reconcile(now)
	for _, name := range l.order {
		l.refreshFastTier(l.routers[name], now)
	}
	for _, d := range l.sortedDests() {
		l.updateGateways(d, now)
		l.retryRecords(d, now)
		share := l.buildShare(d)
		for _, name := range l.order {
			r := l.routers[name]
			l.ensureSession(d, r)
			l.expireTunnels(d, r, now)
		}
		d.dueScratch = l.appendInboundDues(d.dueScratch[:0], d, nil)
		steps := NewStepPlan(now, d.dueScratch, l.cfg.ReplaceBefore)
		for _, name := range l.order {
			l.planTunnels(d, l.routers[name], share, steps, now)
		}
		l.maybePublish(d, now)
		l.updateRoutes(d)
	}
	l.assignFrontends()
	l.publishView(now)
}

func (l *loop) sortedDests() []*destState {
	out := make([]*destState, 0, len(l.dests))
	for _, d := range l.dests {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *destState) int { return cmpStr(a.name, b.name) })
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

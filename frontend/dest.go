package frontend

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imh-project/imh/frontendproto"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
	"github.com/imh-project/imh/streaming"
)

const (
	// sendTTL is how long a stream packet may wait in the router.
	sendTTL = time.Minute
	// askAgain is how long a key request may go unanswered before it is
	// made again (with a fresh key).
	askAgain = 10 * time.Second
	// attachRetry spaces attempts to (re)attach to the router.
	attachRetry = 2 * time.Second
	// attachTimeout bounds one dial + CreateSession.
	attachTimeout = 15 * time.Second
)

// grantedKey is a transient key the leader certified for one router.
type grantedKey struct {
	priv    ed25519.PrivateKey
	off     *i2p.OfflineSignature
	grant   []byte
	router  string
	from    time.Time // when it was granted: renewal starts halfway to Expires
	expires time.Time
	id      *streaming.Identity
}

// renewAt is when a successor is asked for: halfway through its life.
func (k *grantedKey) renewAt() time.Time { return k.from.Add(k.expires.Sub(k.from) / 2) }

// attachment is one data attachment to the router's session.
type attachment struct {
	client  *routerproto.Client
	session uint16
	key     *grantedKey
	dead    atomic.Bool
}

// destServer serves one assigned destination: keys, the attachment and
// the streams.
type destServer struct {
	f      *Frontend
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}
	stats  streaming.BridgeStats
	errs   atomic.Uint64

	mu      sync.Mutex
	a       frontendproto.Assignment
	pending ed25519.PrivateKey // asked for, not granted yet
	askedAt time.Time
	key     *grantedKey // the newest granted key
	att     *attachment // the attachment packets are sent through
	mux     *streaming.Mux
	lastErr string
}

func newDestServer(f *Frontend, a frontendproto.Assignment) *destServer {
	ctx, cancel := context.WithCancel(f.ctx)
	d := &destServer{
		f: f, a: a, ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1),
		log: f.log.With("dest", a.Name, "router", a.Router),
	}
	d.log.Info("destination assigned", "b32", a.Destination.B32(), "service", a.Service, "active", a.Active)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(d.done)
		d.run()
	}()
	return d
}

// sameTarget reports whether a can be served by this server as it is
// (same Destination, router and backend); otherwise it is replaced.
func (d *destServer) sameTarget(a frontendproto.Assignment) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.a.Destination.Equal(a.Destination) && d.a.Router == a.Router && d.a.Service == a.Service
}

// update takes the policy state of a new assignment.
func (d *destServer) update(a frontendproto.Assignment) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.a = a
}

// stop ends the streams and the attachment and waits for the server.
func (d *destServer) stop() {
	d.cancel()
	<-d.done
}

func (d *destServer) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run keeps a valid key, an attachment with it, and the streams; it stops
// signing when its last key expires without a successor.
func (d *destServer) run() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	defer d.shutdown()
	var nextAttach time.Time
	for {
		now := time.Now()
		d.maybeAsk(now)
		d.maybeExpire(now)
		if now.After(nextAttach) && d.needAttach() {
			if err := d.attach(); err != nil {
				d.fail("attach to router", err)
				nextAttach = time.Now().Add(attachRetry)
			}
		}
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// maybeAsk requests a fresh transient key when there is none, or the
// newest is halfway through its life, and no request is outstanding.
func (d *destServer) maybeAsk(now time.Time) {
	d.mu.Lock()
	need := d.key == nil || now.After(d.key.renewAt())
	wait := askAgain
	if d.key != nil {
		// A request lost with a leader must be made again well before
		// the current key ends.
		wait = min(wait, d.key.expires.Sub(d.key.from)/8)
	}
	outstanding := d.pending != nil && now.Sub(d.askedAt) < wait
	name := d.a.Name
	d.mu.Unlock()
	if !need || outstanding {
		return
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		d.fail("generate transient key", err)
		return
	}
	d.mu.Lock()
	d.pending, d.askedAt = priv, now
	d.mu.Unlock()
	if err := d.f.toLeader(&frontendproto.KeyRequest{Name: name, TransientType: i2p.SigEd25519, TransientKey: pub}); err != nil {
		d.log.Debug("key request not sent", "err", err)
	}
}

// newLeader forgets an outstanding key request: it went to a leader that
// is gone, so it is made again at once to the new one.
func (d *destServer) newLeader() {
	d.mu.Lock()
	d.pending = nil
	d.mu.Unlock()
	d.kick()
}

// granted installs a key the leader certified, if it is the one asked for.
func (d *destServer) granted(m *frontendproto.KeyGrant) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending == nil || m.Offline == nil {
		return
	}
	k, err := d.verifyGrantLocked(m)
	if err != nil {
		d.failLocked("key grant", err)
		return
	}
	d.pending, d.key = nil, k
	if d.mux != nil {
		if err := d.mux.SetIdentity(k.id); err != nil {
			d.failLocked("rotate key", err)
		}
	}
	d.log.Info("transient key granted", "expires", k.expires.UTC().Format(time.RFC3339))
	d.kick()
}

func (d *destServer) verifyGrantLocked(m *frontendproto.KeyGrant) (*grantedKey, error) {
	if m.Router != d.a.Router {
		return nil, fmt.Errorf("granted for router %s, assigned %s", m.Router, d.a.Router)
	}
	id, err := streaming.NewOfflineIdentity(d.a.Destination, d.pending, m.Offline)
	if err != nil {
		return nil, err // not our pending key, or not the destination's signature
	}
	if err := routerproto.VerifyAttachGrant(d.a.Destination, m.Router, m.Offline, m.Grant); err != nil {
		return nil, err
	}
	exp := time.Unix(int64(m.Offline.Expires), 0)
	if !exp.After(time.Now()) {
		return nil, errors.New("granted key already expired")
	}
	return &grantedKey{priv: d.pending, off: m.Offline, grant: m.Grant, router: m.Router, from: time.Now(), expires: exp, id: id}, nil
}

// maybeExpire stops signing once the newest key has expired: the streams
// end and the attachment goes (the router ends it at expiry anyway).
func (d *destServer) maybeExpire(now time.Time) {
	d.mu.Lock()
	if d.key == nil || now.Before(d.key.expires) {
		d.mu.Unlock()
		return
	}
	d.log.Warn("transient key expired without a successor (cut off from the cluster?): stopped signing")
	d.key = nil
	d.mu.Unlock()
	d.release()
}

func (d *destServer) needAttach() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.key != nil && (d.att == nil || d.att.dead.Load() || d.att.key != d.key)
}

// attach opens a data attachment with the newest key; once it is up it
// replaces the previous one (whose key may be about to expire).
func (d *destServer) attach() error {
	d.mu.Lock()
	k, a := d.key, d.a
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(d.ctx, attachTimeout)
	defer cancel()
	cfg := routerproto.DefaultClientConfig()
	cfg.Logger = d.log
	if d.f.cfg.RouterTLS != nil {
		cfg.TLS = d.f.cfg.RouterTLS(a.Router)
	}
	c, err := routerproto.Dial(ctx, d.f.cfg.Router, cfg)
	if err != nil {
		return fmt.Errorf("dial router %s at %s: %w", a.Router, d.f.cfg.Router, err)
	}
	opts := i2p.Mapping{
		routerproto.OptAttach:      "data",
		routerproto.OptGrantRouter: k.router,
		routerproto.OptGrant:       i2p.Base64.EncodeToString(k.grant),
	}
	if b := c.Binding(); b != nil {
		opts[routerproto.OptBinding] = hex.EncodeToString(b)
	}
	sc := &routerproto.SessionConfig{Destination: a.Destination, Options: opts, Date: uint64(c.RouterNow().UnixMilli())}
	if err := sc.SignTransient(k.priv, k.off); err != nil {
		c.Close()
		return fmt.Errorf("sign attach: %w", err)
	}
	id, err := c.CreateSession(ctx, sc)
	if err != nil {
		c.Close()
		return fmt.Errorf("data attachment to %s: %w", a.Router, err)
	}
	att := &attachment{client: c, session: id, key: k}
	old, err := d.install(att)
	if old != nil {
		// Outside d.mu: closing waits for the old pump, which may be
		// delivering a packet under d.mu.
		old.client.Close()
	}
	if err != nil || att.dead.Load() {
		return err
	}
	d.f.wg.Add(1)
	go func() {
		defer d.f.wg.Done()
		d.pump(att)
	}()
	d.log.Info("data attachment up", "session", id, "key_expires", k.expires.UTC().Format(time.RFC3339))
	return nil
}

// install makes att the attachment packets go through and returns the one
// it replaces (to be closed by the caller).
func (d *destServer) install(att *attachment) (*attachment, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx.Err() != nil {
		att.dead.Store(true)
		return att, nil
	}
	if err := d.ensureMuxLocked(att.key); err != nil {
		att.dead.Store(true)
		return att, err
	}
	old := d.att
	d.att = att
	return old, nil
}

// ensureMuxLocked starts the streams' Mux and bridge on the first key.
func (d *destServer) ensureMuxLocked(k *grantedKey) error {
	if d.mux != nil {
		return nil
	}
	mux, err := streaming.NewMux(streaming.Config{Identity: k.id, Transport: d, Logger: d.log})
	if err != nil {
		return err
	}
	ln, err := mux.Listen(0)
	if err != nil {
		mux.Close()
		return err
	}
	d.mux = mux
	br := &streaming.Bridge{
		Backend: d.a.Service, Log: d.log, Stats: &d.stats, Dial: d.f.cfg.DialBackend,
		Refuse: func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.a.Draining },
	}
	d.f.wg.Add(1)
	go func() {
		defer d.f.wg.Done()
		br.Serve(d.ctx, ln)
	}()
	return nil
}

// pump hands the attachment's stream packets to the Mux until the
// router ends the attachment or the connection goes.
func (d *destServer) pump(att *attachment) {
	defer att.dead.Store(true)
	defer d.kick()
	for e := range att.client.Events() {
		switch m := e.Message.(type) {
		case *routerproto.MessagePayload:
			if m.SessionID == att.session {
				d.deliver(m.Payload)
			}
		case *routerproto.SessionStatus:
			if m.SessionID == att.session && m.Status == routerproto.SessionDestroyed {
				d.log.Info("router ended the data attachment", "session", att.session)
				att.client.Close()
			}
		case *routerproto.Disconnect:
			d.log.Info("router disconnected the data attachment", "reason", m.Reason)
		}
	}
}

func (d *destServer) deliver(payload []byte) {
	p, err := i2p.ParsePayload(payload)
	if err != nil || p.Protocol != i2p.ProtoStreaming {
		return // datagrams (echo) are answered in single-client mode only
	}
	d.mu.Lock()
	mux := d.mux
	d.mu.Unlock()
	if mux != nil {
		mux.HandlePacket(p.SrcPort, p.DstPort, p.Data)
	}
}

// SendPacket implements streaming.Transport through the attachment.
func (d *destServer) SendPacket(_ context.Context, to *i2p.Destination, srcPort, dstPort uint16, packet []byte) error {
	payload, err := streaming.WrapPacket(srcPort, dstPort, packet)
	if err != nil {
		return fmt.Errorf("stream packet to %s: %w", to.B32(), err)
	}
	d.mu.Lock()
	att := d.att
	d.mu.Unlock()
	if att == nil || att.dead.Load() {
		return fmt.Errorf("stream packet to %s: not attached to router", to.B32())
	}
	return att.client.SendMessageExpires(&routerproto.SendMessageExpires{
		SendMessage: routerproto.SendMessage{SessionID: att.session, Destination: to, Payload: payload},
		Expiration:  uint64(time.Now().Add(sendTTL).UnixMilli()),
	})
}

// release ends the streams and the attachment. It runs without d.mu
// held: closing them waits for goroutines that take it.
func (d *destServer) release() {
	d.mu.Lock()
	mux, att := d.mux, d.att
	d.mux, d.att = nil, nil
	d.mu.Unlock()
	if mux != nil {
		mux.Close()
	}
	if att != nil {
		att.client.Close()
	}
}

// shutdown ends everything when the server stops.
func (d *destServer) shutdown() {
	d.release()
	d.log.Info("destination server stopped")
}

func (d *destServer) fail(what string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failLocked(what, err)
}

func (d *destServer) failLocked(what string, err error) {
	d.errs.Add(1)
	d.lastErr = what + ": " + err.Error()
	d.log.Warn(what, "err", err)
}

func (d *destServer) status() DestStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := DestStatus{
		Name: d.a.Name, B32: d.a.Destination.B32(), Router: d.a.Router, Service: d.a.Service,
		Active: d.a.Active, Draining: d.a.Draining,
		Attached:  d.att != nil && !d.att.dead.Load(),
		BackendUp: !d.stats.BackendDown.Load(),
		Refused:   d.stats.Refused.Load(), BytesIn: d.stats.BytesIn.Load(), BytesOut: d.stats.BytesOut.Load(),
		Errors: d.errs.Load(), LastError: d.lastErr,
	}
	if d.key != nil {
		st.KeyExpires = d.key.expires
	}
	if d.mux != nil {
		ms := d.mux.Stats()
		st.Open, st.Accepted = uint64(ms.OpenStreams), ms.Accepted
		st.Refused += ms.Refused
	}
	return st
}

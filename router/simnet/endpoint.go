package simnet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/imh-project/imh/i2p"
)

var (
	// ErrNotDelivered: a payload did not reach its destination; from an
	// Endpoint's Send it comes as a *NotDeliveredError with the Reason.
	ErrNotDelivered = errors.New("simnet: not delivered")
	// ErrDestInUse: an endpoint of that destination is already attached.
	ErrDestInUse = errors.New("simnet: destination already attached")
	// ErrNoEndpoint: a router sent to a destination that is no attached
	// endpoint; router-to-router traffic is not modelled.
	ErrNoEndpoint = errors.New("simnet: no endpoint attached for destination")
)

// NotDeliveredError says why an endpoint's payload was lost, with the same
// Reason the network counts in the destination's traffic.
type NotDeliveredError struct {
	Dest   i2p.Hash
	Reason Reason
}

func (e *NotDeliveredError) Error() string {
	return fmt.Sprintf("simnet: payload to %s not delivered: %s", e.Dest.B32(), e.Reason)
}

// Unwrap makes errors.Is(err, ErrNotDelivered) hold.
func (e *NotDeliveredError) Unwrap() error { return ErrNotDelivered }

// InboxSize bounds the payloads waiting for an endpoint's handler; a router
// sending to a full inbox gets ErrNotDelivered (the streaming layer above
// retransmits, as it would after a loss on the real network).
const InboxSize = 256

// inbox hands payloads to a handler, in order, on its own goroutine, so that
// a handler may send (and a router's Send never waits for a handler).
type inbox struct {
	ch   chan []byte
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	handler func([]byte)
	closed  bool
}

func newInbox() *inbox {
	b := &inbox{ch: make(chan []byte, InboxSize), done: make(chan struct{})}
	b.wg.Go(b.run)
	return b
}

func (b *inbox) run() {
	for {
		select {
		case p := <-b.ch:
			if h := b.current(); h != nil {
				h(p)
			}
		case <-b.done:
			return
		}
	}
}

func (b *inbox) current() func([]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.handler
}

func (b *inbox) setHandler(h func([]byte)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handler = h
}

// put queues a copy of p; it fails when the inbox is closed or full.
func (b *inbox) put(p []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	select {
	case b.ch <- slices.Clone(p):
		return nil
	default:
		return fmt.Errorf("%w: inbox full (%d payloads)", ErrNotDelivered, InboxSize)
	}
}

func (b *inbox) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// close stops the goroutine and waits for it; payloads still queued are
// dropped. Closing twice is harmless.
func (b *inbox) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.done)
	b.wg.Wait()
}

// Endpoint is a remote I2P client with its own Destination, attached in
// process (Network.AttachEndpoint): it sends payloads to destinations
// through their leases, choosing and caching them as a Client of its
// Behaviour does, and receives what routers send to its Destination. It is
// the simulated peer of a streaming connection. Methods may be called
// concurrently.
type Endpoint struct {
	n     *Network
	dest  *i2p.Destination
	inbox *inbox

	mu  sync.Mutex // serializes c and seq
	c   *Client
	seq uint64
}

var _ EndpointLink = (*Endpoint)(nil)

// EndpointLink is what *Endpoint (in process) and *RemoteEndpoint (across
// processes) both offer, so that tests and tools drive either.
type EndpointLink interface {
	Destination() *i2p.Destination
	Lookup(ctx context.Context, h i2p.Hash) (*i2p.Destination, error)
	Send(ctx context.Context, to *i2p.Destination, payload []byte) error
	SetHandler(h func(payload []byte))
	Close() error
}

// AttachEndpoint attaches an endpoint for keys' Destination, choosing leases
// as b says (mix is i2pd). Only the public Destination is used: the network
// models no encryption. At most one endpoint per Destination is attached.
func (n *Network) AttachEndpoint(keys *i2p.PrivateKeys, b Behaviour) (*Endpoint, error) {
	if keys == nil || keys.Destination() == nil {
		return nil, fmt.Errorf("attach endpoint: %w: no keys", ErrBadRequest)
	}
	return n.attachEndpoint(keys.Destination(), b)
}

func (n *Network) attachEndpoint(dest *i2p.Destination, b Behaviour) (*Endpoint, error) {
	if b != "" {
		if _, err := ParseBehaviour(string(b)); err != nil {
			return nil, fmt.Errorf("attach endpoint %s: %w", dest.B32(), err)
		}
	}
	h := dest.Hash()
	n.epMu.Lock()
	defer n.epMu.Unlock()
	if _, ok := n.endpoints[h]; ok {
		return nil, fmt.Errorf("attach endpoint %s: %w", dest.B32(), ErrDestInUse)
	}
	e := &Endpoint{n: n, dest: dest, inbox: newInbox(), c: n.NewClient(dest.B32(), b)}
	n.endpoints[h] = e
	n.logger.Info("endpoint attached", "dest", dest.B32())
	return e, nil
}

// endpoint returns the attached endpoint of dest, or nil.
func (n *Network) endpoint(dest i2p.Hash) *Endpoint {
	n.epMu.Lock()
	defer n.epMu.Unlock()
	return n.endpoints[dest]
}

// Destination is the endpoint's own Destination, the one routers answer.
func (e *Endpoint) Destination() *i2p.Destination { return e.dest }

// Lookup fetches h's LeaseSet from the floodfills (after NetDBLatency) and
// returns its Destination; the LeaseSet is cached for Send like a Client
// caches it.
func (e *Endpoint) Lookup(ctx context.Context, h i2p.Hash) (*i2p.Destination, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.c.state(h)
	if err := e.c.lookup(ctx, h, d); err != nil {
		return nil, fmt.Errorf("endpoint %s lookup %s: %w", e.dest.B32(), h.B32(), err)
	}
	return d.ls.Destination, nil
}

// Send sends one payload (I2CP payload bytes, passed unchanged) to to
// through one of its leases. A payload that was not delivered returns a
// *NotDeliveredError (also counted in to's traffic): the caller retransmits.
func (e *Endpoint) Send(ctx context.Context, to *i2p.Destination, payload []byte) error {
	if to == nil {
		return fmt.Errorf("endpoint %s send: %w: no destination", e.dest.B32(), ErrBadRequest)
	}
	if e.inbox.isClosed() {
		return fmt.Errorf("endpoint %s send: %w", e.dest.B32(), ErrClosed)
	}
	h := to.Hash()
	e.mu.Lock()
	lease, out, err := e.c.route(ctx, h)
	e.seq++
	seq := e.seq
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("endpoint %s send to %s: %w", e.dest.B32(), h.B32(), err)
	}
	if out.Reason == "" {
		out = e.n.deliver(lease, h, e.c, false, seq, slices.Clone(payload))
		e.mu.Lock()
		e.c.sent(h, lease, out)
		e.mu.Unlock()
		e.n.count(h, out)
	}
	if !out.Delivered {
		return &NotDeliveredError{Dest: h, Reason: out.Reason}
	}
	return nil
}

// SetHandler installs the function called, on the endpoint's own goroutine
// and in order, with every payload a router sends to its Destination (nil
// drops them).
func (e *Endpoint) SetHandler(h func(payload []byte)) { e.inbox.setHandler(h) }

// Close detaches the endpoint and stops its goroutine; payloads still
// waiting are dropped. Closing twice is harmless.
func (e *Endpoint) Close() error {
	e.n.epMu.Lock()
	if e.n.endpoints[e.dest.Hash()] == e {
		delete(e.n.endpoints, e.dest.Hash())
	}
	e.n.epMu.Unlock()
	e.inbox.close()
	return nil
}

// receive is a router's payload from `from` reaching the endpoint: the
// endpoint's session with from is now bound to that router (as a reply
// binds a Client's), and the payload waits for the handler.
func (e *Endpoint) receive(router string, from i2p.Hash, p []byte) error {
	now := e.n.clock.Now()
	e.n.sessions.bind(e.c, from, router, now, now.Add(e.n.cfg.SessionLifetime))
	if err := e.inbox.put(p); err != nil {
		return fmt.Errorf("send to endpoint %s: %w", e.dest.B32(), err)
	}
	return nil
}

// Send is a router's payload from its destination from to the endpoint of
// to. Delivery is immediate (transit time is not modelled) and binds the
// endpoint's session with from to this router.
func (l *localLink) Send(ctx context.Context, from i2p.Hash, to *i2p.Destination, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if to == nil {
		return fmt.Errorf("send from %s: %w: no destination", l.name, ErrBadRequest)
	}
	if l.isClosed() {
		return fmt.Errorf("send from %s: %w", l.name, ErrClosed)
	}
	e := l.n.endpoint(to.Hash())
	if e == nil {
		l.n.countSend(l.name, false)
		return fmt.Errorf("send from %s to %s: %w", l.name, to.B32(), ErrNoEndpoint)
	}
	err := e.receive(l.name, from, payload)
	l.n.countSend(l.name, err == nil)
	return err
}

func (n *Network) countSend(router string, ok bool) {
	n.statsMu.Lock()
	defer n.statsMu.Unlock()
	s := n.statsLocked(router)
	if ok {
		s.Sent++
	} else {
		s.SendFailed++
	}
}

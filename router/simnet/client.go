package simnet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
)

// Reason says why a message was not delivered.
type Reason string

// The failure reasons `imh simnet send` reports (CLI.md).
const (
	// ReasonNoTunnel: the lease names no tunnel, or its router did not
	// accept the message (no live session of the destination there, or that
	// tunnel is no longer its own).
	ReasonNoTunnel Reason = "no_tunnel"
	// ReasonRouterDown: the lease's tunnel belongs to a router that is down.
	ReasonRouterDown Reason = "router_down"
	// ReasonBoundElsewhere: the client's end-to-end session is bound to
	// another router of the destination, so this one cannot decrypt.
	ReasonBoundElsewhere Reason = "session_bound_elsewhere"
	// ReasonNoLeaseSet: the lookup found no valid LeaseSet.
	ReasonNoLeaseSet Reason = "no_leaseset"
	// ReasonExpired: the lease's tunnel has expired.
	ReasonExpired Reason = "expired"
)

// Reasons lists every failure reason, in CLI.md's order.
var Reasons = []Reason{ReasonNoTunnel, ReasonRouterDown, ReasonBoundElsewhere, ReasonNoLeaseSet, ReasonExpired}

// Behaviour is how a remote client chooses leases.
type Behaviour string

// Client behaviours.
const (
	// BehaviourI2pd re-picks a random lease every RepickInterval (30 s) or
	// RepickMessages (100) messages, as i2pd senders do.
	BehaviourI2pd Behaviour = "i2pd"
	// BehaviourJava keeps its lease while it stays in the LeaseSet and is
	// not expired.
	BehaviourJava Behaviour = "java"
	// BehaviourMix alternates: even clients i2pd, odd clients java.
	BehaviourMix Behaviour = "mix"
)

// Mode is the traffic pattern of a client.
type Mode string

// Traffic modes.
const (
	// ModeOneway: the service never replies.
	ModeOneway Mode = "oneway"
	// ModeReqResp: every delivered message is answered by the router that
	// received it, which binds the client's session to that router.
	ModeReqResp Mode = "reqresp"
)

// ParseBehaviour and ParseMode accept the CLI spellings.
func ParseBehaviour(s string) (Behaviour, error) {
	switch b := Behaviour(s); b {
	case BehaviourI2pd, BehaviourJava, BehaviourMix:
		return b, nil
	}
	return "", fmt.Errorf("%w: behaviour %q, want i2pd, java or mix", ErrBadRequest, s)
}

// ParseMode accepts "oneway" and "reqresp".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeOneway, ModeReqResp:
		return m, nil
	}
	return "", fmt.Errorf("%w: mode %q, want oneway or reqresp", ErrBadRequest, s)
}

// Outcome is what happened to one message. The sender itself is not told
// (as on the real network); the network counts.
type Outcome struct {
	Delivered bool
	Router    string // the router that accepted it
	Reason    Reason // why not, if not delivered
}

// Client is a remote I2P sender: it looks a destination up at the
// floodfills, caches the LeaseSet, picks a lease by its behaviour and sends
// through it. A Client is not safe for concurrent use.
//
// Lookups. The first message looks the destination up; so does any message
// once the cached LeaseSet has expired or has no live lease left. Besides,
// a client learns what became of each message it sent (see failedLease), as
// a streaming sender learns it from the missing acknowledgement. It moves
// on as i2pd's streaming does (another lease after a resend timeout) and,
// sooner than i2pd (which asks again only once every lease has expired),
// looks the destination up again:
//   - the lease a message failed through is marked failed for the rest of
//     its life, and the next message goes through another live lease that
//     has not failed (a random one, then kept by the behaviour's rules);
//   - once RelookupFailures (2) messages in a row have failed through leases,
//     or every live lease of the cached LeaseSet has failed, the client looks
//     the destination up again, at most once per RelookupInterval (1 s), and
//     takes the floodfills' LeaseSet if its published time is newer.
//
// Two failures, not one: a single lost message may be one tunnel's bad
// moment, and the first failure already moves the client to another lease;
// a second failure in a row, on that other lease, says the cached LeaseSet
// itself is stale (a router was killed or restarted and its tunnels are
// gone), which a lookup can repair. The interval keeps a destination that
// is down but still has a valid LeaseSet at the floodfills from causing a
// lookup per message: a client then sends through its failed leases (there
// is nothing else) and looks up at most once a second. A client whose
// messages are delivered looks up no more often than before.
//
// The sender learns a failure at once; a real streaming sender learns it
// when its resend timer fires, a second or more later, so the model's
// senders move on somewhat sooner than real ones. A one-way datagram
// sender on the real network learns nothing; the model treats every client
// as one that does.
type Client struct {
	n         *Network
	name      string
	behaviour Behaviour
	rng       *rand.Rand
	dests     map[i2p.Hash]*clientDest
}

// clientDest is a client's state for one destination.
type clientDest struct {
	ls       *i2p.LeaseSet2
	lease    *i2p.Lease2
	pickedAt time.Time
	sent     int // messages since the pick

	// failed holds the leases (gateway and tunnel) a message failed
	// through, with their end (seconds): a failed lease is not picked while
	// another live one is left, also from a newer LeaseSet that still names
	// it. Entries go once their lease has ended.
	failed map[leaseKey]uint32
	// failures counts the messages in a row that failed through a lease.
	failures int
	// lookedUp is when the client last looked the destination up.
	lookedUp time.Time
}

// NewClient makes a remote client. Its random choices derive from the seed
// and name; behaviour mix is treated as i2pd.
func (n *Network) NewClient(name string, b Behaviour) *Client {
	if b == BehaviourMix || b == "" {
		b = BehaviourI2pd
	}
	return &Client{n: n, name: name, behaviour: b, rng: SeededRand(n.cfg.Seed, "client", name), dests: make(map[i2p.Hash]*clientDest)}
}

// Name is the client's name, which deliveries carry.
func (c *Client) Name() string { return c.name }

// Forget drops the cached LeaseSet of dest and what the client learnt of
// its leases, as a restarted sender would.
func (c *Client) Forget(dest i2p.Hash) {
	if d := c.dests[dest]; d != nil {
		*d = clientDest{}
	}
}

// Send sends one message to dest. It returns an error only when ctx ends
// during a lookup; a lost message is an Outcome with a Reason.
func (c *Client) Send(ctx context.Context, dest i2p.Hash, mode Mode, seq uint64) (Outcome, error) {
	lease, out, err := c.route(ctx, dest)
	if err != nil || out.Reason != "" {
		return out, err
	}
	out = c.n.deliver(lease, dest, c, mode == ModeReqResp, seq, payload(c.name, seq))
	c.sent(dest, lease, out)
	return c.n.count(dest, out), nil
}

// route looks dest up if the cached LeaseSet is gone, or again if its
// leases keep failing (relookup), and picks the lease for the next message.
// A failed Outcome (counted) means there is nothing to send through.
func (c *Client) route(ctx context.Context, dest i2p.Hash) (i2p.Lease2, Outcome, error) {
	d := c.state(dest)
	now := c.n.clock.Now()
	if d.ls == nil || int64(d.ls.ExpiresAt()) <= now.Unix() || len(c.liveLeases(d.ls, now)) == 0 {
		if err := c.lookup(ctx, dest, d); err != nil {
			if errors.Is(err, ErrNotFound) {
				return i2p.Lease2{}, c.n.count(dest, Outcome{Reason: ReasonNoLeaseSet}), nil
			}
			return i2p.Lease2{}, Outcome{}, err
		}
		now = c.n.clock.Now()
	} else if c.relookupDue(d, now) {
		if err := c.relookup(ctx, dest, d); err != nil {
			return i2p.Lease2{}, Outcome{}, err
		}
		now = c.n.clock.Now()
	}
	lease, ok := c.pick(d, now)
	if !ok {
		return i2p.Lease2{}, c.n.count(dest, Outcome{Reason: ReasonExpired}), nil
	}
	return lease, Outcome{}, nil
}

// state is the client's state for dest, made on first use.
func (c *Client) state(dest i2p.Hash) *clientDest {
	d := c.dests[dest]
	if d == nil {
		d = &clientDest{}
		c.dests[dest] = d
	}
	return d
}

func (c *Client) lookup(ctx context.Context, dest i2p.Hash, d *clientDest) error {
	if err := Sleep(ctx, c.n.clock, c.n.cfg.NetDBLatency); err != nil {
		return fmt.Errorf("client %s lookup: %w", c.name, err)
	}
	d.lookedUp = c.n.clock.Now()
	_, ls, err := c.n.db.lookup(dest)
	if err != nil {
		d.ls = nil
		return err
	}
	d.ls = ls
	return nil
}

// relookupDue reports whether the cached LeaseSet's leases have failed
// often enough to look dest up again (RelookupFailures in a row, or every
// live lease), and the last lookup is RelookupInterval old.
func (c *Client) relookupDue(d *clientDest, now time.Time) bool {
	if now.Sub(d.lookedUp) < c.n.cfg.RelookupInterval {
		return false
	}
	if d.failures >= c.n.cfg.RelookupFailures {
		return true
	}
	return len(d.failed) > 0 && len(c.usableLeases(d, now)) == 0
}

// relookup looks dest up again while a LeaseSet is cached and keeps the
// newer of the two (by published); finding nothing keeps the cached one,
// which is still valid. Only ctx's end is an error.
func (c *Client) relookup(ctx context.Context, dest i2p.Hash, d *clientDest) error {
	if err := Sleep(ctx, c.n.clock, c.n.cfg.NetDBLatency); err != nil {
		return fmt.Errorf("client %s lookup: %w", c.name, err)
	}
	d.lookedUp = c.n.clock.Now()
	d.failures = 0
	if _, ls, err := c.n.db.lookup(dest); err == nil && ls.Published > d.ls.Published {
		d.ls = ls
	}
	return nil
}

// sent records what became of a message sent through lease: a message
// lost in or behind the lease's tunnel (no_tunnel, router_down, expired)
// marks the lease failed, so that the next message takes another one; a
// delivered message ends a run of failures. A message refused with
// session_bound_elsewhere reached a working tunnel: the lease is not
// blamed, and the binding's model (TESTNET.md) is unchanged.
func (c *Client) sent(dest i2p.Hash, lease i2p.Lease2, o Outcome) {
	d := c.state(dest)
	switch {
	case o.Delivered:
		d.failures = 0
	case failedLease(o.Reason):
		if d.failed == nil {
			d.failed = make(map[leaseKey]uint32)
		}
		d.failed[leaseKey{lease.Gateway, lease.TunnelID}] = lease.End
		d.failures++
		if d.lease != nil && *d.lease == lease {
			d.lease = nil
		}
	}
}

// failedLease reports whether a message lost for reason r blames the lease
// it went through.
func failedLease(r Reason) bool {
	return r == ReasonNoTunnel || r == ReasonRouterDown || r == ReasonExpired
}

// liveLeases are the leases of ls that do not end within LeaseEndThreshold
// of now.
func (c *Client) liveLeases(ls *i2p.LeaseSet2, now time.Time) []i2p.Lease2 {
	var out []i2p.Lease2
	limit := now.Add(c.n.cfg.LeaseEndThreshold).Unix()
	for _, l := range ls.Leases {
		if int64(l.End) > limit {
			out = append(out, l)
		}
	}
	return out
}

// usableLeases are the live leases of the cached LeaseSet that have not
// failed. It forgets failed leases that have ended.
func (c *Client) usableLeases(d *clientDest, now time.Time) []i2p.Lease2 {
	for k, end := range d.failed {
		if int64(end) <= now.Unix() {
			delete(d.failed, k)
		}
	}
	live := c.liveLeases(d.ls, now)
	return slices.DeleteFunc(live, func(l i2p.Lease2) bool {
		_, bad := d.failed[leaseKey{l.Gateway, l.TunnelID}]
		return bad
	})
}

// pick chooses the lease for the next message by the client's behaviour,
// among the live leases that have not failed; when every live lease has
// failed it chooses among all of them (nothing better is known until a
// lookup finds a newer LeaseSet).
func (c *Client) pick(d *clientDest, now time.Time) (i2p.Lease2, bool) {
	live := c.usableLeases(d, now)
	if len(live) == 0 {
		live = c.liveLeases(d.ls, now)
	}
	if len(live) == 0 {
		return i2p.Lease2{}, false
	}
	keep := d.lease != nil && slices.Contains(live, *d.lease)
	if keep && c.behaviour == BehaviourI2pd {
		keep = now.Sub(d.pickedAt) < c.n.cfg.RepickInterval && d.sent < c.n.cfg.RepickMessages
	}
	if !keep {
		l := live[c.rng.IntN(len(live))]
		d.lease, d.pickedAt, d.sent = &l, now, 0
	}
	d.sent++
	return *d.lease, true
}

// deliver resolves one message of c sent through lease now.
func (n *Network) deliver(lease i2p.Lease2, dest i2p.Hash, c *Client, reply bool, seq uint64, p []byte) Outcome {
	now := n.clock.Now()
	n.mu.RLock()
	rec := n.tunnels[leaseKey{lease.Gateway, lease.TunnelID}]
	n.mu.RUnlock()
	if rec == nil {
		return Outcome{Reason: ReasonNoTunnel}
	}
	router := rec.link.name
	h := rec.link.deliveryHandler()
	switch {
	case rec.link.isClosed():
		if n.live(router) {
			return Outcome{Reason: ReasonNoTunnel}
		}
		return Outcome{Reason: ReasonRouterDown}
	case !now.Before(rec.t.Expires):
		return Outcome{Reason: ReasonExpired}
	case n.sessions.boundElsewhere(c, dest, router, now):
		return Outcome{Reason: ReasonBoundElsewhere}
	}
	ok := h != nil && h(Delivery{
		Dest: dest, TunnelID: lease.TunnelID, Gateway: lease.Gateway,
		Client: c.name, Seq: seq, Payload: p, Reply: reply,
	})
	n.countDelivery(router, ok)
	if !ok {
		if !n.clock.Now().Before(rec.t.Expires) {
			// It expired while the router looked at it.
			return Outcome{Reason: ReasonExpired}
		}
		return Outcome{Reason: ReasonNoTunnel}
	}
	if reply {
		n.sessions.bind(c, dest, router, now, now.Add(n.cfg.SessionLifetime))
	}
	return Outcome{Delivered: true, Router: router}
}

func payload(client string, seq uint64) []byte {
	return fmt.Appendf(nil, "imh simnet message %d from %s", seq, client)
}

// live reports whether a router called name is attached.
func (n *Network) live(name string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	_, ok := n.links[name]
	return ok
}

func (n *Network) countDelivery(router string, ok bool) {
	n.statsMu.Lock()
	defer n.statsMu.Unlock()
	s := n.statsLocked(router)
	if ok {
		s.Delivered++
	} else {
		s.Refused++
	}
}

// count records an outcome in the destination's traffic counters.
func (n *Network) count(dest i2p.Hash, o Outcome) Outcome {
	n.db.countTraffic(dest, o)
	return o
}

// SendConfig describes a batch of remote-client traffic (`imh simnet send`).
type SendConfig struct {
	Dest i2p.Hash `json:"dest"`
	// Count is the number of messages each client sends.
	Count int `json:"count"`
	// Clients is the number of concurrent clients.
	Clients int `json:"clients"`
	// Interval is the time between two messages of one client.
	Interval  time.Duration `json:"interval"`
	Mode      Mode          `json:"mode"`
	Behaviour Behaviour     `json:"behaviour"`
	// Messages asks for every message's outcome in SendResult.Messages
	// (`imh simnet send --messages`).
	Messages bool `json:"messages,omitempty"`
}

// Validate checks a SendConfig.
func (s SendConfig) Validate() error {
	if s.Count < 1 || s.Clients < 1 || s.Interval < 0 {
		return fmt.Errorf("%w: count %d, clients %d, interval %v", ErrBadRequest, s.Count, s.Clients, s.Interval)
	}
	if _, err := ParseMode(string(s.Mode)); err != nil {
		return err
	}
	_, err := ParseBehaviour(string(s.Behaviour))
	return err
}

// SendResult is the JSON of `imh simnet send`.
type SendResult struct {
	Delivered int            `json:"delivered"`
	Failed    int            `json:"failed"`
	Reasons   map[string]int `json:"reasons"`
	ByRouter  map[string]int `json:"by_router"`
	// Messages is every message's outcome in the order they were resolved,
	// only when SendConfig.Messages is set.
	Messages []MessageOutcome `json:"messages,omitempty"`
}

// MessageOutcome is what happened to one message of a send run: client is
// the client's index in the run, seq the message's number within the
// client, sent the network's time (the wall clock unless the daemon runs
// with a --time-scale) when the client began sending it.
type MessageOutcome struct {
	Client    int       `json:"client"`
	Seq       int       `json:"seq"`
	Sent      time.Time `json:"sent"`
	Delivered bool      `json:"delivered"`
	Router    string    `json:"router,omitempty"`
	Reason    Reason    `json:"reason,omitempty"`
}

// NewSendResult has every reason key present at zero.
func NewSendResult() SendResult {
	r := SendResult{Reasons: make(map[string]int, len(Reasons)), ByRouter: make(map[string]int)}
	for _, k := range Reasons {
		r.Reasons[string(k)] = 0
	}
	return r
}

// Add counts one outcome.
func (r *SendResult) Add(o Outcome) {
	if o.Delivered {
		r.Delivered++
		r.ByRouter[o.Router]++
		return
	}
	r.Failed++
	r.Reasons[string(o.Reason)]++
}

// Send runs cfg.Clients new clients that each send cfg.Count messages every
// cfg.Interval and returns when every message is resolved. If ctx ends
// first it returns what was resolved so far with ctx's error.
func (n *Network) Send(ctx context.Context, cfg SendConfig) (SendResult, error) {
	if err := cfg.Validate(); err != nil {
		return NewSendResult(), err
	}
	n.mu.Lock()
	n.sends++
	run := n.sends
	n.mu.Unlock()
	var (
		mu   sync.Mutex
		res  = NewSendResult()
		wg   sync.WaitGroup
		errs = make([]error, cfg.Clients)
	)
	for i := range cfg.Clients {
		b := cfg.Behaviour
		if b == BehaviourMix {
			b = []Behaviour{BehaviourI2pd, BehaviourJava}[i%2]
		}
		c := n.NewClient(fmt.Sprintf("send%d-c%d", run, i), b)
		wg.Go(func() {
			errs[i] = c.run(ctx, cfg, func(seq int, sent time.Time, o Outcome) {
				mu.Lock()
				res.Add(o)
				if cfg.Messages {
					res.Messages = append(res.Messages, MessageOutcome{Client: i, Seq: seq, Sent: sent,
						Delivered: o.Delivered, Router: o.Router, Reason: o.Reason})
				}
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// run sends on a fixed schedule (message i at start + i x Interval): a
// client that wakes late catches up instead of drifting, so the number of
// messages per simulated time holds even when a scaled clock's timers fire
// late.
func (c *Client) run(ctx context.Context, cfg SendConfig, add func(seq int, sent time.Time, o Outcome)) error {
	start := c.n.clock.Now()
	for seq := range cfg.Count {
		if seq > 0 {
			next := start.Add(time.Duration(seq) * cfg.Interval)
			if err := Sleep(ctx, c.n.clock, next.Sub(c.n.clock.Now())); err != nil {
				return err
			}
		}
		sent := c.n.clock.Now()
		o, err := c.Send(ctx, cfg.Dest, cfg.Mode, uint64(seq))
		if err != nil {
			return err
		}
		add(seq, sent, o)
	}
	return nil
}

func (r SendResult) clone() SendResult {
	out := NewSendResult()
	out.Delivered, out.Failed = r.Delivered, r.Failed
	for k, v := range r.Reasons {
		out.Reasons[k] = v
	}
	for k, v := range r.ByRouter {
		out.ByRouter[k] = v
	}
	out.Messages = slices.Clone(r.Messages)
	return out
}

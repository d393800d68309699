// Package i2cpclient is the client side of a plain I2CP session that the
// imh commands open on a router (stock i2pd or Java I2P, or an imh router
// spoken to without extensions): it answers the router's lease requests
// with signed LeaseSet2s, opens sessions with transient destinations,
// looks destinations up and probes a router (Probe). It exists so that
// `imh i2cp probe`, `imh ping`, the stream commands (internal/streamnet)
// and their tests share one implementation of these steps instead of each
// command carrying its own; routerproto stays the codec and connection,
// this package is what a client does with it.
package i2cpclient

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/clock"
	"github.com/imh-project/imh/routerproto"
)

// Lookup timings: a router gets LookupEach to answer one HostLookup;
// while the target's LeaseSet is not found yet, Lookup asks again every
// lookupRetry.
const (
	LookupEach  = 10 * time.Second
	lookupRetry = time.Second
	// destroyWait bounds how long WaitDestroyed waits for SessionDestroyed.
	destroyWait = 5 * time.Second
)

// TransientOptions are the session options of a transient destination:
// zero-hop outbound tunnels (TESTNET.md: the 2.45.1 publish stall), two
// one-hop inbound ones, an X25519 LeaseSet2. nickname names the tunnels in
// the router's console.
func TransientOptions(nickname string) i2p.Mapping {
	return i2p.Mapping{
		"inbound.length":          "1",
		"outbound.length":         "0",
		"inbound.quantity":        "2",
		"outbound.quantity":       "2",
		"i2cp.leaseSetEncType":    "4",
		"i2cp.leaseSetType":       "3",
		"i2cp.fastReceive":        "true",
		"i2cp.messageReliability": "none",
		"inbound.nickname":        nickname,
		"outbound.nickname":       nickname,
	}
}

// LeaseAnswerer answers a session's lease requests with signed LeaseSet2s.
// A stock router builds the tunnels but leaves the LeaseSet to the client:
// a session whose lease request goes unanswered is closed (i2pd after
// 10 s), so every client session needs one of these. Its methods that read
// events (WaitLeaseRequest, Keep, WaitDestroyed) must not run beside
// another reader of the client's events; Answer may be called by such a
// reader.
type LeaseAnswerer struct {
	c    *routerproto.Client
	keys *i2p.PrivateKeys
	lk   *i2p.LeaseSetKey
	sid  uint16

	mu            sync.Mutex
	lastPublished uint32
	leases        []i2p.Lease2 // of the last request answered
}

// NewLeaseAnswerer answers the lease requests of session sid, created on c
// with keys, with LeaseSet2s carrying a new X25519 encryption key.
func NewLeaseAnswerer(c *routerproto.Client, keys *i2p.PrivateKeys, sid uint16) (*LeaseAnswerer, error) {
	lk, err := i2p.NewLeaseSetKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("leaseset key: %w", err)
	}
	return &LeaseAnswerer{c: c, keys: keys, lk: lk, sid: sid}, nil
}

// OpenTransient creates a session with new keys (a transient destination:
// ping and the stream commands need a source, not an identity) and returns
// what answers its lease requests.
func OpenTransient(ctx context.Context, c *routerproto.Client, opts i2p.Mapping) (*LeaseAnswerer, error) {
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("transient keys: %w", err)
	}
	lk, err := i2p.NewLeaseSetKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("leaseset key: %w", err)
	}
	sc, err := routerproto.SignSessionConfig(keys, opts, uint64(c.RouterNow().UnixMilli()))
	if err != nil {
		return nil, fmt.Errorf("session config: %w", err)
	}
	sid, err := c.CreateSession(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return &LeaseAnswerer{c: c, keys: keys, lk: lk, sid: sid}, nil
}

// Keys are the session's destination keys; the caller signs datagrams
// with them.
func (p *LeaseAnswerer) Keys() *i2p.PrivateKeys { return p.keys }

// SessionID is the router's id of the session, for the messages the caller
// sends in it.
func (p *LeaseAnswerer) SessionID() uint16 { return p.sid }

// Leases are the leases of the last lease request answered (or being
// answered when Answer failed), for reports; nil before the first.
func (p *LeaseAnswerer) Leases() []i2p.Lease2 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]i2p.Lease2(nil), p.leases...)
}

// WaitLeaseRequest waits for the first lease request and answers it; a
// session status other than created/updated, a rejected LeaseSet or a
// disconnect first is an error.
func (p *LeaseAnswerer) WaitLeaseRequest(ctx context.Context) error {
	for {
		select {
		case e, ok := <-p.c.Events():
			if !ok {
				return fmt.Errorf("waiting for lease request: connection closed: %w", p.c.Err())
			}
			answered, err := p.handle(e)
			if err != nil || answered {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("no lease request: %w", ctx.Err())
		}
	}
}

// Keep answers events until ctx ends and returns nil then; the session
// must stay open meanwhile (anything that ends it is an error).
func (p *LeaseAnswerer) Keep(ctx context.Context) error {
	for {
		select {
		case e, ok := <-p.c.Events():
			if !ok {
				return fmt.Errorf("session not kept: connection closed: %w", p.c.Err())
			}
			if _, err := p.handle(e); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// handle processes one event; answered reports a lease request answered.
func (p *LeaseAnswerer) handle(e routerproto.Event) (answered bool, err error) {
	switch m := e.Message.(type) {
	case *routerproto.RequestVariableLeaseSet:
		if m.SessionID != p.sid {
			return false, nil
		}
		return true, p.Answer(m)
	case *routerproto.SessionStatus:
		if m.SessionID == p.sid && m.Status != routerproto.SessionCreated && m.Status != routerproto.SessionUpdated {
			return false, fmt.Errorf("session not kept: router sent status %s", m.Status)
		}
	case *routerproto.LeaseSetStatus:
		if m.State == routerproto.LeaseSetRejected {
			return false, fmt.Errorf("router rejected the LeaseSet: %s", m.Reason)
		}
	case *routerproto.NeedLeaseSet:
		return false, nil
	case *routerproto.Disconnect:
		return false, fmt.Errorf("session not kept: router disconnected: %s", m.Reason)
	}
	return false, nil
}

// Answer signs a LeaseSet2 for the requested leases and sends it. Its
// published time is the router's clock, strictly increasing across
// answers: a router drops a LeaseSet no newer than the one it holds.
func (p *LeaseAnswerer) Answer(m *routerproto.RequestVariableLeaseSet) error {
	if len(m.Leases) == 0 {
		return errors.New("lease request without leases")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	published := uint32(p.c.RouterNow().Unix())
	if published <= p.lastPublished {
		published = p.lastPublished + 1
	}
	ls := &i2p.LeaseSet2{Destination: p.keys.Destination(), Published: published, Keys: []i2p.EncryptionKey{p.lk.EncryptionKey()}}
	p.leases = p.leases[:0]
	var maxEnd uint32
	for _, l := range m.Leases {
		l2 := l.ToLease2()
		ls.Leases = append(ls.Leases, l2)
		maxEnd = max(maxEnd, l2.End)
		p.leases = append(p.leases, l2)
	}
	if maxEnd <= published {
		return fmt.Errorf("lease request with leases that already expired (latest end %d, now %d)", maxEnd, published)
	}
	ls.Expires = uint16(min(maxEnd-published, 0xFFFF))
	if err := ls.Sign(p.keys); err != nil {
		return fmt.Errorf("sign leaseset: %w", err)
	}
	p.lastPublished = published
	return p.c.CreateLeaseSet2(&routerproto.CreateLeaseSet2{
		SessionID:   p.sid,
		LeaseSet:    ls,
		PrivateKeys: []routerproto.LeaseSetPrivateKey{{Type: i2p.EncX25519, Key: p.lk.Private()}},
	})
}

// WaitDestroyed gives the router a moment (at most 5 s) to confirm
// DestroySession: i2pd and imh answer SessionDestroyed, Java may just
// close the connection.
func (p *LeaseAnswerer) WaitDestroyed(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, destroyWait)
	defer cancel()
	for {
		select {
		case e, ok := <-p.c.Events():
			if !ok {
				return
			}
			if st, isStatus := e.Message.(*routerproto.SessionStatus); isStatus && st.Status == routerproto.SessionDestroyed {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// Lookup finds a Destination through the router in session sid, asking
// again while its LeaseSet is not found yet (a destination that has just
// published may take a while to reach the floodfills), until ctx ends.
func Lookup(ctx context.Context, c *routerproto.Client, sid uint16, h i2p.Hash) (*i2p.Destination, error) {
	for {
		r, err := c.HostLookup(ctx, &routerproto.HostLookup{SessionID: sid, TimeoutMs: uint32(LookupEach / time.Millisecond), LookupType: routerproto.LookupHash, Hash: h})
		if err != nil {
			return nil, fmt.Errorf("look up %s: %w", h.B32(), err)
		}
		if r.Result == routerproto.HostOK && r.Destination != nil && r.Destination.Hash() == h {
			return r.Destination, nil
		}
		if err := clock.Sleep(ctx, clock.Real(), lookupRetry); err != nil {
			return nil, fmt.Errorf("%s not found (no LeaseSet): %w", h.B32(), err)
		}
	}
}

// ProbeOptions are the session options of a probe: zero-hop tunnels (the
// quickest a router can offer) and an X25519 LeaseSet2 it publishes.
func ProbeOptions() i2p.Mapping {
	return i2p.Mapping{
		"inbound.length":           "0",
		"outbound.length":          "0",
		"inbound.quantity":         "1",
		"outbound.quantity":        "1",
		"i2cp.leaseSetEncType":     "4",
		"i2cp.leaseSetType":        "3",
		"i2cp.fastReceive":         "true",
		"i2cp.messageReliability":  "none",
		"inbound.nickname":         "imh-probe",
		"outbound.nickname":        "imh-probe",
		"i2cp.dontPublishLeaseSet": "false",
	}
}

// SessionReport is what KeepSession saw.
type SessionReport struct {
	SessionID  uint16
	LeaseAfter time.Duration // CreateSession to the first lease request
	Leases     []i2p.Lease2  // of the last lease request answered
}

// KeepSession proves that a client can hold a session on the router with
// keys: it creates one with opts, answers its first lease request within
// leaseTimeout, keeps answering for keepFor (longer than a router's
// LeaseSet deadline, i2pd's 10 s) and fails unless the session is still
// open, then destroys it. Once the session was created, a failure returns
// the report so far with the error.
func KeepSession(ctx context.Context, c *routerproto.Client, keys *i2p.PrivateKeys, opts i2p.Mapping, leaseTimeout, keepFor time.Duration) (*SessionReport, error) {
	sc, err := routerproto.SignSessionConfig(keys, opts, uint64(c.RouterNow().UnixMilli()))
	if err != nil {
		return nil, fmt.Errorf("session config: %w", err)
	}
	created := time.Now()
	sid, err := c.CreateSession(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	rep := &SessionReport{SessionID: sid}
	p, err := NewLeaseAnswerer(c, keys, sid)
	if err != nil {
		return rep, err
	}
	leaseCtx, cancel := context.WithTimeout(ctx, leaseTimeout)
	defer cancel()
	if err := p.WaitLeaseRequest(leaseCtx); err != nil {
		return rep, err
	}
	rep.LeaseAfter = time.Since(created)
	keepCtx, cancelKeep := context.WithTimeout(ctx, keepFor)
	defer cancelKeep()
	err = p.Keep(keepCtx)
	rep.Leases = p.Leases()
	if err != nil {
		return rep, err
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if err := c.DestroySession(sid); err != nil {
		return rep, fmt.Errorf("destroy session: %w", err)
	}
	p.WaitDestroyed(ctx)
	return rep, nil
}

// Package ping measures whether a destination answers, from a session of
// its own on a router: it opens a session with a transient destination over
// plain I2CP, waits for its first tunnels, looks the target up and sends it
// numbered repliable datagrams that the target's echo service returns (or
// raw datagrams that nothing answers, counted where they arrive). It exists
// so that `imh ping` is only flags and printing, and so that the engine —
// what counts as a reply, when to stop waiting, how a router's delivery
// failures explain an empty run — is tested at its own seam.
package ping

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/clock"
	"github.com/imh-project/imh/internal/i2cpclient"
	"github.com/imh-project/imh/routerproto"
)

// Timings: setting up takes the router's first tunnels (seconds on a
// private network, up to minutes on the real one) and a lookup of the
// target; replies may come ReplyWait after the last send; one-way sends
// get Drain to leave the router before the session is closed.
const (
	SetupTimeout = 3 * time.Minute
	ReplyWait    = 15 * time.Second
	Drain        = 3 * time.Second
)

// magic starts every ping's data: replies are recognised by it, the run's
// random id and the sequence number.
var magic = []byte("imh-ping")

// Options are one run's parameters; Router names the router in messages
// (the address the Dialer connects to).
type Options struct {
	Router   string
	Count    int
	Interval time.Duration
	Oneway   bool
	// ReplyWait, when positive, replaces ReplyWait / Drain (tests).
	ReplyWait time.Duration
}

// Result is what came back; its JSON is the one docs/cli.md promises for
// `imh ping --json`.
type Result struct {
	Sent     int       `json:"sent"`
	Received int       `json:"received"`
	RTTms    []float64 `json:"rtt_ms"`

	// Why explains an empty run with the delivery failures the router
	// reported, worst first (": the router at ... reported ..."); "" when
	// it reported none.
	Why string `json:"-"`
}

// Dialer connects to the router with cfg. It is the caller's so that the
// caller decides transport and credentials (the CLI's i2cps:// and TLS
// files); Run decides the protocol options.
type Dialer func(ctx context.Context, cfg routerproto.ClientConfig) (*routerproto.Client, error)

// pinger is one run: the session, what was sent when, what came back.
type pinger struct {
	c      *routerproto.Client
	target i2p.Hash
	runID  [8]byte
	la     *i2cpclient.LeaseAnswerer
	leased chan struct{} // closed after the first lease request was answered

	mu       sync.Mutex
	sentAt   map[uint32]time.Time
	got      map[uint32]bool
	rtts     []float64
	allIn    chan struct{} // closed when every ping sent so far was answered
	expected int
	fatal    error
	failed   map[routerproto.MessageStatusCode]int // delivery failures the router reported
}

// Run pings target from a transient session on the router dial connects
// to, as o says, writing progress lines to progress. It returns a Result
// when the pings went out, whatever came back; an error when they could
// not be sent. The connection and the goroutine reading it end before Run
// returns.
func Run(ctx context.Context, dial Dialer, target i2p.Hash, o Options, progress io.Writer) (*Result, error) {
	ccfg := routerproto.DefaultClientConfig()
	ccfg.Extensions = false // standard I2CP, whatever the router is
	c, err := dial(ctx, ccfg)
	if err != nil {
		return nil, fmt.Errorf("ping: router %s: %w", o.Router, err)
	}
	defer c.Close()
	la, err := i2cpclient.OpenTransient(ctx, c, i2cpclient.TransientOptions("imh-ping"))
	if err != nil {
		return nil, fmt.Errorf("ping: %s: %w", o.Router, err)
	}
	sid := la.SessionID()
	p := &pinger{
		c: c, target: target, leased: make(chan struct{}),
		la:     la,
		sentAt: make(map[uint32]time.Time), got: make(map[uint32]bool), allIn: make(chan struct{}),
		failed:   map[routerproto.MessageStatusCode]int{},
		expected: o.Count,
	}
	if _, err := rand.Read(p.runID[:]); err != nil {
		return nil, fmt.Errorf("ping: run id: %w", err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		p.events()
	}()
	// Last out: close the connection, which ends the event reader.
	defer func() {
		c.Close()
		<-stopped
	}()
	defer func() { _ = c.DestroySession(sid) }()

	setup, cancel := context.WithTimeout(ctx, SetupTimeout)
	defer cancel()
	select {
	case <-p.leased:
	case <-c.Done():
		return nil, fmt.Errorf("ping: router %s closed the session: %w", o.Router, p.err())
	case <-setup.Done():
		return nil, fmt.Errorf("ping: no tunnels on %s: %w", o.Router, setup.Err())
	}
	to, err := i2cpclient.Lookup(setup, c, sid, target)
	if err != nil {
		return nil, fmt.Errorf("ping: %w", err)
	}
	fmt.Fprintf(progress, "ping: %s from %s via %s\n", target.B32(), la.Keys().Destination().B32(), o.Router)
	res := &Result{RTTms: []float64{}}
	for seq := range uint32(o.Count) {
		if seq > 0 && clock.Sleep(ctx, clock.Real(), o.Interval) != nil {
			break
		}
		if err := p.send(sid, to, seq, o.Oneway); err != nil {
			if res.Sent == 0 {
				return nil, fmt.Errorf("ping: send to %s: %w", target.B32(), err)
			}
			fmt.Fprintf(progress, "ping: send %d: %v\n", seq, err)
			break
		}
		res.Sent++
	}
	p.mu.Lock()
	if p.expected != res.Sent {
		p.expected = res.Sent
		p.checkAllInLocked()
	}
	p.mu.Unlock()
	wait := ReplyWait
	if o.Oneway {
		wait = Drain
	}
	if o.ReplyWait > 0 {
		wait = o.ReplyWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	if o.Oneway {
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	} else {
		select {
		case <-p.allIn:
		case <-t.C:
		case <-ctx.Done():
		case <-c.Done():
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	res.Received = len(p.got)
	res.RTTms = append(res.RTTms, p.rtts...)
	res.Why = why(o.Router, p.failed)
	return res, nil
}

// why explains an empty run from the delivery failures the router at addr
// reported (MessageStatus), worst first; "" when it reported none.
func why(addr string, failed map[routerproto.MessageStatusCode]int) string {
	if len(failed) == 0 {
		return ""
	}
	codes := slices.Sorted(maps.Keys(failed))
	slices.SortStableFunc(codes, func(a, b routerproto.MessageStatusCode) int { return failed[b] - failed[a] })
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s for %d", messageStatusName(c), failed[c]))
	}
	why := fmt.Sprintf(": the router at %s reported %s", addr, strings.Join(parts, ", "))
	if codes[0] == routerproto.MsgNoLeaseSet {
		// The lookup found the target, so a router that now has no route
		// to it is a simulated one: it carries client messages only to
		// endpoints of the simulated network.
		why += " (a simulated router, imh router serve --network, delivers only to endpoints of the simulated network, " +
			"not to destinations hosted on its routers: ping through a real router, or measure with imh simnet send --mode reqresp)"
	}
	return why
}

// messageStatusName names a MessageStatus code (I2P-WIRE 4.13).
func messageStatusName(c routerproto.MessageStatusCode) string {
	names := map[routerproto.MessageStatusCode]string{
		routerproto.MsgBestEffortFailure: "best-effort failure", routerproto.MsgGuaranteedFailure: "guaranteed failure",
		routerproto.MsgLocalFailure: "local failure", routerproto.MsgRouterFailure: "router failure",
		routerproto.MsgNetworkFailure: "network failure", routerproto.MsgBadSession: "bad session",
		routerproto.MsgBadMessage: "bad message", routerproto.MsgBadOptions: "bad options",
		routerproto.MsgOverflow: "overflow", routerproto.MsgExpired: "expired",
		routerproto.MsgBadLocalLeaseSet: "bad local leaseset", routerproto.MsgNoLocalTunnels: "no local tunnels",
		routerproto.MsgUnsupportedEncryption: "unsupported encryption", routerproto.MsgBadDestination: "bad destination",
		routerproto.MsgBadLeaseSet: "bad leaseset", routerproto.MsgExpiredLeaseSet: "expired leaseset",
		routerproto.MsgNoLeaseSet: "no leaseset (no route to the destination)", routerproto.MsgMetaLeaseSet: "meta leaseset",
		routerproto.MsgLoopbackDenied: "loopback denied",
	}
	if n, ok := names[c]; ok {
		return fmt.Sprintf("%q", n)
	}
	return fmt.Sprintf("status %d", uint8(c))
}

func (p *pinger) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fatal != nil {
		return p.fatal
	}
	if err := p.c.Err(); err != nil {
		return err
	}
	return errors.New("connection closed")
}

// data is magic | run id | sequence number.
func (p *pinger) data(seq uint32) []byte {
	b := append(append([]byte(nil), magic...), p.runID[:]...)
	return binary.BigEndian.AppendUint32(b, seq)
}

func (p *pinger) send(sid uint16, to *i2p.Destination, seq uint32, oneway bool) error {
	data := p.data(seq)
	pl := i2p.Payload{Protocol: i2p.ProtoRawDatagram, Data: data}
	if !oneway {
		dg, err := i2p.NewRepliableDatagram(p.la.Keys(), data)
		if err != nil {
			return fmt.Errorf("datagram: %w", err)
		}
		if pl.Data, err = dg.MarshalBinary(); err != nil {
			return fmt.Errorf("datagram: %w", err)
		}
		pl.Protocol = i2p.ProtoRepliableDatagram
	}
	raw, err := pl.MarshalBinary()
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	p.mu.Lock()
	p.sentAt[seq] = time.Now()
	p.mu.Unlock()
	return p.c.SendMessageExpires(&routerproto.SendMessageExpires{
		SendMessage: routerproto.SendMessage{SessionID: sid, Destination: to, Payload: raw, Nonce: seq + 1},
		Expiration:  uint64(p.c.RouterNow().Add(time.Minute).UnixMilli()),
	})
}

// events answers lease requests and counts replies until the connection
// ends.
func (p *pinger) events() {
	first := true
	for e := range p.c.Events() {
		switch m := e.Message.(type) {
		case *routerproto.RequestVariableLeaseSet:
			if m.SessionID != p.la.SessionID() {
				continue
			}
			if err := p.la.Answer(m); err != nil {
				p.mu.Lock()
				p.fatal = err
				p.mu.Unlock()
				p.c.Close()
				return
			}
			if first {
				first = false
				close(p.leased)
			}
		case *routerproto.MessagePayload:
			p.reply(m.Payload)
		case *routerproto.MessageStatus:
			if m.SessionID == p.la.SessionID() && m.Nonce != 0 && m.Status != routerproto.MsgAvailable && !m.Status.Success() {
				p.mu.Lock()
				p.failed[m.Status]++
				p.checkAllInLocked()
				p.mu.Unlock()
			}
		case *routerproto.Disconnect:
			p.mu.Lock()
			p.fatal = fmt.Errorf("router disconnected: %s", m.Reason)
			p.mu.Unlock()
		}
	}
}

// reply records an echo of one of this run's pings, signed by the target.
func (p *pinger) reply(payload []byte) {
	pl, err := i2p.ParsePayload(payload)
	if err != nil || pl.Protocol != i2p.ProtoRepliableDatagram {
		return
	}
	dg, err := i2p.ParseRepliableDatagram(pl.Data)
	if err != nil || dg.From.Hash() != p.target || dg.Verify() != nil {
		return
	}
	prefix := append(append([]byte(nil), magic...), p.runID[:]...)
	if len(dg.Data) != len(prefix)+4 || !bytes.HasPrefix(dg.Data, prefix) {
		return
	}
	seq := binary.BigEndian.Uint32(dg.Data[len(prefix):])
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.sentAt[seq]
	if !ok || p.got[seq] {
		return
	}
	p.got[seq] = true
	p.rtts = append(p.rtts, float64(now.Sub(at).Microseconds())/1000)
	p.checkAllInLocked()
}

// checkAllInLocked closes allIn once every ping sent was answered or
// reported undeliverable by the router: nothing more can come back.
func (p *pinger) checkAllInLocked() {
	failed := 0
	for _, n := range p.failed {
		failed += n
	}
	if len(p.got)+failed >= p.expected {
		select {
		case <-p.allIn:
		default:
			close(p.allIn)
		}
	}
}

// WriteText writes the summary `imh ping` prints without --json
// (docs/cli.md): for a one-way run how many datagrams went to target,
// else sent, received and lost, and the round trips' min/avg/max when
// replies came.
func (r *Result) WriteText(w io.Writer, target i2p.Hash, oneway bool) error {
	if oneway {
		_, err := fmt.Fprintf(w, "%d raw datagrams sent to %s (one-way: count them at the receiver)\n", r.Sent, target.B32())
		return err
	}
	lost := r.Sent - r.Received
	if _, err := fmt.Fprintf(w, "%d sent, %d received, %d lost\n", r.Sent, r.Received, lost); err != nil || len(r.RTTms) == 0 {
		return err
	}
	s := slices.Clone(r.RTTms)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	_, err := fmt.Fprintf(w, "rtt min/avg/max = %.1f/%.1f/%.1f ms\n", s[0], sum/float64(len(s)), s[len(s)-1])
	return err
}

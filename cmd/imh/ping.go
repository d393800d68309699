package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

func init() { register(newPingCmd) }

// Ping timings: setting up takes the router's first tunnels (seconds on a
// private network, up to minutes on the real one) and a lookup of the
// target; replies may come this long after the last send; one-way sends
// get this long to leave the router before the session is closed.
const (
	pingSetupTimeout = 3 * time.Minute
	pingReplyWait    = 15 * time.Second
	pingDrain        = 3 * time.Second
	pingLookupEach   = 10 * time.Second
)

// pingMagic starts every ping's data: replies are recognised by it, the
// run's random id and the sequence number.
var pingMagic = []byte("imh-ping")

type pingOptions struct {
	via      string
	count    int
	interval time.Duration
	oneway   bool
	asJSON   bool
	// replyWait overrides pingReplyWait / pingDrain (tests).
	replyWait time.Duration
}

// pingResult is the JSON CLI.md promises.
type pingResult struct {
	Sent     int       `json:"sent"`
	Received int       `json:"received"`
	RTTms    []float64 `json:"rtt_ms"`

	why string // when nothing came back: what the router said, if anything
}

func newPingCmd() *cobra.Command {
	var o pingOptions
	cmd := &cobra.Command{
		Use:   "ping B32 --via i2cp://H:P [--count 10] [--interval 1s] [--oneway] [--json]",
		Short: "measure reachability of a destination from a session of its own on a router",
		Long: `Open a session with a transient destination on the router at --via (standard
I2CP: zero-hop outbound and one-hop inbound tunnels), look the target up and
send it --count repliable datagrams (protocol 17), one every --interval. The
'echo' service of an imh destination answers each; the round trips are
printed. --oneway sends raw datagrams (protocol 18) that nothing answers:
count them where they arrive ('payloads_by_router' in 'imh status').
Each datagram asks the router for its delivery status; a router that
reports a failure is quoted when nothing came back.
Exit 0 when at least one reply came back (or, with --oneway, when the
datagrams went out); 1 when none did (the summary is printed all the same)
or the pings could not be sent.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := i2p.ParseB32(args[0])
			if err != nil {
				return usageErrorf("ping: %v", err)
			}
			if o.via == "" {
				return usageErrorf("ping: --via i2cp://H:P is required")
			}
			addr, err := parseI2CPAddr(o.via)
			if err != nil {
				return err
			}
			if o.count < 1 || o.interval < 0 {
				return usageErrorf("ping: --count must be at least 1 and --interval not negative")
			}
			res, err := runPing(cmd.Context(), addr, target, o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := printPing(cmd.OutOrStdout(), target, res, o); err != nil {
				return err
			}
			if !o.oneway && res.Received == 0 {
				return fmt.Errorf("ping: no reply from %s (%d sent)%s", target.B32(), res.Sent, res.why)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.via, "via", "", "router to send from (i2cp://H:P)")
	f.IntVar(&o.count, "count", 10, "how many datagrams to send")
	f.DurationVar(&o.interval, "interval", time.Second, "time between sends")
	f.BoolVar(&o.oneway, "oneway", false, "send raw datagrams that nothing answers")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object")
	return cmd
}

// pingOptionsI2CP are the session options: zero-hop outbound tunnels
// (TESTNET.md: the 2.45.1 publish stall), one-hop inbound.
func pingOptionsI2CP() i2p.Mapping {
	return i2p.Mapping{
		"inbound.length":          "1",
		"outbound.length":         "0",
		"inbound.quantity":        "2",
		"outbound.quantity":       "2",
		"i2cp.leaseSetEncType":    "4",
		"i2cp.leaseSetType":       "3",
		"i2cp.fastReceive":        "true",
		"i2cp.messageReliability": "none",
		"inbound.nickname":        "imh-ping",
		"outbound.nickname":       "imh-ping",
	}
}

// openTransientSession opens a session with new keys (a transient
// destination) and returns what answers its lease requests.
func openTransientSession(ctx context.Context, c *routerproto.Client, opts i2p.Mapping) (*leaseAnswerer, error) {
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		return nil, err
	}
	lk, err := i2p.NewLeaseSetKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	sc, err := routerproto.SignSessionConfig(keys, opts, uint64(c.RouterNow().UnixMilli()))
	if err != nil {
		return nil, err
	}
	sid, err := c.CreateSession(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return &leaseAnswerer{c: c, keys: keys, lk: lk, sid: sid}, nil
}

// pinger is one ping run: the session, what was sent when, what came back.
type pinger struct {
	c      *routerproto.Client
	keys   *i2p.PrivateKeys
	target i2p.Hash
	runID  [8]byte
	la     *leaseAnswerer
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

func runPing(ctx context.Context, addr string, target i2p.Hash, o pingOptions, stderr io.Writer) (*pingResult, error) {
	ccfg := routerproto.DefaultClientConfig()
	ccfg.Extensions = false // standard I2CP, whatever the router is
	c, err := dialRouterCLI(ctx, addr, ccfg)
	if err != nil {
		return nil, fmt.Errorf("ping: router %s: %w", addr, err)
	}
	defer c.Close()
	la, err := openTransientSession(ctx, c, pingOptionsI2CP())
	if err != nil {
		return nil, fmt.Errorf("ping: %s: %w", addr, err)
	}
	keys, sid := la.keys, la.sid
	p := &pinger{
		c: c, keys: keys, target: target, leased: make(chan struct{}),
		la:     la,
		sentAt: make(map[uint32]time.Time), got: make(map[uint32]bool), allIn: make(chan struct{}),
		failed:   map[routerproto.MessageStatusCode]int{},
		expected: o.count,
	}
	if _, err := rand.Read(p.runID[:]); err != nil {
		return nil, err
	}
	go p.events()
	defer func() { _ = c.DestroySession(sid) }()

	setup, cancel := context.WithTimeout(ctx, pingSetupTimeout)
	defer cancel()
	select {
	case <-p.leased:
	case <-c.Done():
		return nil, fmt.Errorf("ping: router %s closed the session: %w", addr, p.err())
	case <-setup.Done():
		return nil, fmt.Errorf("ping: no tunnels on %s: %w", addr, setup.Err())
	}
	to, err := p.lookup(setup)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "ping: %s from %s via %s\n", target.B32(), keys.Destination().B32(), addr)
	res := &pingResult{RTTms: []float64{}}
	for seq := range uint32(o.count) {
		if seq > 0 && pingSleep(ctx, o.interval) != nil {
			break
		}
		if err := p.send(sid, to, seq, o.oneway); err != nil {
			if res.Sent == 0 {
				return nil, fmt.Errorf("ping: send to %s: %w", target.B32(), err)
			}
			fmt.Fprintf(stderr, "ping: send %d: %v\n", seq, err)
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
	wait := pingReplyWait
	if o.oneway {
		wait = pingDrain
	}
	if o.replyWait > 0 {
		wait = o.replyWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	if o.oneway {
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
	res.why = p.whyLocked(addr)
	return res, nil
}

// whyLocked explains an empty run from the delivery failures the router
// reported (MessageStatus), worst first; "" when it reported none.
func (p *pinger) whyLocked(addr string) string {
	if len(p.failed) == 0 {
		return ""
	}
	codes := slices.Sorted(maps.Keys(p.failed))
	slices.SortStableFunc(codes, func(a, b routerproto.MessageStatusCode) int { return p.failed[b] - p.failed[a] })
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s for %d", messageStatusName(c), p.failed[c]))
	}
	why := fmt.Sprintf(": the router at %s reported %s", addr, strings.Join(parts, ", "))
	if codes[0] == routerproto.MsgNoLeaseSet {
		// The lookup above found the target, so a router that now has no
		// route to it is a simulated one: it carries client messages only
		// to endpoints of the simulated network.
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

func pingSleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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

// lookup finds the target's Destination through the router.
func (p *pinger) lookup(ctx context.Context) (*i2p.Destination, error) {
	d, err := lookupHash(ctx, p.c, p.la.sid, p.target)
	if err != nil {
		return nil, fmt.Errorf("ping: %w", err)
	}
	return d, nil
}

// pingData is magic | run id | sequence number.
func (p *pinger) pingData(seq uint32) []byte {
	b := append(append([]byte(nil), pingMagic...), p.runID[:]...)
	return binary.BigEndian.AppendUint32(b, seq)
}

func (p *pinger) send(sid uint16, to *i2p.Destination, seq uint32, oneway bool) error {
	data := p.pingData(seq)
	pl := i2p.Payload{Protocol: i2p.ProtoRawDatagram, Data: data}
	if !oneway {
		dg, err := i2p.NewRepliableDatagram(p.keys, data)
		if err != nil {
			return err
		}
		if pl.Data, err = dg.MarshalBinary(); err != nil {
			return err
		}
		pl.Protocol = i2p.ProtoRepliableDatagram
	}
	raw, err := pl.MarshalBinary()
	if err != nil {
		return err
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
	var probe probeResult
	first := true
	for e := range p.c.Events() {
		switch m := e.Message.(type) {
		case *routerproto.RequestVariableLeaseSet:
			if m.SessionID != p.la.sid {
				continue
			}
			if err := p.la.answer(m, &probe); err != nil {
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
			if m.SessionID == p.la.sid && m.Nonce != 0 && m.Status != routerproto.MsgAvailable && !m.Status.Success() {
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
	prefix := append(append([]byte(nil), pingMagic...), p.runID[:]...)
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

func printPing(w io.Writer, target i2p.Hash, res *pingResult, o pingOptions) error {
	if o.asJSON {
		return json.NewEncoder(w).Encode(res)
	}
	if o.oneway {
		fmt.Fprintf(w, "%d raw datagrams sent to %s (one-way: count them at the receiver)\n", res.Sent, target.B32())
		return nil
	}
	lost := res.Sent - res.Received
	fmt.Fprintf(w, "%d sent, %d received, %d lost\n", res.Sent, res.Received, lost)
	if len(res.RTTms) > 0 {
		s := slices.Clone(res.RTTms)
		slices.Sort(s)
		var sum float64
		for _, v := range s {
			sum += v
		}
		fmt.Fprintf(w, "rtt min/avg/max = %.1f/%.1f/%.1f ms\n", s[0], sum/float64(len(s)), s[len(s)-1])
	}
	return nil
}

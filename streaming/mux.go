package streaming

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/clock"
)

// Transport sends one streaming packet (the protocol-6 data, not yet
// gzip-wrapped) to a remote destination.
type Transport interface {
	SendPacket(ctx context.Context, to *i2p.Destination, srcPort, dstPort uint16, packet []byte) error
}

// Config is what a Mux needs.
type Config struct {
	Identity  *Identity
	Transport Transport
	Clock     clock.Clock  // nil = real
	Logger    *slog.Logger // nil = discard
	Limits    Limits       // zero fields = defaults
	// Resolve finds the Destination of a .b32.i2p address for Dial; may be
	// nil (Dial then fails, DialDestination works).
	Resolve func(ctx context.Context, b32 string) (*i2p.Destination, error)
}

// synKey names an incoming stream before we know it by our own id: a
// resent SYN must find the stream its first copy created.
type synKey struct {
	from i2p.Hash
	id   uint32
}

type counters struct {
	accepted, dialed, refused, bytesIn, bytesOut, packetsOut, resends atomic.Uint64
}

// Mux demultiplexes the streaming packets of one Destination by stream id
// (packets of one stream may arrive through different routers) and owns
// their goroutines.
type Mux struct {
	ident atomic.Pointer[Identity] // new streams and control packets sign with it (SetIdentity)
	tr    Transport
	clk   clock.Clock
	log   *slog.Logger
	lim   Limits
	res   func(ctx context.Context, b32 string) (*i2p.Destination, error)
	ctx   context.Context
	stop  context.CancelFunc
	done  chan struct{}
	wg    sync.WaitGroup
	ctl   chan ctlPacket

	stats counters

	mu        sync.Mutex
	closed    bool
	conns     map[uint32]*Conn
	syns      map[synKey]*Conn
	perPeer   map[i2p.Hash]int
	listeners map[uint16]*Listener
	synBucket bucket
}

// ctlPacket is a packet sent without a stream: refusals and pongs.
type ctlPacket struct {
	to               *i2p.Destination
	srcPort, dstPort uint16
	data             [][]byte
}

// NewMux checks cfg and starts the Mux's control-packet sender.
func NewMux(cfg Config) (*Mux, error) {
	if cfg.Identity == nil || cfg.Transport == nil {
		return nil, fmt.Errorf("%w: identity and transport required", ErrBadInput)
	}
	lim := cfg.Limits.withDefaults()
	if err := lim.validate(); err != nil {
		return nil, fmt.Errorf("streaming: limits: %w", err)
	}
	m := &Mux{
		tr: cfg.Transport, clk: cfg.Clock, log: cfg.Logger, lim: lim, res: cfg.Resolve,
		done: make(chan struct{}), ctl: make(chan ctlPacket, 64),
		conns: make(map[uint32]*Conn), syns: make(map[synKey]*Conn), perPeer: make(map[i2p.Hash]int),
		listeners: make(map[uint16]*Listener),
		synBucket: bucket{rate: lim.SYNRate, burst: float64(lim.SYNBurst), tokens: float64(lim.SYNBurst)},
	}
	m.ident.Store(cfg.Identity)
	if m.clk == nil {
		m.clk = clock.Real()
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m.log = m.log.With("component", "streaming", "dest", cfg.Identity.Destination())
	m.ctx, m.stop = context.WithCancel(context.Background())
	m.wg.Add(1)
	go m.ctlLoop()
	return m, nil
}

func (m *Mux) ctlLoop() {
	defer m.wg.Done()
	for {
		select {
		case p := <-m.ctl:
			m.send(p.to, p.srcPort, p.dstPort, p.data)
		case <-m.done:
			return
		}
	}
}

// send hands packets to the transport, one call each, never under a lock.
func (m *Mux) send(to *i2p.Destination, srcPort, dstPort uint16, pkts [][]byte) {
	for _, b := range pkts {
		if b == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(m.ctx, m.lim.SendTimeout)
		err := m.tr.SendPacket(ctx, to, srcPort, dstPort, b)
		cancel()
		m.stats.packetsOut.Add(1)
		if err != nil {
			m.log.Debug("send packet", "to", to, "err", err)
		}
	}
}

// queueCtl sends stream-less packets from the Mux's goroutine; when the
// queue is full they are dropped (the peer resends its SYN or ping).
func (m *Mux) queueCtl(p ctlPacket) {
	select {
	case m.ctl <- p:
	default:
		m.log.Debug("control queue full, dropping", "to", p.to)
	}
}

// HandlePacket is called by the owner for every incoming payload of
// protocol 6 (after i2p.ParsePayload). It never blocks on the transport.
// The Mux keeps data (buffered payloads alias it): the caller must not
// reuse it.
func (m *Mux) HandlePacket(srcPort, dstPort uint16, data []byte) {
	if m.isClosed() {
		return
	}
	p, err := ParsePacket(data)
	if err != nil {
		m.log.Debug("drop packet", "err", err)
		return
	}
	switch {
	case p.Flags.Has(FlagEcho):
		m.handleEcho(srcPort, dstPort, p, data)
	case p.Flags.Has(FlagSYN) && p.SendStreamID == 0:
		m.handleSYN(srcPort, dstPort, p, data)
	default:
		m.mu.Lock()
		c := m.conns[p.SendStreamID]
		m.mu.Unlock()
		if c != nil {
			c.handle(p, data, m.clk.Now())
		}
	}
}

// handleEcho answers a signed ping (ECHO with a non-zero sendStreamId, the
// ping id) with an unsigned pong: ECHO, sendStreamId 0, receiveStreamId the
// ping id, the same payload. Pongs are ignored (imh does not ping).
func (m *Mux) handleEcho(srcPort, dstPort uint16, p *Packet, raw []byte) {
	if p.SendStreamID == 0 || !m.allowSYN() {
		return
	}
	if err := m.verifyFrom(p, raw); err != nil {
		m.log.Debug("drop ping", "err", err)
		return
	}
	pong := &Packet{RecvStreamID: p.SendStreamID, Flags: FlagEcho, Payload: p.Payload}
	b, err := pong.MarshalBinary()
	if err != nil {
		return
	}
	m.queueCtl(ctlPacket{to: p.From, srcPort: dstPort, dstPort: srcPort, data: [][]byte{b}})
}

func (m *Mux) allowSYN() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ok := m.synBucket.allow(m.clk.Now())
	if !ok {
		m.stats.refused.Add(1)
	}
	return ok
}

// verifyFrom checks a packet that must carry FROM and a signature by it.
func (m *Mux) verifyFrom(p *Packet, raw []byte) error {
	k, err := KeyFrom(p, m.clk.Now())
	if err != nil {
		return err
	}
	return p.Verify(raw, k)
}

// handleSYN opens an incoming stream, or refuses it. Rate limiting comes
// before the signature check, which costs CPU.
func (m *Mux) handleSYN(srcPort, dstPort uint16, p *Packet, raw []byte) {
	if p.RecvStreamID == 0 || !m.allowSYN() {
		return
	}
	if err := m.verifyFrom(p, raw); err != nil {
		m.log.Debug("drop syn", "err", err, "packet", hexBytes(raw))
		return
	}
	m.log.Debug("syn", "from", p.From, "port", dstPort, "packet", hexBytes(raw))
	c, reason := m.acceptSYN(srcPort, dstPort, p)
	if reason != "" {
		m.stats.refused.Add(1)
		m.log.Debug("refuse stream", "from", p.From, "port", dstPort, "reason", reason)
		m.refuse(srcPort, dstPort, p)
		return
	}
	if c != nil {
		c.handle(p, raw, m.clk.Now())
	}
}

// hexBytes logs as hex, encoded only when the record is written: SYNs are
// logged whole at debug level, to compare with other implementations'.
type hexBytes []byte

func (b hexBytes) LogValue() slog.Value { return slog.StringValue(hex.EncodeToString(b)) }

// acceptSYN registers a new incoming stream and queues it for Accept. A
// resent SYN returns its existing stream; a refusal returns why.
func (m *Mux) acceptSYN(srcPort, dstPort uint16, p *Packet) (*Conn, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := synKey{p.From.Hash(), p.RecvStreamID}
	if c := m.syns[key]; c != nil {
		return c, ""
	}
	l := m.listeners[dstPort]
	if l == nil {
		l = m.listeners[0]
	}
	switch {
	case m.closed:
		return nil, "closed"
	case l == nil:
		return nil, "no listener"
	case len(l.queue) >= m.lim.AcceptBacklog:
		return nil, "accept backlog full"
	}
	if reason := m.limitLocked(key.from); reason != "" {
		return nil, reason
	}
	c := newConn(m, m.newIDLocked(), p.From, dstPort, srcPort, false)
	c.remoteID, c.state = p.RecvStreamID, stateEstablished
	c.remoteKey, _ = KeyFrom(p, m.clk.Now())
	if p.Flags.Has(FlagMaxPacketSize) && p.MaxSize > 0 {
		c.mtu = min(c.mtu, int(p.MaxSize))
	}
	c.unacked = []*outPkt{{seq: 0, flags: FlagSYN}}
	c.ackPending = false
	close(c.established)
	if len(p.Payload) > 0 {
		c.deliverLocked(p.Payload)
	}
	m.registerLocked(c, key)
	l.queue = append(l.queue, c)
	signal(l.ready)
	m.stats.accepted.Add(1)
	return nil, ""
}

func (m *Mux) limitLocked(peer i2p.Hash) string {
	switch {
	case len(m.conns) >= m.lim.MaxStreams:
		return "max streams"
	case m.perPeer[peer] >= m.lim.MaxStreamsPerPeer:
		return "max streams per peer"
	}
	return ""
}

// newIDLocked picks a random unused non-zero stream id.
func (m *Mux) newIDLocked() uint32 {
	for {
		id := rand.Uint32()
		if id != 0 && m.conns[id] == nil {
			return id
		}
	}
}

func (m *Mux) registerLocked(c *Conn, key synKey) {
	m.conns[c.localID] = c
	if key.id != 0 {
		m.syns[key] = c
	}
	m.perPeer[c.remote.Hash()]++
	m.wg.Add(1)
	go c.run()
}

// remove forgets a finished stream (its goroutine is exiting).
func (m *Mux) remove(c *Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.conns, c.localID)
	h := c.remote.Hash()
	if !c.outbound {
		delete(m.syns, synKey{h, c.remoteID})
	}
	if m.perPeer[h]--; m.perPeer[h] <= 0 {
		delete(m.perPeer, h)
	}
}

// refuse answers a SYN with a SYN reply and a signed CLOSE|RESET, without
// keeping state: i2pd ignores a RESET at sequence 0 and expects the SYN to
// be answered, Java and imh act on the RESET. Both carry FROM so that they
// verify in any order.
func (m *Mux) refuse(srcPort, dstPort uint16, p *Packet) {
	id := rand.Uint32() | 1
	reply := &Packet{SendStreamID: p.RecvStreamID, RecvStreamID: id, Flags: FlagSYN | FlagFrom | FlagMaxPacketSize,
		From: m.identity().Destination(), MaxSize: uint16(m.lim.MaxPacketSize)}
	reset := &Packet{SendStreamID: p.RecvStreamID, RecvStreamID: id, Seq: 1, Flags: FlagClose | FlagReset | FlagFrom,
		From: m.identity().Destination()}
	a, err := m.identity().SignPacket(reply)
	if err != nil {
		m.log.Error("sign refusal", "err", err)
		return
	}
	b, err := m.identity().SignPacket(reset)
	if err != nil {
		m.log.Error("sign refusal", "err", err)
		return
	}
	m.queueCtl(ctlPacket{to: p.From, srcPort: dstPort, dstPort: srcPort, data: [][]byte{a, b}})
}

// Listen accepts streams to port; port 0 takes every port nobody else
// listens on.
func (m *Mux) Listen(port uint16) (net.Listener, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if m.listeners[port] != nil {
		return nil, fmt.Errorf("%w: %d", ErrInUse, port)
	}
	l := &Listener{m: m, port: port, ready: make(chan struct{}, 1), closed: make(chan struct{})}
	m.listeners[port] = l
	return l, nil
}

// Dial opens a stream to "xxx.b32.i2p:port" or "xxx.b32.i2p" (port 0),
// resolving the address with Config.Resolve.
func (m *Mux) Dial(ctx context.Context, addr string) (net.Conn, error) {
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	if m.res == nil {
		return nil, fmt.Errorf("%w: %s: no resolver configured", ErrNoRoute, host)
	}
	d, err := m.res(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoRoute, host, err)
	}
	return m.DialDestination(ctx, d, port)
}

func splitAddr(addr string) (string, uint16, error) {
	host, portStr := addr, "0"
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host, portStr = addr[:i], addr[i+1:]
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%w: port in %q", ErrBadInput, addr)
	}
	if _, err := i2p.ParseB32(host); err != nil {
		return "", 0, fmt.Errorf("%w: %q: %w", ErrBadInput, addr, err)
	}
	return host, uint16(port), nil
}

// DialDestination opens a stream to port of to and waits for its SYN
// reply, the context, or the SYN's resends to run out (ErrTimeout).
func (m *Mux) DialDestination(ctx context.Context, to *i2p.Destination, port uint16) (net.Conn, error) {
	if to == nil {
		return nil, fmt.Errorf("%w: nil destination", ErrBadInput)
	}
	c, err := m.startDial(to, port)
	if err != nil {
		return nil, err
	}
	select {
	case <-c.established:
		m.stats.dialed.Add(1)
		return c, nil
	case <-c.done:
		c.mu.Lock()
		err = c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("dial %s:%d: %w", to.B32(), port, err)
	case <-ctx.Done():
		c.abort(ctx.Err())
		return nil, fmt.Errorf("dial %s:%d: %w", to.B32(), port, ctx.Err())
	}
}

func (m *Mux) startDial(to *i2p.Destination, port uint16) (*Conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if reason := m.limitLocked(to.Hash()); reason != "" {
		return nil, fmt.Errorf("%w: %s", ErrLimit, reason)
	}
	c := newConn(m, m.newIDLocked(), to, 0, port, true)
	c.nextSeq = 1
	c.unacked = []*outPkt{{seq: 0, flags: FlagSYN}}
	if k, err := keyOf(to, nil, m.clk.Now()); err == nil {
		c.remoteKey = k
	}
	m.registerLocked(c, synKey{})
	return c, nil
}

func (m *Mux) isClosed() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// Stats returns the Mux's counters.
func (m *Mux) Stats() Stats {
	m.mu.Lock()
	open := len(m.conns)
	m.mu.Unlock()
	s := &m.stats
	return Stats{
		OpenStreams: open, Accepted: s.accepted.Load(), Dialed: s.dialed.Load(), Refused: s.refused.Load(),
		BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(), PacketsOut: s.packetsOut.Load(), Resends: s.resends.Load(),
	}
}

// Close ends every stream (each sends a RESET if its peer knows it),
// closes the listeners and waits for all goroutines.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.closed = true
	for _, l := range m.listeners {
		l.closeLocked()
	}
	m.mu.Unlock()
	close(m.done)
	// Streams send their RESETs on the way out; a transport that does not
	// return is cancelled after closeGrace so that Close cannot hang.
	grace := m.clk.NewTimer(closeGrace)
	waited := make(chan struct{})
	go func() {
		select {
		case <-grace.C():
			m.stop()
		case <-waited:
		}
	}()
	m.wg.Wait()
	close(waited)
	grace.Stop()
	m.stop()
	return nil
}

// closeGrace is how long Mux.Close lets streams send their RESETs.
const closeGrace = time.Second

// Listener hands out the incoming streams of one port (or all, port 0).
type Listener struct {
	m      *Mux
	port   uint16
	ready  chan struct{}
	closed chan struct{}
	queue  []*Conn // guarded by m.mu
}

// Accept waits for the next incoming stream.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		l.m.mu.Lock()
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue = l.queue[1:]
			l.m.mu.Unlock()
			return c, nil
		}
		l.m.mu.Unlock()
		select {
		case <-l.ready:
		case <-l.closed:
			return nil, ErrClosed
		}
	}
}

// Close stops listening; streams not yet accepted are reset.
func (l *Listener) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	select {
	case <-l.closed:
		return ErrClosed
	default:
	}
	l.closeLocked()
	return nil
}

func (l *Listener) closeLocked() {
	select {
	case <-l.closed:
		return
	default:
	}
	close(l.closed)
	if l.m.listeners[l.port] == l {
		delete(l.m.listeners, l.port)
	}
	for _, c := range l.queue {
		c.abort(ErrClosed)
	}
	l.queue = nil
}

// Addr is our Destination and the port listened on.
func (l *Listener) Addr() net.Addr {
	return Addr{Hash: l.m.identity().Destination().Hash(), Port: l.port}
}

// Addr is an I2P stream endpoint: a Destination hash and a port.
type Addr struct {
	Hash i2p.Hash
	Port uint16
}

// Network is "i2p".
func (a Addr) Network() string { return "i2p" }

// String is "<b32 address>:port".
func (a Addr) String() string { return a.Hash.B32() + ":" + strconv.Itoa(int(a.Port)) }

// identity is who signs new streams and control packets now.
func (m *Mux) identity() *Identity { return m.ident.Load() }

// SetIdentity replaces the signer of new streams and control packets, for
// a frontend whose transient key is rotated: a stream keeps signing with
// the identity it started with, since its peer verifies its CLOSE with the
// transient key of our SYN. id must be of the same Destination.
func (m *Mux) SetIdentity(id *Identity) error {
	if id == nil || !id.Destination().Equal(m.identity().Destination()) {
		return fmt.Errorf("%w: identity of another destination", ErrBadInput)
	}
	m.ident.Store(id)
	return nil
}

package streaming

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
)

// connState is where a stream is in its life.
type connState uint8

const (
	stateSynSent     connState = iota // we sent a SYN, no reply yet
	stateEstablished                  // both stream ids known
	stateDone                         // finished or failed; the goroutine lingers or exits
)

// outPkt is a sequenced packet we sent and keep until it is acknowledged.
// Its ack fields are refreshed each time it is (re)sent.
type outPkt struct {
	seq      uint32
	flags    Flags // SYN or CLOSE beyond plain data
	payload  []byte
	lastSent time.Time
	resendAt time.Time
	resends  int
	nacks    int
}

// Conn is one I2P stream, a net.Conn. All protocol state is guarded by mu;
// one goroutine per Conn (run) owns the timers and is the only caller of
// Transport.SendPacket for it, outside mu, so a slow transport never blocks
// HandlePacket.
type Conn struct {
	m          *Mux
	id         *Identity // signs this stream's SYN, CLOSE and RESET (fixed at its start)
	localID    uint32
	outbound   bool
	localPort  uint16
	remotePort uint16
	remote     *i2p.Destination

	kick        chan struct{} // wakes run
	readable    chan struct{} // wakes a blocked Read
	writable    chan struct{} // wakes a blocked Write
	established chan struct{} // closed when the handshake completes
	done        chan struct{} // closed when the stream ends, for any reason

	mu        sync.Mutex
	state     connState
	err       error // terminal error; nil for an orderly end
	remoteID  uint32
	remoteKey VerifyKey
	mtu       int

	// send side
	sendBuf      []byte
	nextSeq      uint32
	unacked      []*outPkt
	unackedBytes int
	cwnd         float64
	ssthresh     float64
	recoverSeq   uint32
	srtt, rttvar time.Duration
	rto          time.Duration
	peerChoked   bool
	closeWrite   bool // CloseWrite or Close asked for a CLOSE
	closeSent    bool
	sendReset    bool // abort: send one RESET on the way out
	dupSYN       bool // the peer resent its SYN: resend our SYN reply now

	// receive side
	recvNext       uint32
	ooo            map[uint32]*Packet
	oooBytes       int
	readBuf        bytes.Buffer
	remoteClosed   bool
	maxPayloadSeen int
	gotData        bool // any payload arrived (a RESET before it is a refusal)
	readClosed     bool // local Close: discard what arrives
	choked         bool
	ackPending     bool
	closeBy        time.Time // local Close: give up waiting at this time
	lingerUntil    time.Time

	readDeadline, writeDeadline time.Time
}

func newConn(m *Mux, localID uint32, remote *i2p.Destination, localPort, remotePort uint16, outbound bool) *Conn {
	l := m.lim
	return &Conn{
		m: m, id: m.identity(), localID: localID, outbound: outbound, remote: remote,
		localPort: localPort, remotePort: remotePort,
		kick: make(chan struct{}, 1), readable: make(chan struct{}, 1), writable: make(chan struct{}, 1),
		established: make(chan struct{}), done: make(chan struct{}),
		mtu: l.MaxPacketSize, cwnd: float64(l.InitialWindow), ssthresh: float64(l.MaxWindow),
		rto: l.InitialRTO, recvNext: 1, nextSeq: 1, ooo: make(map[uint32]*Packet),
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// wakeAll wakes every waiter after a state change they may care about.
func (c *Conn) wakeAll() {
	signal(c.kick)
	signal(c.readable)
	signal(c.writable)
}

// failLocked ends the stream with err (nil: an orderly end).
func (c *Conn) failLocked(err error) {
	if c.state == stateDone {
		return
	}
	if c.err == nil {
		c.err = err
	}
	c.state = stateDone
	close(c.done)
	c.wakeAll()
}

// abort ends the stream locally and sends a RESET if the peer knows it.
func (c *Conn) abort(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDone {
		return
	}
	c.sendReset = c.remoteID != 0
	c.failLocked(err)
}

// Read reads in-order stream data; io.EOF after the peer's CLOSE.
func (c *Conn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		n, err, ok := c.tryReadLocked(b)
		dl := c.readDeadline
		c.mu.Unlock()
		if ok {
			return n, err
		}
		if err := c.wait(c.readable, dl); err != nil {
			return 0, err
		}
	}
}

func (c *Conn) tryReadLocked(b []byte) (int, error, bool) {
	switch {
	case c.readClosed:
		return 0, ErrClosed, true
	case c.readBuf.Len() > 0:
		n, _ := c.readBuf.Read(b)
		c.maybeUnchokeLocked()
		return n, nil, true
	case c.remoteClosed:
		return 0, io.EOF, true
	case c.err != nil:
		return 0, c.err, true
	case len(b) == 0:
		return 0, nil, true
	}
	return 0, nil, false
}

// maybeUnchokeLocked tells the peer to resume once half the buffer is free.
func (c *Conn) maybeUnchokeLocked() {
	if c.choked && c.bufferedLocked() <= c.m.lim.MaxRecvBuffer/2 {
		c.choked, c.ackPending = false, true
		signal(c.kick)
	}
}

func (c *Conn) bufferedLocked() int { return c.readBuf.Len() + c.oooBytes }

// Write queues b for sending; it blocks while the send buffer is full.
func (c *Conn) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c.mu.Lock()
		k, err := c.tryWriteLocked(b[n:])
		dl := c.writeDeadline
		c.mu.Unlock()
		if err != nil {
			return n, err
		}
		if n += k; k > 0 {
			continue
		}
		if err := c.wait(c.writable, dl); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (c *Conn) tryWriteLocked(b []byte) (int, error) {
	switch {
	case c.closeWrite || c.readClosed:
		return 0, ErrClosed
	case c.err != nil:
		return 0, c.err
	case c.state == stateDone:
		return 0, ErrClosed
	}
	room := c.m.lim.MaxSendBuffer - len(c.sendBuf) - c.unackedBytes
	if room <= 0 {
		return 0, nil
	}
	k := min(room, len(b))
	c.sendBuf = append(c.sendBuf, b[:k]...)
	signal(c.kick)
	return k, nil
}

// wait blocks until ch fires, the stream ends or the deadline passes.
func (c *Conn) wait(ch chan struct{}, deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := deadline.Sub(c.m.clk.Now())
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := c.m.clk.NewTimer(d)
		defer t.Stop()
		timeout = t.C()
	}
	select {
	case <-ch:
	case <-c.done:
		signal(ch) // the stream ended: let the caller see why
	case <-timeout:
		return os.ErrDeadlineExceeded
	}
	return nil
}

// CloseWrite sends CLOSE once all written data has been sent: the peer's
// reads end with io.EOF, ours continue until its CLOSE.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDone && c.err != nil {
		return c.err
	}
	c.closeWrite = true
	signal(c.kick)
	return nil
}

// Close half-closes (CLOSE after the written data), stops reading and lets
// the stream finish in the background within Limits.CloseTimeout.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readClosed {
		return ErrClosed
	}
	c.readClosed, c.closeWrite = true, true
	c.readBuf.Reset()
	c.closeBy = c.m.clk.Now().Add(c.m.lim.CloseTimeout)
	c.wakeAll()
	return nil
}

// LocalAddr is our Destination and port.
func (c *Conn) LocalAddr() net.Addr {
	return Addr{Hash: c.id.Destination().Hash(), Port: c.localPort}
}

// RemoteAddr is the peer's Destination and port.
func (c *Conn) RemoteAddr() net.Addr { return Addr{Hash: c.remote.Hash(), Port: c.remotePort} }

// RemoteDestination is the peer's full Destination (verified by its SYN).
func (c *Conn) RemoteDestination() *i2p.Destination { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline makes blocked and future Reads fail with
// os.ErrDeadlineExceeded after t; zero means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	signal(c.readable)
	return nil
}

// SetWriteDeadline is SetReadDeadline for Write.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	signal(c.writable)
	return nil
}

// run is the stream's goroutine: it sends what poll decides, outside the
// lock, and sleeps until the next timer or a kick.
func (c *Conn) run() {
	defer c.m.wg.Done()
	defer c.m.remove(c)
	for {
		now := c.m.clk.Now()
		c.mu.Lock()
		out, next, exit := c.pollLocked(now)
		c.mu.Unlock()
		c.m.send(c.remote, c.localPort, c.remotePort, out)
		if exit {
			return
		}
		c.sleep(now, next)
	}
}

func (c *Conn) sleep(now, next time.Time) {
	var timeout <-chan time.Time
	if !next.IsZero() {
		t := c.m.clk.NewTimer(max(next.Sub(now), time.Millisecond))
		defer t.Stop()
		timeout = t.C()
	}
	select {
	case <-c.kick:
	case <-timeout:
	case <-c.m.done:
		c.abort(ErrClosed)
	}
}

// pollLocked decides what to send now and when to look again.
func (c *Conn) pollLocked(now time.Time) (out [][]byte, next time.Time, exit bool) {
	if c.state == stateDone {
		return c.finishLocked(now)
	}
	if !c.closeBy.IsZero() && !now.Before(c.closeBy) {
		c.sendReset = c.remoteID != 0
		c.failLocked(ErrTimeout)
		return c.finishLocked(now)
	}
	out = c.resendLocked(now)
	if c.state == stateDone {
		return c.finishLocked(now)
	}
	out = append(out, c.newPacketsLocked(now)...)
	if c.ackPending && len(out) == 0 && c.remoteID != 0 {
		out = append(out, c.marshalLocked(&outPkt{}))
	}
	c.ackPending = false
	if c.closeSent && len(c.unacked) == 0 && c.remoteClosed {
		c.failLocked(nil)
		c.lingerUntil = now.Add(2 * c.rto)
	}
	return out, c.nextTimerLocked(), false
}

// finishLocked sends a pending RESET, then lingers after an orderly end to
// re-ack a resent CLOSE before the stream id is forgotten.
func (c *Conn) finishLocked(now time.Time) ([][]byte, time.Time, bool) {
	var out [][]byte
	if c.sendReset {
		c.sendReset = false
		out = append(out, c.marshalLocked(&outPkt{seq: c.nextSeq, flags: FlagReset}))
	}
	if c.ackPending && c.err == nil && now.Before(c.lingerUntil) {
		c.ackPending = false
		out = append(out, c.marshalLocked(&outPkt{}))
	}
	if c.err == nil && now.Before(c.lingerUntil) && !c.m.isClosed() {
		return out, c.lingerUntil, false
	}
	return out, time.Time{}, true
}

func (c *Conn) nextTimerLocked() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, p := range c.unacked {
		earlier(p.resendAt)
	}
	earlier(c.closeBy)
	earlier(c.lingerUntil)
	return next
}

// windowLocked is how many packets may be unacknowledged: the congestion
// window, one probe while the peer is choked.
func (c *Conn) windowLocked() int {
	if c.peerChoked {
		return 1
	}
	return max(1, min(int(c.cwnd), c.m.lim.MaxWindow))
}

// resendLocked resends packets whose timer expired or that the peer NACKed
// (fast retransmit). Resends while the peer is choked are probes and do not
// count towards MaxResends.
func (c *Conn) resendLocked(now time.Time) [][]byte {
	var out [][]byte
	timedOut := false
	for _, p := range c.unacked {
		if p.lastSent.IsZero() || (c.dupSYN && p.flags.Has(FlagSYN)) {
			out = append(out, c.sendPktLocked(p, now)) // first send of a SYN, or a lost reply
			continue
		}
		fast := c.nackLostLocked(p, now)
		if !fast && now.Before(p.resendAt) {
			continue
		}
		if !c.peerChoked {
			p.resends++
			c.lossLocked(p.seq)
		}
		if p.resends > c.m.lim.MaxResends {
			c.sendReset = c.remoteID != 0
			c.failLocked(fmt.Errorf("%w: packet %d sent %d times", ErrTimeout, p.seq, p.resends))
			return nil
		}
		timedOut = timedOut || !fast
		p.nacks = 0
		out = append(out, c.sendPktLocked(p, now))
		c.m.stats.resends.Add(1)
	}
	c.dupSYN = false
	if timedOut {
		c.rto = min(2*c.rto, c.m.lim.MaxRTO)
		for _, p := range c.unacked {
			p.resendAt = p.lastSent.Add(c.rto)
		}
	}
	return out
}

// nackLostLocked reports a packet that the peer's NACKs show lost: NACKed
// twice and out for longer than the smoothed RTT plus a reordering
// allowance (SRTT/4 + 2 RTTVAR; RFC 8985 allows min RTT/4). Packets of one
// stream take different tunnels and overtake each other, and i2pd
// acknowledges every packet that arrives out of order at once, NACKing
// every hole below it: a packet merely overtaken collects two NACKs within
// milliseconds, and resending it as soon as it was out for one SRTT made
// about 9 % of all packets spurious resends, each halving the window, on a
// link that lost nothing (TestReorderingWithoutLoss).
func (c *Conn) nackLostLocked(p *outPkt, now time.Time) bool {
	return p.nacks >= 2 && now.Sub(p.lastSent) >= c.srtt+c.srtt/4+2*c.rttvar
}

// lossLocked halves the window once per window of data (seq beyond the
// last loss event's highest sent packet).
func (c *Conn) lossLocked(seq uint32) {
	if seq <= c.recoverSeq && c.recoverSeq != 0 {
		return
	}
	c.ssthresh = max(c.cwnd/2, 2)
	c.cwnd = c.ssthresh
	c.recoverSeq = c.nextSeq - 1
}

func (c *Conn) sendPktLocked(p *outPkt, now time.Time) []byte {
	p.lastSent, p.resendAt = now, now.Add(c.rto)
	return c.marshalLocked(p)
}

// newPacketsLocked cuts buffered data into packets while the window allows,
// then the CLOSE once everything before it is queued.
func (c *Conn) newPacketsLocked(now time.Time) [][]byte {
	if c.state != stateEstablished {
		return nil
	}
	var out [][]byte
	for len(c.unacked) < c.windowLocked() {
		p := c.nextDataLocked()
		if p == nil {
			break
		}
		c.unacked = append(c.unacked, p)
		c.unackedBytes += len(p.payload)
		c.m.stats.bytesOut.Add(uint64(len(p.payload)))
		out = append(out, c.sendPktLocked(p, now))
	}
	return out
}

func (c *Conn) nextDataLocked() *outPkt {
	switch {
	case len(c.sendBuf) > 0:
		k := min(c.mtu, len(c.sendBuf))
		p := &outPkt{seq: c.nextSeq, payload: slices.Clone(c.sendBuf[:k])}
		c.sendBuf = c.sendBuf[k:]
		if len(c.sendBuf) == 0 {
			c.sendBuf = nil
		}
		c.nextSeq++
		return p
	case c.closeWrite && !c.closeSent:
		c.closeSent = true
		p := &outPkt{seq: c.nextSeq, flags: FlagClose}
		c.nextSeq++
		return p
	}
	return nil
}

// marshalLocked builds the wire form of p with fresh ack fields; SYN,
// CLOSE and RESET are signed.
func (c *Conn) marshalLocked(p *outPkt) []byte {
	pk := &Packet{SendStreamID: c.remoteID, RecvStreamID: c.localID, Seq: p.seq, Flags: p.flags, Payload: p.payload}
	c.ackFieldsLocked(pk)
	if p.flags.Has(FlagSYN) {
		pk.Flags |= FlagFrom | FlagMaxPacketSize
		pk.From, pk.MaxSize = c.id.Destination(), uint16(c.m.lim.MaxPacketSize)
	}
	if c.choked {
		pk.Flags, pk.Delay = pk.Flags|FlagDelay, chokeDelay
	}
	var b []byte
	var err error
	if p.flags&(FlagSYN|FlagClose|FlagReset) != 0 {
		b, err = c.id.SignPacket(pk)
	} else {
		b, err = pk.MarshalBinary()
	}
	if err != nil {
		c.m.log.Error("marshal packet", "err", err)
		return nil
	}
	return b
}

// ackFieldsLocked sets ackThrough and the NACKs of what is missing below
// it; before we received anything (our first SYN) it sets NO_ACK.
func (c *Conn) ackFieldsLocked(pk *Packet) {
	if c.outbound && c.remoteID == 0 {
		pk.Flags |= FlagNoAck
		return
	}
	high := c.recvNext - 1
	for s := range c.ooo {
		high = max(high, s)
	}
	pk.AckThrough = high
	for s := c.recvNext; s < high && len(pk.NACKs) < MaxNACKs; s++ {
		if c.ooo[s] == nil {
			pk.NACKs = append(pk.NACKs, s)
		}
	}
}

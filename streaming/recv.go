package streaming

import (
	"fmt"
	"time"
)

// handle processes one packet of this stream (HandlePacket found it by our
// stream id). raw is the packet's bytes, for signature checks.
func (c *Conn) handle(p *Packet, raw []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDone {
		c.handleDoneLocked(p)
		return
	}
	if err := c.verifyLocked(p, raw, now); err != nil {
		c.m.log.Debug("drop packet", "stream", c.localID, "err", err)
		return
	}
	if p.Flags.Has(FlagReset) {
		c.resetLocked()
		return
	}
	if p.Flags.Has(FlagSYN) {
		c.synLocked(p, now)
	}
	if c.state != stateEstablished {
		return // reordered before the SYN reply: the peer resends it
	}
	// A resent SYN acknowledges nothing, whether or not it sets NO_ACK.
	if !p.Flags.Has(FlagNoAck) && (c.outbound || !p.Flags.Has(FlagSYN)) {
		c.ackLocked(p.AckThrough, p.NACKs, now)
	}
	c.peerChoked = p.Flags.Has(FlagDelay) && p.Delay >= chokeDelay
	if !p.IsPlainAck() && !p.Flags.Has(FlagSYN) {
		c.receiveLocked(p)
	}
	signal(c.kick)
}

// handleDoneLocked re-acks a resent CLOSE while the stream lingers.
func (c *Conn) handleDoneLocked(p *Packet) {
	if c.err == nil && !p.IsPlainAck() {
		c.ackPending = true
		signal(c.kick)
	}
}

// verifyLocked checks the signature of SYN, CLOSE and RESET packets, and
// that a FROM, where present, is our peer.
func (c *Conn) verifyLocked(p *Packet, raw []byte, now time.Time) error {
	if p.From != nil && !p.From.Equal(c.remote) {
		return fmt.Errorf("%w: FROM is not the peer", ErrBadPacket)
	}
	if p.Flags&(FlagSYN|FlagClose|FlagReset) == 0 {
		return nil
	}
	key := c.remoteKey
	if p.From != nil {
		k, err := KeyFrom(p, now)
		if err != nil {
			return err
		}
		key = k
	}
	if key.Key == nil {
		k, err := keyOf(c.remote, nil, now)
		if err != nil {
			return err
		}
		key = k
	}
	return p.Verify(raw, key)
}

// resetLocked ends the stream on the peer's RESET. A RESET before any data
// went either way is how a peer refuses a stream (see Mux): the dialer sees
// ErrRefused.
func (c *Conn) resetLocked() {
	err := ErrReset
	if !c.gotData && c.nextSeq == 1 {
		err = ErrRefused
	}
	c.failLocked(err)
}

// synLocked handles the peer's SYN reply (dialer) or a resent SYN
// (listener side).
func (c *Conn) synLocked(p *Packet, now time.Time) {
	if !c.outbound {
		c.dupSYN = true
		return
	}
	if c.state == stateSynSent {
		c.establishLocked(p, now)
	}
	c.ackPending = true
}

func (c *Conn) establishLocked(p *Packet, now time.Time) {
	c.remoteID = p.RecvStreamID
	if k, err := KeyFrom(p, now); err == nil {
		c.remoteKey = k
	}
	if p.Flags.Has(FlagMaxPacketSize) && p.MaxSize > 0 {
		c.mtu = min(c.mtu, int(p.MaxSize))
	}
	c.state = stateEstablished
	c.ackLocked(0, nil, now) // the reply acknowledges our SYN
	if len(p.Payload) > 0 {
		c.deliverLocked(p.Payload)
	}
	close(c.established)
}

// ackLocked drops acknowledged packets, samples the RTT (Karn: only from
// packets sent once) and grows the congestion window.
func (c *Conn) ackLocked(through uint32, nacks []uint32, now time.Time) {
	var sample time.Duration
	kept := c.unacked[:0]
	for _, p := range c.unacked {
		if p.seq > through || containsSeq(nacks, p.seq) {
			if p.seq < through {
				p.nacks++
			}
			kept = append(kept, p)
			continue
		}
		c.unackedBytes -= len(p.payload)
		if p.resends == 0 {
			sample = now.Sub(p.lastSent)
		}
		c.growLocked()
	}
	clear(c.unacked[len(kept):])
	acked := len(kept) < len(c.unacked)
	c.unacked = kept
	if sample > 0 {
		c.rttLocked(sample)
	}
	if acked {
		signal(c.writable)
	}
}

func containsSeq(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// growLocked is slow start below ssthresh, additive increase above.
func (c *Conn) growLocked() {
	if c.cwnd < c.ssthresh {
		c.cwnd++
	} else {
		c.cwnd += 1 / c.cwnd
	}
	c.cwnd = min(c.cwnd, float64(c.m.lim.MaxWindow))
}

// rttLocked updates SRTT, RTTVAR and RTO as RFC 6298 section 2.
func (c *Conn) rttLocked(r time.Duration) {
	if c.srtt == 0 {
		c.srtt, c.rttvar = r, r/2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = min(max(c.srtt+max(4*c.rttvar, time.Millisecond), c.m.lim.MinRTO), c.m.lim.MaxRTO)
}

// receiveLocked stores a sequenced packet and delivers what is in order.
// Packets beyond the receive buffer are dropped unacked and choke the peer.
func (c *Conn) receiveLocked(p *Packet) {
	c.ackPending = true
	if p.Seq < c.recvNext || c.ooo[p.Seq] != nil {
		return // duplicate: re-ack
	}
	if p.Seq-c.recvNext >= MaxNACKs {
		return
	}
	if !c.fitsLocked(p) {
		c.choked = true
		return
	}
	c.ooo[p.Seq] = p
	c.oooBytes += len(p.Payload)
	for q := c.ooo[c.recvNext]; q != nil; q = c.ooo[c.recvNext] {
		delete(c.ooo, c.recvNext)
		c.oooBytes -= len(q.Payload)
		c.recvNext++
		c.deliverLocked(q.Payload)
		if q.Flags.Has(FlagClose) {
			c.remoteClosed = true
			signal(c.readable)
		}
	}
}

// inOrderReserve is buffer space that out-of-order packets may not use, so
// that a buffer full of them cannot lock out the missing packet that lets
// the reader drain them (peers send payloads of at most 1812 bytes).
const inOrderReserve = 4 << 10

// fitsLocked reports whether p fits the receive buffer: the next in-order
// packet may use all of it, out-of-order ones all but the reserve.
func (c *Conn) fitsLocked(p *Packet) bool {
	limit := c.m.lim.MaxRecvBuffer
	if p.Seq != c.recvNext {
		limit -= max(inOrderReserve, 2*c.maxPayloadSeen)
	}
	c.maxPayloadSeen = max(c.maxPayloadSeen, len(p.Payload))
	return c.bufferedLocked()+len(p.Payload) <= limit
}

func (c *Conn) deliverLocked(b []byte) {
	if len(b) == 0 {
		return
	}
	c.gotData = true
	c.m.stats.bytesIn.Add(uint64(len(b)))
	if c.readClosed {
		return
	}
	c.readBuf.Write(b)
	signal(c.readable)
}

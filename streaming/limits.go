package streaming

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Errors callers test for. ErrClosed wraps net.ErrClosed so that servers
// built on net.Listener stop their accept loops.
var (
	ErrClosed   = fmt.Errorf("streaming: %w", net.ErrClosed)
	ErrRefused  = errors.New("streaming: stream refused")
	ErrReset    = errors.New("streaming: stream reset by peer")
	ErrTimeout  = errors.New("streaming: peer stopped acknowledging")
	ErrLimit    = errors.New("streaming: stream limit reached")
	ErrNoRoute  = errors.New("streaming: cannot resolve address")
	ErrInUse    = errors.New("streaming: port already listened on")
	ErrBadInput = errors.New("streaming: invalid argument")
)

// Limits bound what one Mux spends on its peers. Every field has a default
// (DefaultLimits) that a zero value selects, so that no buffer, table or
// rate is unbounded.
type Limits struct {
	// MaxStreams bounds open streams of the Mux (default 1024).
	MaxStreams int
	// MaxStreamsPerPeer bounds streams with one remote Destination (64).
	MaxStreamsPerPeer int
	// SYNRate and SYNBurst bound incoming SYNs and pings per second: each
	// costs a signature check and a signed answer (50/s, burst 100).
	SYNRate  float64
	SYNBurst int
	// AcceptBacklog bounds streams waiting for Accept on one listener (64).
	AcceptBacklog int
	// MaxSendBuffer bounds written but unacknowledged bytes per stream;
	// Write blocks beyond it (256 KiB).
	MaxSendBuffer int
	// MaxRecvBuffer bounds received but unread bytes per stream, in-order
	// and out-of-order together; beyond it packets are dropped unacked and
	// the peer is choked (256 KiB).
	MaxRecvBuffer int
	// MaxWindow bounds unacknowledged packets in flight per stream (128,
	// as Java I2P).
	MaxWindow int
	// InitialWindow is the congestion window at start (10 packets, as i2pd).
	InitialWindow int
	// MaxPacketSize is the payload size we send and advertise (1730, the
	// spec's default; peers may send us more, i2pd sends up to 1812).
	MaxPacketSize int
	// InitialRTO is the retransmission timeout before an RTT sample (9 s,
	// as Java I2P and i2pd); MinRTO and MaxRTO clamp it (100 ms, 45 s).
	InitialRTO time.Duration
	MinRTO     time.Duration
	MaxRTO     time.Duration
	// MaxResends is how often one packet is resent before the stream fails
	// with ErrTimeout (8, as Java I2P).
	MaxResends int
	// CloseTimeout is how long a locally closed stream waits for the peer's
	// CLOSE and for its own data to be acknowledged (2 minutes).
	CloseTimeout time.Duration
	// SendTimeout bounds one Transport.SendPacket call (30 s).
	SendTimeout time.Duration
}

// DefaultLimits returns the defaults documented on Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxStreams:        1024,
		MaxStreamsPerPeer: 64,
		SYNRate:           50,
		SYNBurst:          100,
		AcceptBacklog:     64,
		MaxSendBuffer:     256 << 10,
		MaxRecvBuffer:     256 << 10,
		MaxWindow:         128,
		InitialWindow:     10,
		MaxPacketSize:     1730,
		InitialRTO:        9 * time.Second,
		MinRTO:            100 * time.Millisecond,
		MaxRTO:            45 * time.Second,
		MaxResends:        8,
		CloseTimeout:      2 * time.Minute,
		SendTimeout:       30 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill := func(v *int, dv int) {
		if *v <= 0 {
			*v = dv
		}
	}
	fillD := func(v *time.Duration, dv time.Duration) {
		if *v <= 0 {
			*v = dv
		}
	}
	fill(&l.MaxStreams, d.MaxStreams)
	fill(&l.MaxStreamsPerPeer, d.MaxStreamsPerPeer)
	fill(&l.SYNBurst, d.SYNBurst)
	fill(&l.AcceptBacklog, d.AcceptBacklog)
	fill(&l.MaxSendBuffer, d.MaxSendBuffer)
	fill(&l.MaxRecvBuffer, d.MaxRecvBuffer)
	fill(&l.MaxWindow, d.MaxWindow)
	fill(&l.InitialWindow, d.InitialWindow)
	fill(&l.MaxPacketSize, d.MaxPacketSize)
	fill(&l.MaxResends, d.MaxResends)
	fillD(&l.InitialRTO, d.InitialRTO)
	fillD(&l.MinRTO, d.MinRTO)
	fillD(&l.MaxRTO, d.MaxRTO)
	fillD(&l.CloseTimeout, d.CloseTimeout)
	fillD(&l.SendTimeout, d.SendTimeout)
	if l.SYNRate <= 0 {
		l.SYNRate = d.SYNRate
	}
	return l
}

// validate rejects limits that cannot work together.
func (l Limits) validate() error {
	switch {
	case l.MaxPacketSize > MaxPacketLen-1024:
		return fmt.Errorf("%w: MaxPacketSize %d", ErrBadInput, l.MaxPacketSize)
	case l.InitialWindow > l.MaxWindow:
		return fmt.Errorf("%w: InitialWindow %d > MaxWindow %d", ErrBadInput, l.InitialWindow, l.MaxWindow)
	case l.MaxWindow > MaxNACKs:
		return fmt.Errorf("%w: MaxWindow %d > %d", ErrBadInput, l.MaxWindow, MaxNACKs)
	case l.MaxRecvBuffer < 4*inOrderReserve:
		return fmt.Errorf("%w: MaxRecvBuffer %d < %d", ErrBadInput, l.MaxRecvBuffer, 4*inOrderReserve)
	case l.MinRTO > l.MaxRTO:
		return fmt.Errorf("%w: MinRTO > MaxRTO", ErrBadInput)
	}
	return nil
}

// bucket is a token bucket on the Mux's clock (the SYN rate limit).
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucket) allow(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
	}
	b.tokens, b.last = min(b.tokens, b.burst), now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Stats are a Mux's counters since it started.
type Stats struct {
	OpenStreams int
	Accepted    uint64 // incoming streams handed to a listener
	Dialed      uint64 // outgoing streams established
	Refused     uint64 // incoming SYNs refused: limits, rate, no listener, backlog
	BytesIn     uint64 // payload bytes delivered in order
	BytesOut    uint64 // payload bytes sent the first time
	PacketsOut  uint64 // packets handed to the transport
	Resends     uint64 // packets sent again (timeout or NACK)
}

package balancer

import (
	"context"
	"fmt"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// ReplyTTL is how long an echo reply may wait in the router.
const ReplyTTL = time.Minute

// payload serves a payload that reached the leader through a router:
// counted per router; under the echo service a repliable datagram is
// answered to its sender through the same router (only it holds the
// sender's end-to-end session state), by at most Config.MaxEchoWorkers
// goroutines at once: beyond that the payload is dropped and counted.
func (l *loop) payload(d *destState, r *routerState, s *session, m *routerproto.MessagePayload) {
	d.payloads[r.name]++
	rc := l.b.counters.router(d.name, r.name)
	rc.Payloads++
	rc.PayloadBytes += uint64(len(m.Payload))
	switch d.settings.Service {
	case fsm.ServiceTCP:
		l.streamPayload(d, r, m)
		return
	case fsm.ServiceEcho:
	default:
		return
	}
	select {
	case l.echoSem <- struct{}{}:
	default:
		d.echoDropped++
		l.log.Debug("echo: too many replies in flight; payload dropped", "router", r.name, "dest", d.name, "dropped", d.echoDropped)
		return
	}
	conn, sid, keys, log := r.conn, s.id, d.keys, l.log.With("router", r.name, "dest", d.name)
	l.spawn(func(ctx context.Context) event {
		defer func() { <-l.echoSem }()
		reply, to, err := echoReply(keys, m.Payload)
		if err != nil {
			log.Debug("echo: not answered", "err", err)
			return nil
		}
		send := &routerproto.SendMessageExpires{
			SendMessage: routerproto.SendMessage{SessionID: sid, Destination: to, Payload: reply},
			Expiration:  uint64(routerTime(conn).Add(ReplyTTL).UnixMilli()), // by the router's clock
		}
		if err := conn.Send(ctx, send); err != nil {
			log.Warn("echo: send reply", "to", to.B32(), "err", err)
		}
		return nil
	})
}

// echoReply answers a repliable datagram (protocol 17) with the same data,
// signed by the service, ports swapped. Anything else has no answer.
func echoReply(keys *i2p.PrivateKeys, payload []byte) ([]byte, *i2p.Destination, error) {
	p, err := i2p.ParsePayload(payload)
	if err != nil {
		return nil, nil, err
	}
	if p.Protocol != i2p.ProtoRepliableDatagram {
		return nil, nil, fmt.Errorf("protocol %d is not a repliable datagram", p.Protocol)
	}
	dg, err := i2p.ParseRepliableDatagram(p.Data)
	if err != nil {
		return nil, nil, err
	}
	if err := dg.Verify(); err != nil {
		return nil, nil, fmt.Errorf("datagram from %s: %w", dg.From.B32(), err)
	}
	answer, err := i2p.NewRepliableDatagram(keys, dg.Data)
	if err != nil {
		return nil, nil, err
	}
	body, err := answer.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	out, err := i2p.Payload{Protocol: i2p.ProtoRepliableDatagram, SrcPort: p.DstPort, DstPort: p.SrcPort, Data: body}.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	return out, dg.From, nil
}

// streamPayload hands a streaming payload to d's stream service; anything
// else reaching a TCP service is counted and dropped.
func (l *loop) streamPayload(d *destState, r *routerState, m *routerproto.MessagePayload) {
	if d.svc == nil {
		return
	}
	p, err := i2p.ParsePayload(m.Payload)
	if err != nil || p.Protocol != i2p.ProtoStreaming {
		l.log.Debug("payload is not a stream packet", "dest", d.name, "router", r.name, "err", err)
		return
	}
	d.svc.deliver(r.name, p)
}

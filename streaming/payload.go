package streaming

import (
	"context"
	"fmt"

	"github.com/imh-project/imh/i2p"
)

// PayloadSender sends one I2CP payload (the gzip-wrapped bytes of an
// i2p.Payload) to a destination: an I2CP session's SendMessage, a simulated
// network endpoint, a router session of the balancer.
type PayloadSender func(ctx context.Context, to *i2p.Destination, payload []byte) error

// PayloadTransport makes a Transport of anything that sends I2CP payloads:
// each packet travels as protocol 6 with its ports in the gzip header, as
// every I2P router expects.
func PayloadTransport(send PayloadSender) Transport { return payloadTransport(send) }

type payloadTransport PayloadSender

func (t payloadTransport) SendPacket(ctx context.Context, to *i2p.Destination, srcPort, dstPort uint16, packet []byte) error {
	payload, err := WrapPacket(srcPort, dstPort, packet)
	if err != nil {
		return err
	}
	return t(ctx, to, payload)
}

// WrapPacket is the I2CP payload that carries one streaming packet.
func WrapPacket(srcPort, dstPort uint16, packet []byte) ([]byte, error) {
	b, err := i2p.Payload{Protocol: i2p.ProtoStreaming, SrcPort: srcPort, DstPort: dstPort, Data: packet}.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("wrap stream packet: %w", err)
	}
	return b, nil
}

// HandlePayload unwraps an I2CP payload and hands a streaming packet to the
// Mux. A payload of another protocol, or one that does not parse, is an
// error and changes nothing.
func (m *Mux) HandlePayload(payload []byte) error {
	p, err := i2p.ParsePayload(payload)
	if err != nil {
		return fmt.Errorf("stream payload: %w", err)
	}
	if p.Protocol != i2p.ProtoStreaming {
		return fmt.Errorf("%w: protocol %d is not streaming", ErrBadPacket, p.Protocol)
	}
	m.HandlePacket(p.SrcPort, p.DstPort, p.Data)
	return nil
}

package streaming

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"

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

// NewClientMux is a Mux with the default limits for keys' Destination that
// sends I2CP payloads with send and resolves b32 addresses (Dial) with
// lookup: the client side of streaming over an I2CP session or a simulated
// network endpoint. The owner hands every payload it receives to
// HandlePayload.
func NewClientMux(keys *i2p.PrivateKeys, send PayloadSender, lookup func(context.Context, i2p.Hash) (*i2p.Destination, error), logger *slog.Logger) (*Mux, error) {
	id, err := NewIdentity(keys)
	if err != nil {
		return nil, err
	}
	return NewMux(Config{
		Identity: id, Transport: PayloadTransport(send), Logger: logger,
		Resolve: func(ctx context.Context, b32 string) (*i2p.Destination, error) {
			h, err := i2p.ParseB32(b32)
			if err != nil {
				return nil, err
			}
			return lookup(ctx, h)
		},
	})
}

func (t payloadTransport) SendPacket(ctx context.Context, to *i2p.Destination, srcPort, dstPort uint16, packet []byte) error {
	payload, err := WrapPacket(srcPort, dstPort, packet)
	if err != nil {
		return err
	}
	return t(ctx, to, payload)
}

// WrapPacket is the I2CP payload that carries one streaming packet: the
// bytes i2p.Payload.MarshalBinary writes, built with a reused gzip writer.
// A new flate compressor allocates about 700 KB, which per packet made bulk
// streams CPU-bound (and, under the race detector, starved them).
func WrapPacket(srcPort, dstPort uint16, packet []byte) ([]byte, error) {
	if len(packet) > i2p.MaxPayloadData {
		return nil, fmt.Errorf("wrap stream packet: %w: %d bytes of data", i2p.ErrBadPayload, len(packet))
	}
	zw := getGzip()
	var buf bytes.Buffer
	buf.Grow(len(packet) + 64)
	zw.Reset(&buf)
	_, err := zw.Write(packet)
	if err == nil {
		err = zw.Close()
	}
	zw.Reset(io.Discard) // drop the reference to buf
	putGzip(zw)
	if err != nil {
		return nil, fmt.Errorf("wrap stream packet: gzip: %w", err)
	}
	b := buf.Bytes()
	b[4], b[5] = byte(srcPort>>8), byte(srcPort)
	b[6], b[7] = byte(dstPort>>8), byte(dstPort)
	b[8] = 2 // XFL, as Java writes it
	b[9] = i2p.ProtoStreaming
	return b, nil
}

// gzipWriters is a small free list of BestSpeed writers. Not a sync.Pool:
// under the race detector a Pool drops a quarter of what is put back, which
// would bring back the allocations this avoids.
var gzipWriters = make(chan *gzip.Writer, 16)

func getGzip() *gzip.Writer {
	select {
	case zw := <-gzipWriters:
		return zw
	default:
		zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // a valid level: no error
		return zw
	}
}

func putGzip(zw *gzip.Writer) {
	select {
	case gzipWriters <- zw:
	default:
	}
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

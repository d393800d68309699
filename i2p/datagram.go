package i2p

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// End-to-end payload protocols (the gzip header's OS byte, I2P-WIRE 4.18).
const (
	ProtoStreaming         = 6
	ProtoRepliableDatagram = 17
	ProtoRawDatagram       = 18
)

// MaxPayloadData bounds the decompressed data of one I2CP payload: I2P
// messages are at most 64 KiB, and a gzip bomb must not make us allocate
// more.
const MaxPayloadData = 64 * 1024

// Errors of payload and datagram decoding.
var (
	ErrBadPayload  = errors.New("i2p: malformed i2cp payload")
	ErrBadDatagram = errors.New("i2p: malformed datagram")
)

// Payload is an I2CP message payload: a gzip stream whose header carries
// the ports (bytes 4–5 source, 6–7 destination, big-endian) and the
// protocol (byte 9) (I2P-WIRE 4.18).
type Payload struct {
	Protocol uint8
	SrcPort  uint16
	DstPort  uint16
	Data     []byte
}

// MarshalBinary gzips the data and writes ports and protocol into the
// header, as Java I2P and i2pd expect.
func (p Payload) MarshalBinary() ([]byte, error) {
	if len(p.Data) > MaxPayloadData {
		return nil, fmt.Errorf("%w: %d bytes of data", ErrBadPayload, len(p.Data))
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, fmt.Errorf("gzip payload: %w", err)
	}
	if _, err := zw.Write(p.Data); err != nil {
		return nil, fmt.Errorf("gzip payload: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip payload: %w", err)
	}
	b := buf.Bytes()
	b[4], b[5] = byte(p.SrcPort>>8), byte(p.SrcPort)
	b[6], b[7] = byte(p.DstPort>>8), byte(p.DstPort)
	b[8] = 2 // XFL, as Java writes it
	b[9] = p.Protocol
	return b, nil
}

// ParsePayload reads the header fields and gunzips at most MaxPayloadData
// bytes of data. It never panics on any input.
func ParsePayload(b []byte) (Payload, error) {
	if len(b) < 10 || b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 {
		return Payload{}, fmt.Errorf("%w: not a gzip stream", ErrBadPayload)
	}
	p := Payload{
		SrcPort:  uint16(b[4])<<8 | uint16(b[5]),
		DstPort:  uint16(b[6])<<8 | uint16(b[7]),
		Protocol: b[9],
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return Payload{}, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	zr.Multistream(false)
	data, err := io.ReadAll(io.LimitReader(zr, MaxPayloadData+1))
	if err != nil {
		return Payload{}, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	if len(data) > MaxPayloadData {
		return Payload{}, fmt.Errorf("%w: more than %d bytes of data", ErrBadPayload, MaxPayloadData)
	}
	p.Data = data
	return p, nil
}

// RepliableDatagram is a Datagram1 (protocol 17, I2P-WIRE 4.18b): the
// sender's Destination, its signature over the data, and the data. It is
// what a service answers: From says where to.
type RepliableDatagram struct {
	From      *Destination
	Signature []byte
	Data      []byte
}

// NewRepliableDatagram signs data with the sender's keys.
func NewRepliableDatagram(k *PrivateKeys, data []byte) (*RepliableDatagram, error) {
	sig, err := k.Sign(data)
	if err != nil {
		return nil, fmt.Errorf("sign datagram: %w", err)
	}
	return &RepliableDatagram{From: k.Destination(), Signature: sig, Data: data}, nil
}

// MarshalBinary encodes from ‖ signature ‖ data.
func (d *RepliableDatagram) MarshalBinary() ([]byte, error) {
	if d.From == nil || len(d.Signature) != d.From.SigType().SignatureLen() {
		return nil, fmt.Errorf("%w: no sender or wrong signature length", ErrBadDatagram)
	}
	b := append([]byte(nil), d.From.Bytes()...)
	b = append(b, d.Signature...)
	return append(b, d.Data...), nil
}

// ParseRepliableDatagram decodes a Datagram1 (it does not verify it).
func ParseRepliableDatagram(b []byte) (*RepliableDatagram, error) {
	from, n, err := ParseDestination(b)
	if err != nil {
		return nil, fmt.Errorf("%w: sender: %w", ErrBadDatagram, err)
	}
	sl := from.SigType().SignatureLen()
	if sl == 0 || len(b)-n < sl {
		return nil, fmt.Errorf("%w: %d bytes left for a %s signature", ErrBadDatagram, len(b)-n, from.SigType())
	}
	return &RepliableDatagram{
		From:      from,
		Signature: append([]byte(nil), b[n:n+sl]...),
		Data:      append([]byte(nil), b[n+sl:]...),
	}, nil
}

// Verify checks the sender's signature over the data (over SHA-256 of the
// data for DSA_SHA1, which VerifySignature refuses anyway).
func (d *RepliableDatagram) Verify() error {
	return d.From.Verify(d.Data, d.Signature)
}

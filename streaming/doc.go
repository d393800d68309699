// Package streaming implements the I2P streaming protocol (I2CP protocol 6,
// the TCP-like layer inside the gzip-wrapped I2CP payload) as net.Listener
// and net.Conn, so that imh can terminate streams and bridge them to TCP
// services.
//
// The package has two layers. Packet is a pure codec of the streaming
// packet with every field and option, and the signing rules (SYN, CLOSE and
// RESET are signed over the whole packet with the signature bytes zeroed, by
// the Destination or by a transient key its offline signature certifies).
// Mux and Conn are the connection logic: the SYN / SYN-reply handshake,
// sequenced data with ACK and NACK, selective retransmission with an RFC
// 6298 RTO, a slow-start / additive-increase / halve-on-loss window, choking
// when the receive buffer is full, half-close with CLOSE, RESET, and answers
// to pings. Streams are demultiplexed by our stream id alone, because the
// packets of one stream may arrive through different routers.
//
// A Mux does no I/O of its own: the owner hands it every incoming protocol-6
// payload (HandlePacket) and gives it a Transport to send with. Time comes
// from an injectable clock, so tests run under testing/synctest. Every
// table, buffer and rate is bounded by Limits. docs/streaming.md says what
// of the specification is implemented and what is not.
//
// It imports only the i2p package, internal/clock and the standard library.
package streaming

// Package routerproto is imh's router protocol: I2CP framing and the standard
// I2CP messages (so the same client talks to a stock i2pd or Java I2P
// router), plus extension messages for what I2CP lacks (fast tier, tunnel
// control, tunnel pools, sending through a chosen tunnel, knowing which
// tunnel a payload came through, publication reports). PROTOCOL.md at the
// project root is the normative description of every extension message.
//
// Layers:
//   - Codec: Decode(type, body) turns a frame body into a typed Message; every
//     Message appends its body with AppendBody and AppendFrame adds the
//     5-byte header. Decoders are pure and total: any input gives a value or
//     an error, never a panic.
//   - Conn: framing over a net.Conn with deadlines, a write lock and a frame
//     size limit checked before allocating.
//   - Client: the balancer's (or a CLI's) side: handshake, sessions,
//     request/response keyed by request id, and a stream of router-initiated
//     events.
//   - Server: the router's side: accepts connections, handshakes, and calls a
//     Handler (implemented by package router) for every client message. The
//     Handler pushes events back through the *ServerConn it is given.
package routerproto

// Package frontendproto is the link between the balancer leader and the
// frontends of a multi-client deployment (I2P proposal 140).
//
// In multi-client mode a Destination is served by several frontends, each a
// process beside one router that data-attaches to that router's session and
// carries the Destination's streams to a backend service. The leader only
// steers: it tells each frontend which Destinations to serve through which
// router (Assign), hands out short-lived signing authority (KeyGrant: an I2P
// offline signature over a transient key the frontend generated, plus a grant
// that lets that key data-attach to one router), and reads back what happened
// (Report). Stream data never passes through the leader, so losing the leader
// stops no stream; it only freezes the plan until the next one takes over.
//
// The leader (an agent) dials; the frontend listens. Both ends first write a
// five-byte preamble ("IMHF" and a version byte) and check the peer's, then
// exchange frames of a u32 body length, a u8 type and the body. PROTOCOL.md
// section 9 is the normative description of every message; the golden files
// in testdata pin it byte for byte.
//
// Layers:
//   - Codec: Unmarshal(type, body) turns a frame body into a typed Message;
//     every Message appends its body with AppendBinary and AppendFrame (or
//     Marshal) adds the header. Decoders are pure and total: any input gives a
//     value or an error, never a panic, and decoded messages never alias the
//     input.
//   - Conn: the preamble handshake and framing over a net.Conn (TLS in
//     production, TCP or net.Pipe in tests), with a body limit checked before
//     anything is allocated.
package frontendproto

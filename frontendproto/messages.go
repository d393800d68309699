package frontendproto

import (
	"errors"
	"fmt"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/wire"
)

// Wire conventions, as PROTOCOL.md section 9 states them: integers are
// unsigned big-endian; a string is an I2P String (wire.AppendString: one
// length byte, then at most 255 bytes); a blob is a u16 length, then that
// many bytes; a Destination is the I2P Destination bytes as they are, which
// delimit themselves (i2p.ParseDestination).

// Limits every decoder checks before it allocates, and every encoder before
// it writes.
const (
	// MaxAssignments bounds an Assign: the Destinations one frontend serves.
	MaxAssignments = 256
	// MaxDestReports bounds a Report; a frontend reports at most what it
	// was assigned.
	MaxDestReports = MaxAssignments
	// MaxSignatureLen bounds the offline signature of a KeyGrant (the
	// largest I2P signature, RSA-4096, is 512 bytes).
	MaxSignatureLen = 1024
	// MaxGrantLen bounds the grant of a KeyGrant.
	MaxGrantLen = 1024
)

// Policy values of an Assignment: how the Destination's routers share it.
const (
	// PolicySpread: every assigned router publishes leases and takes
	// streams.
	PolicySpread uint8 = 0
	// PolicyFailover: only the Active router's leases are published; the
	// others stand by.
	PolicyFailover uint8 = 1
)

// Flag bits. Bits not listed are reserved: encoders never set them and
// decoders refuse them, so that a meaning given to them later cannot be
// silently ignored by an old peer.
const (
	assignActive   = 1 << 0
	assignDraining = 1 << 1
	assignFlags    = assignActive | assignDraining

	reportAttached  = 1 << 0
	reportBackendUp = 1 << 1
	reportFlags     = reportAttached | reportBackendUp
)

// errLength is the detail behind a length field out of its bounds.
var errLength = errors.New("length out of bounds")

// encoder appends fields with a sticky error, the writing counterpart of
// wire.Reader: an AppendBinary writes every field and checks once.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(field string, err error) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: %w", field, err)
	}
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = wire.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = wire.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = wire.AppendUint64(e.b, v) }

func (e *encoder) str(field, s string) {
	b, err := wire.AppendString(e.b, s)
	if err != nil {
		e.fail(field, err)
	}
	e.b = b
}

// blob appends a u16 length and v, which must hold lo..hi bytes.
func (e *encoder) blob(field string, v []byte, lo, hi int) {
	if len(v) < lo || len(v) > hi {
		e.fail(field, fmt.Errorf("%w: %d bytes (want %d..%d)", errLength, len(v), lo, hi))
		return
	}
	e.u16(uint16(len(v)))
	e.b = append(e.b, v...)
}

// count appends a u16 element count, at most limit.
func (e *encoder) count(field string, n, limit int) {
	if n > limit {
		e.fail(field, fmt.Errorf("%w: %d (max %d)", errLength, n, limit))
		return
	}
	e.u16(uint16(n))
}

// transientKey appends a signature type and a blob holding exactly the
// public key length of that type.
func (e *encoder) transientKey(t i2p.SigType, key []byte) {
	if !t.Known() {
		e.fail("transient type", fmt.Errorf("%w: %d", i2p.ErrUnknownSigType, uint16(t)))
		return
	}
	e.u16(uint16(t))
	e.blob("transient key", key, t.PublicKeyLen(), t.PublicKeyLen())
}

// finish returns the appended bytes, or b[:start] and the first error
// wrapped in ErrMalformed.
func (e *encoder) finish(start int, t MsgType) ([]byte, error) {
	if e.err != nil {
		return e.b[:start], fmt.Errorf("%w: encode %s: %w", ErrMalformed, t, e.err)
	}
	return e.b, nil
}

// readBlob reads a u16 length and that many bytes (copied), which must be
// lo..hi.
func readBlob(r *wire.Reader, field string, lo, hi int) []byte {
	n := int(r.Uint16(field + " length"))
	if r.Err() != nil {
		return nil
	}
	if n < lo || n > hi {
		r.Fail(field, fmt.Errorf("%w: %d bytes (want %d..%d)", errLength, n, lo, hi))
		return nil
	}
	return r.Copy(field, n)
}

// readCount reads a u16 element count, at most limit.
func readCount(r *wire.Reader, field string, limit int) int {
	n := int(r.Uint16(field))
	if r.Err() == nil && n > limit {
		r.Fail(field, fmt.Errorf("%w: %d (max %d)", errLength, n, limit))
		return 0
	}
	return n
}

// readTransientKey reads a signature type and a blob holding exactly that
// type's public key.
func readTransientKey(r *wire.Reader) (i2p.SigType, []byte) {
	t := i2p.SigType(r.Uint16("transient type"))
	if r.Err() != nil {
		return 0, nil
	}
	if !t.Known() {
		r.Fail("transient type", fmt.Errorf("%w: %d", i2p.ErrUnknownSigType, uint16(t)))
		return 0, nil
	}
	return t, readBlob(r, "transient key", t.PublicKeyLen(), t.PublicKeyLen())
}

// readFlags reads a flag byte and refuses bits outside known.
func readFlags(r *wire.Reader, field string, known uint8) uint8 {
	f := r.Uint8(field)
	if r.Err() == nil && f&^known != 0 {
		r.Fail(field, fmt.Errorf("unknown bits 0x%02x", f&^known))
	}
	return f
}

// Assign (1, leader → frontend) is the complete set of Destinations the
// frontend serves from now on: it serves exactly the set of the latest
// Assign, starting what is new and stopping what is gone. The leader sends
// one on connect and whenever the set changes. Term is the leader's raft
// term; a frontend ignores an Assign of a lower term than one it has
// applied, so that a deposed leader still connected cannot undo its
// successor's plan.
//
//	term u64 | leader String | frontend String | n u16 (≤ 256) | n × Assignment
type Assign struct {
	Term        uint64
	Leader      string // the leader's node name
	Frontend    string // the frontend's name, as the leader knows it
	Assignments []Assignment
}

// Assignment is one Destination a frontend serves, and how.
//
//	name String | Destination | router String | service String | policy u8 | flags u8
//
// flags: bit 0 Active, bit 1 Draining; the others must be zero.
type Assignment struct {
	Name        string           // the cluster's name for the Destination
	Destination *i2p.Destination // the full Destination, to parse its streams' SYNs
	Router      string           // the cluster's name for the router to data-attach to
	Service     string           // backend HOST:PORT that accepted streams are carried to
	Policy      uint8            // PolicySpread or PolicyFailover
	// Active, under PolicyFailover, marks the router whose leases are
	// published.
	Active bool
	// Draining: keep the streams that are open, accept no new ones.
	Draining bool
}

// Type implements Message.
func (*Assign) Type() MsgType { return TypeAssign }

// AppendBinary implements Message.
func (m *Assign) AppendBinary(b []byte) ([]byte, error) {
	e := &encoder{b: b}
	start := len(b)
	e.u64(m.Term)
	e.str("leader", m.Leader)
	e.str("frontend", m.Frontend)
	e.count("assignment count", len(m.Assignments), MaxAssignments)
	for i := range m.Assignments {
		if e.err != nil {
			break
		}
		m.Assignments[i].append(e)
	}
	return e.finish(start, TypeAssign)
}

func (a *Assignment) append(e *encoder) {
	e.str("name", a.Name)
	if a.Destination == nil {
		e.fail("destination", errors.New("missing"))
		return
	}
	e.b = append(e.b, a.Destination.Bytes()...)
	e.str("router", a.Router)
	e.str("service", a.Service)
	if a.Policy > PolicyFailover {
		e.fail("policy", fmt.Errorf("unknown policy %d", a.Policy))
	}
	e.u8(a.Policy)
	var f uint8
	if a.Active {
		f |= assignActive
	}
	if a.Draining {
		f |= assignDraining
	}
	e.u8(f)
}

func decodeAssign(r *wire.Reader) (Message, error) {
	m := &Assign{Term: r.Uint64("term"), Leader: r.String("leader"), Frontend: r.String("frontend")}
	n := readCount(r, "assignment count", MaxAssignments)
	if n > 0 && r.Err() == nil {
		m.Assignments = make([]Assignment, 0, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		m.Assignments = append(m.Assignments, readAssignment(r))
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

func readAssignment(r *wire.Reader) Assignment {
	a := Assignment{Name: r.String("name")}
	if r.Err() != nil {
		return a
	}
	d, n, err := i2p.ParseDestination(r.Rest())
	if err != nil {
		r.Fail("destination", err)
		return a
	}
	r.Bytes("destination", n) // ParseDestination copied them
	a.Destination = d
	a.Router = r.String("router")
	a.Service = r.String("service")
	a.Policy = r.Uint8("policy")
	if r.Err() == nil && a.Policy > PolicyFailover {
		r.Fail("policy", fmt.Errorf("unknown policy %d", a.Policy))
	}
	f := readFlags(r, "assignment flags", assignFlags)
	a.Active, a.Draining = f&assignActive != 0, f&assignDraining != 0
	return a
}

// KeyRequest (2, frontend → leader) asks for signing authority over the
// named Destination for a transient key pair the frontend generated itself;
// only the public half leaves the frontend. The leader answers KeyGrant or
// KeyRefused.
//
//	name String | transient type u16 | transient key u16 length + bytes
//
// The key length must be the public key length of the type, which must be a
// known I2P signature type.
type KeyRequest struct {
	Name          string
	TransientType i2p.SigType
	TransientKey  []byte
}

// Type implements Message.
func (*KeyRequest) Type() MsgType { return TypeKeyRequest }

// AppendBinary implements Message.
func (m *KeyRequest) AppendBinary(b []byte) ([]byte, error) {
	e := &encoder{b: b}
	start := len(b)
	e.str("name", m.Name)
	e.transientKey(m.TransientType, m.TransientKey)
	return e.finish(start, TypeKeyRequest)
}

func decodeKeyRequest(r *wire.Reader) (Message, error) {
	m := &KeyRequest{Name: r.String("name")}
	m.TransientType, m.TransientKey = readTransientKey(r)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

// KeyGrant (3, leader → frontend) answers KeyRequest. Offline is the
// Destination's I2P offline signature over the transient key (I2P-WIRE 6.5),
// with a short expiry; the frontend puts it into the streaming SYNs it signs
// with the transient key. Grant is the Destination's signature authorising
// that transient key to data-attach to the one router named; routerproto
// verifies it, this package only carries the bytes.
//
//	name String | expires u32 (s since epoch) | transient type u16 |
//	transient key u16 length + bytes | offline signature u16 length + bytes |
//	router String | grant u16 length + bytes
//
// The first four fields after the name are Offline's; the signature holds
// 1..1024 bytes (its length depends on the Destination's type, which this
// message does not carry), the grant 1..1024.
type KeyGrant struct {
	Name    string
	Offline *i2p.OfflineSignature
	Router  string
	Grant   []byte
}

// Type implements Message.
func (*KeyGrant) Type() MsgType { return TypeKeyGrant }

// AppendBinary implements Message.
func (m *KeyGrant) AppendBinary(b []byte) ([]byte, error) {
	e := &encoder{b: b}
	start := len(b)
	e.str("name", m.Name)
	if o := m.Offline; o == nil {
		e.fail("offline signature", errors.New("missing"))
	} else {
		e.u32(o.Expires)
		e.transientKey(o.TransientType, o.TransientKey)
		e.blob("offline signature", o.Signature, 1, MaxSignatureLen)
	}
	e.str("router", m.Router)
	e.blob("grant", m.Grant, 1, MaxGrantLen)
	return e.finish(start, TypeKeyGrant)
}

func decodeKeyGrant(r *wire.Reader) (Message, error) {
	m := &KeyGrant{Name: r.String("name")}
	o := &i2p.OfflineSignature{Expires: r.Uint32("expires")}
	o.TransientType, o.TransientKey = readTransientKey(r)
	o.Signature = readBlob(r, "offline signature", 1, MaxSignatureLen)
	m.Offline = o
	m.Router = r.String("router")
	m.Grant = readBlob(r, "grant", 1, MaxGrantLen)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

// KeyRefused (4, leader → frontend) answers a KeyRequest the leader will
// not grant (the Destination is not assigned to this frontend, its key is
// not available, a bad key type). The frontend stops serving the name until
// a later Assign or a successful retry.
//
//	name String | reason String
type KeyRefused struct {
	Name   string
	Reason string
}

// Type implements Message.
func (*KeyRefused) Type() MsgType { return TypeKeyRefused }

// AppendBinary implements Message.
func (m *KeyRefused) AppendBinary(b []byte) ([]byte, error) {
	e := &encoder{b: b}
	start := len(b)
	e.str("name", m.Name)
	e.str("reason", m.Reason)
	return e.finish(start, TypeKeyRefused)
}

func decodeKeyRefused(r *wire.Reader) (Message, error) {
	m := &KeyRefused{Name: r.String("name"), Reason: r.String("reason")}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

// Report (5, frontend → leader) is the frontend's state, sent every second:
// one DestReport per Destination it serves. Counters are totals since the
// frontend started serving the name, so a lost or late Report loses nothing.
//
//	frontend String | router String | n u16 (≤ 256) | n × DestReport
type Report struct {
	Frontend string // the frontend's name
	Router   string // the router it sits beside
	Dests    []DestReport
}

// DestReport is one Destination's line of a Report.
//
//	name String | flags u8 | key expires u32 | open u32 | accepted u64 |
//	refused u64 | bytes in u64 | bytes out u64 | errors u64 | last error String
//
// flags: bit 0 Attached, bit 1 BackendUp; the others must be zero.
type DestReport struct {
	Name       string
	Attached   bool   // the data attachment to the router is up
	BackendUp  bool   // the last dial of the backend service succeeded
	KeyExpires uint32 // when the offline signature in use expires, s since epoch (0: none)
	Open       uint32 // streams open now
	Accepted   uint64 // streams accepted
	Refused    uint64 // streams refused (draining, backend down, limits)
	BytesIn    uint64 // bytes from I2P to the backend
	BytesOut   uint64 // bytes from the backend to I2P
	Errors     uint64 // streams ended by an error
	LastError  string // the latest error, "" if none
}

// Type implements Message.
func (*Report) Type() MsgType { return TypeReport }

// AppendBinary implements Message.
func (m *Report) AppendBinary(b []byte) ([]byte, error) {
	e := &encoder{b: b}
	start := len(b)
	e.str("frontend", m.Frontend)
	e.str("router", m.Router)
	e.count("report count", len(m.Dests), MaxDestReports)
	for i := range m.Dests {
		if e.err != nil {
			break
		}
		d := &m.Dests[i]
		e.str("name", d.Name)
		var f uint8
		if d.Attached {
			f |= reportAttached
		}
		if d.BackendUp {
			f |= reportBackendUp
		}
		e.u8(f)
		e.u32(d.KeyExpires)
		e.u32(d.Open)
		e.u64(d.Accepted)
		e.u64(d.Refused)
		e.u64(d.BytesIn)
		e.u64(d.BytesOut)
		e.u64(d.Errors)
		e.str("last error", d.LastError)
	}
	return e.finish(start, TypeReport)
}

func decodeReport(r *wire.Reader) (Message, error) {
	m := &Report{Frontend: r.String("frontend"), Router: r.String("router")}
	n := readCount(r, "report count", MaxDestReports)
	if n > 0 && r.Err() == nil {
		m.Dests = make([]DestReport, 0, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		d := DestReport{Name: r.String("name")}
		f := readFlags(r, "report flags", reportFlags)
		d.Attached, d.BackendUp = f&reportAttached != 0, f&reportBackendUp != 0
		d.KeyExpires = r.Uint32("key expires")
		d.Open = r.Uint32("open")
		d.Accepted = r.Uint64("accepted")
		d.Refused = r.Uint64("refused")
		d.BytesIn = r.Uint64("bytes in")
		d.BytesOut = r.Uint64("bytes out")
		d.Errors = r.Uint64("errors")
		d.LastError = r.String("last error")
		m.Dests = append(m.Dests, d)
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

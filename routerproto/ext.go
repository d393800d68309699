package routerproto

import (
	"fmt"
	"strconv"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/wire"
)

// ExtVersion is the version of the extension block this package speaks,
// sent in Capabilities. A router answers with the highest version it has
// that is not above what the client offered in imh.ext.
const ExtVersion = 1

// Option keys imh reads from GetDate and CreateSession mappings.
const (
	// OptExt in GetDate asks an imh router for extensions ("1").
	OptExt = "imh.ext"
	// OptManaged in CreateSession marks a managed session ("true").
	OptManaged = "imh.managed"
	// OptTerm in CreateSession is the controller's fencing term (decimal).
	OptTerm = "imh.term"
	// OptBinding in a managed CreateSession or a data attachment is the
	// hex of the connection's Binding: the router refuses one that does
	// not match its own side of the connection (PROTOCOL.md 5.5).
	OptBinding = "imh.binding"
	// OptAttach in CreateSession makes a data attachment ("data") to an
	// existing managed session instead of a control connection.
	OptAttach = "imh.attach"
	// OptUsername and OptPassword carry I2CP authentication in GetDate.
	OptUsername = "i2cp.username"
	OptPassword = "i2cp.password"
)

// Extension names a router lists in Capabilities. Append only.
const (
	CapManagedSessions = "managed-sessions" // imh.managed / imh.term semantics
	CapFastTier        = "fast-tier"        // GetFastTier / PeerList
	CapCreateTunnel    = "create-tunnel"    // CreateTunnel / TunnelStatus (router chooses hops)
	CapExplicitHops    = "explicit-hops"    // CreateTunnel with an explicit hop list
	CapTunnelPool      = "tunnel-pool"      // GetTunnelPool / TunnelList
	CapSendVia         = "send-via"         // SendVia
	CapPayloadFrom     = "payload-from"     // PayloadFrom before MessagePayload
	CapLeaseSetStatus  = "leaseset-status"  // LeaseSetStatus after CreateLeaseSet2
	CapNeedLeaseSet    = "need-leaseset"    // NeedLeaseSet
)

// AllCapabilities lists every extension this package implements, in the
// order a full imh router announces them.
var AllCapabilities = []string{
	CapManagedSessions, CapFastTier, CapCreateTunnel, CapExplicitHops, CapTunnelPool,
	CapSendVia, CapPayloadFrom, CapLeaseSetStatus, CapNeedLeaseSet,
}

// capabilityFor names the capability a client→router extension needs.
var capabilityFor = map[Type]string{
	TypeGetFastTier:   CapFastTier,
	TypeCreateTunnel:  CapCreateTunnel,
	TypeGetTunnelPool: CapTunnelPool,
	TypeSendVia:       CapSendVia,
}

// MaxCapabilities bounds the Capabilities list.
const MaxCapabilities = 64

// Capabilities (200, R→C) is an imh router's answer to a GetDate carrying
// imh.ext=1, sent before SetDate.
//
//	version u8 | n u8 | n × name String | router hash (32)
//
// RouterHash is the router's identity hash (zero when it has none of its
// own, e.g. an adapter in front of a stock router that hides it).
type Capabilities struct {
	Version    uint8
	Names      []string
	RouterHash i2p.Hash
}

// Type implements Message.
func (*Capabilities) Type() Type { return TypeCapabilities }

// Has reports whether name is listed.
func (m *Capabilities) Has(name string) bool {
	for _, n := range m.Names {
		if n == name {
			return true
		}
	}
	return false
}

// AppendBody implements Message.
func (m *Capabilities) AppendBody(b []byte) ([]byte, error) {
	if len(m.Names) > MaxCapabilities {
		return b, fmt.Errorf("%w: %d capabilities", ErrMalformed, len(m.Names))
	}
	b = append(b, m.Version, byte(len(m.Names)))
	var err error
	for _, n := range m.Names {
		if b, err = wire.AppendString(b, n); err != nil {
			return b, err
		}
	}
	return append(b, m.RouterHash[:]...), nil
}

func decodeCapabilities(r *wire.Reader) (Message, error) {
	m := &Capabilities{Version: r.Uint8("version")}
	n := int(r.Uint8("count"))
	if n > MaxCapabilities {
		return nil, fmt.Errorf("%w: %d capabilities", ErrMalformed, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		m.Names = append(m.Names, r.String("name"))
	}
	copy(m.RouterHash[:], r.Bytes("router hash", i2p.HashLen))
	return m, r.Finish()
}

// GetFastTier (201, C→R) asks for the router's fast tier: the peers it
// would build tunnels through.
//
//	request id u32 | max u16 (0 = all)
type GetFastTier struct {
	RequestID uint32
	Max       uint16
}

// Type implements Message.
func (*GetFastTier) Type() Type { return TypeGetFastTier }

// AppendBody implements Message.
func (m *GetFastTier) AppendBody(b []byte) ([]byte, error) {
	return wire.AppendUint16(wire.AppendUint32(b, m.RequestID), m.Max), nil
}

func decodeGetFastTier(r *wire.Reader) (Message, error) {
	m := &GetFastTier{RequestID: r.Uint32("request id"), Max: r.Uint16("max")}
	return m, r.Finish()
}

// Result codes of extension replies (PeerList, TunnelStatus, TunnelList).
// Append only.
type Result uint8

// Extension result codes.
const (
	ResultOK          Result = 0 // done (TunnelStatus: built)
	ResultFailed      Result = 1 // build failed / request failed
	ResultExpired     Result = 2 // TunnelStatus: the tunnel expired
	ResultBroken      Result = 3 // TunnelStatus: a built tunnel failed (test failure, hop gone)
	ResultBadRequest  Result = 4 // malformed or impossible request (e.g. hops > 7)
	ResultUnsupported Result = 5 // the router cannot do this (e.g. explicit hops)
	ResultNoSession   Result = 6 // unknown session id
	ResultNotControl  Result = 7 // the connection is not the session's controller (stale or data attachment)
	ResultTimeout     Result = 8 // the router gave up waiting (e.g. build reply timeout)
	ResultUnknownPeer Result = 9 // an explicit hop is not a known peer
)

var resultNames = [...]string{"ok", "failed", "expired", "broken", "bad-request", "unsupported", "no-session", "not-control", "timeout", "unknown-peer"}

// String is the code's name in PROTOCOL.md.
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}

// Peer is one fast-tier entry: what a balancer needs to choose hops.
//
//	hash (32) | caps String | bandwidth u8 (class letter) |
//	reliability u16 (0–10000 = build success per hop, basis points) |
//	latency u16 (ms per hop, 0 = unknown)
type Peer struct {
	Hash        i2p.Hash
	Caps        string // RouterInfo caps, e.g. "OfR"
	Bandwidth   byte   // bandwidth class letter: K L M N O P X
	Reliability uint16 // basis points, 10000 = always succeeds
	LatencyMs   uint16
}

// MaxPeers bounds a PeerList.
const MaxPeers = 1024

// PeerList (202, R→C) answers GetFastTier.
//
//	request id u32 | result u8 | n u16 | n × Peer
type PeerList struct {
	RequestID uint32
	Result    Result
	Peers     []Peer
}

// Type implements Message.
func (*PeerList) Type() Type { return TypePeerList }

// AppendBody implements Message.
func (m *PeerList) AppendBody(b []byte) ([]byte, error) {
	if len(m.Peers) > MaxPeers {
		return b, fmt.Errorf("%w: %d peers", ErrMalformed, len(m.Peers))
	}
	b = append(wire.AppendUint32(b, m.RequestID), byte(m.Result))
	b = wire.AppendUint16(b, uint16(len(m.Peers)))
	var err error
	for _, p := range m.Peers {
		b = append(b, p.Hash[:]...)
		if b, err = wire.AppendString(b, p.Caps); err != nil {
			return b, err
		}
		b = append(b, p.Bandwidth)
		b = wire.AppendUint16(b, p.Reliability)
		b = wire.AppendUint16(b, p.LatencyMs)
	}
	return b, nil
}

func decodePeerList(r *wire.Reader) (Message, error) {
	m := &PeerList{RequestID: r.Uint32("request id"), Result: Result(r.Uint8("result"))}
	n := int(r.Uint16("count"))
	if n > MaxPeers {
		return nil, fmt.Errorf("%w: %d peers", ErrMalformed, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		var p Peer
		copy(p.Hash[:], r.Bytes("peer hash", i2p.HashLen))
		p.Caps = r.String("peer caps")
		p.Bandwidth = r.Uint8("peer bandwidth")
		p.Reliability = r.Uint16("peer reliability")
		p.LatencyMs = r.Uint16("peer latency")
		m.Peers = append(m.Peers, p)
	}
	return m, r.Finish()
}

// Direction of a tunnel.
type Direction uint8

// Tunnel directions. DirBoth is only valid in GetTunnelPool.
const (
	Inbound  Direction = 0
	Outbound Direction = 1
	DirBoth  Direction = 2
)

// String is "inbound", "outbound" or "both".
func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	case DirBoth:
		return "both"
	}
	return "direction(" + strconv.Itoa(int(d)) + ")"
}

// MaxHops is the longest tunnel I2P builds.
const MaxHops = 7

// CreateTunnel (203, C→R) asks the router to build one tunnel for a
// session. Hops empty = the router chooses HopCount peers; otherwise
// len(Hops) must equal HopCount and the peers are used in travel order:
// inbound Hops[0] is the gateway (where messages enter) and the last hop is
// next to the router; outbound Hops[0] is next to the router and the last
// hop is the endpoint.
//
//	request id u32 | session u16 | direction u8 | hop count u8 |
//	n u8 (0 or hop count) | n × hash (32)
type CreateTunnel struct {
	RequestID uint32
	SessionID uint16
	Direction Direction
	HopCount  uint8
	Hops      []i2p.Hash
}

// Type implements Message.
func (*CreateTunnel) Type() Type { return TypeCreateTunnel }

// AppendBody implements Message.
func (m *CreateTunnel) AppendBody(b []byte) ([]byte, error) {
	if err := checkHops(m.Direction, m.HopCount, m.Hops, true); err != nil {
		return b, err
	}
	b = wire.AppendUint16(wire.AppendUint32(b, m.RequestID), m.SessionID)
	b = append(b, byte(m.Direction), m.HopCount, byte(len(m.Hops)))
	return appendHashes(b, m.Hops), nil
}

func checkHops(d Direction, count uint8, hops []i2p.Hash, explicitMatches bool) error {
	if d != Inbound && d != Outbound {
		return fmt.Errorf("%w: %s", ErrMalformed, d)
	}
	if count > MaxHops || len(hops) > MaxHops {
		return fmt.Errorf("%w: %d hops (max %d)", ErrMalformed, max(int(count), len(hops)), MaxHops)
	}
	if explicitMatches && len(hops) != 0 && len(hops) != int(count) {
		return fmt.Errorf("%w: %d explicit hops for hop count %d", ErrMalformed, len(hops), count)
	}
	return nil
}

func appendHashes(b []byte, hs []i2p.Hash) []byte {
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

func readHashes(r *wire.Reader, n int) []i2p.Hash {
	var hs []i2p.Hash
	for i := 0; i < n && r.Err() == nil; i++ {
		var h i2p.Hash
		copy(h[:], r.Bytes("hop", i2p.HashLen))
		hs = append(hs, h)
	}
	return hs
}

func decodeCreateTunnel(r *wire.Reader) (Message, error) {
	m := &CreateTunnel{RequestID: r.Uint32("request id"), SessionID: r.Uint16("session id")}
	m.Direction = Direction(r.Uint8("direction"))
	m.HopCount = r.Uint8("hop count")
	n := int(r.Uint8("hop list length"))
	if err := r.Err(); err != nil {
		return nil, err
	}
	if n > MaxHops {
		return nil, fmt.Errorf("%w: %d hops", ErrMalformed, n)
	}
	m.Hops = readHashes(r, n)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, checkHops(m.Direction, m.HopCount, m.Hops, true)
}

// TunnelInfo describes one tunnel of a session.
//
//	direction u8 | tunnel id u32 | gateway (32) | expires u32 s |
//	n u8 | n × hop hash (32)
//
// For an inbound tunnel Gateway and TunnelID are exactly what a Lease
// names (the gateway router and the tunnel id at the gateway). For an
// outbound tunnel TunnelID is the id SendVia names and Gateway is the first
// hop (zero for a zero-hop tunnel). Hops are in travel order as in
// CreateTunnel; zero hops means a zero-hop tunnel.
type TunnelInfo struct {
	Direction Direction
	TunnelID  uint32
	Gateway   i2p.Hash
	Expires   uint32 // seconds since epoch
	Hops      []i2p.Hash
}

// Lease is the inbound tunnel as a LeaseSet2 lease.
func (t TunnelInfo) Lease() i2p.Lease2 {
	return i2p.Lease2{Gateway: t.Gateway, TunnelID: t.TunnelID, End: t.Expires}
}

func (t TunnelInfo) appendBinary(b []byte) ([]byte, error) {
	if err := checkHops(t.Direction, uint8(min(len(t.Hops), 255)), t.Hops, false); err != nil {
		return b, err
	}
	b = append(b, byte(t.Direction))
	b = wire.AppendUint32(b, t.TunnelID)
	b = append(b, t.Gateway[:]...)
	b = wire.AppendUint32(b, t.Expires)
	b = append(b, byte(len(t.Hops)))
	return appendHashes(b, t.Hops), nil
}

func readTunnelInfo(r *wire.Reader) TunnelInfo {
	t := TunnelInfo{Direction: Direction(r.Uint8("direction")), TunnelID: r.Uint32("tunnel id")}
	copy(t.Gateway[:], r.Bytes("gateway", i2p.HashLen))
	t.Expires = r.Uint32("expires")
	n := int(r.Uint8("hop count"))
	if r.Err() == nil && n > MaxHops {
		r.Fail("hop count", fmt.Errorf("%w: %d hops", ErrMalformed, n))
		return t
	}
	if r.Err() == nil && t.Direction != Inbound && t.Direction != Outbound {
		r.Fail("direction", fmt.Errorf("%w: %s", ErrMalformed, t.Direction))
		return t
	}
	t.Hops = readHashes(r, n)
	return t
}

// TunnelStatus (204, R→C) answers CreateTunnel (RequestID = the request's)
// and is also sent unsolicited (RequestID 0) when a tunnel of the session
// expires (ResultExpired) or fails (ResultBroken). Tunnel is meaningful for
// ResultOK, ResultExpired and ResultBroken; for a failed build it carries
// the direction and the hops that were tried. Reason is free text.
//
//	request id u32 | session u16 | result u8 | TunnelInfo | reason String
type TunnelStatus struct {
	RequestID uint32
	SessionID uint16
	Result    Result
	Tunnel    TunnelInfo
	Reason    string
}

// Type implements Message.
func (*TunnelStatus) Type() Type { return TypeTunnelStatus }

// AppendBody implements Message.
func (m *TunnelStatus) AppendBody(b []byte) ([]byte, error) {
	b = wire.AppendUint16(wire.AppendUint32(b, m.RequestID), m.SessionID)
	b = append(b, byte(m.Result))
	b, err := m.Tunnel.appendBinary(b)
	if err != nil {
		return b, err
	}
	return wire.AppendString(b, m.Reason)
}

func decodeTunnelStatus(r *wire.Reader) (Message, error) {
	m := &TunnelStatus{RequestID: r.Uint32("request id"), SessionID: r.Uint16("session id")}
	m.Result = Result(r.Uint8("result"))
	m.Tunnel = readTunnelInfo(r)
	m.Reason = r.String("reason")
	return m, r.Finish()
}

// GetTunnelPool (205, C→R) asks for a session's live tunnels.
//
//	request id u32 | session u16 | direction u8 (0 in, 1 out, 2 both)
type GetTunnelPool struct {
	RequestID uint32
	SessionID uint16
	Direction Direction
}

// Type implements Message.
func (*GetTunnelPool) Type() Type { return TypeGetTunnelPool }

// AppendBody implements Message.
func (m *GetTunnelPool) AppendBody(b []byte) ([]byte, error) {
	if m.Direction > DirBoth {
		return b, fmt.Errorf("%w: %s", ErrMalformed, m.Direction)
	}
	b = wire.AppendUint16(wire.AppendUint32(b, m.RequestID), m.SessionID)
	return append(b, byte(m.Direction)), nil
}

func decodeGetTunnelPool(r *wire.Reader) (Message, error) {
	m := &GetTunnelPool{RequestID: r.Uint32("request id"), SessionID: r.Uint16("session id")}
	m.Direction = Direction(r.Uint8("direction"))
	if err := r.Finish(); err != nil {
		return nil, err
	}
	if m.Direction > DirBoth {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, m.Direction)
	}
	return m, nil
}

// MaxTunnels bounds a TunnelList (fits a frame even with 7-hop tunnels).
const MaxTunnels = 200

// TunnelList (206, R→C) answers GetTunnelPool.
//
//	request id u32 | session u16 | result u8 | n u8 | n × TunnelInfo
type TunnelList struct {
	RequestID uint32
	SessionID uint16
	Result    Result
	Tunnels   []TunnelInfo
}

// Type implements Message.
func (*TunnelList) Type() Type { return TypeTunnelList }

// AppendBody implements Message.
func (m *TunnelList) AppendBody(b []byte) ([]byte, error) {
	if len(m.Tunnels) > MaxTunnels {
		return b, fmt.Errorf("%w: %d tunnels", ErrMalformed, len(m.Tunnels))
	}
	b = wire.AppendUint16(wire.AppendUint32(b, m.RequestID), m.SessionID)
	b = append(b, byte(m.Result), byte(len(m.Tunnels)))
	var err error
	for _, t := range m.Tunnels {
		if b, err = t.appendBinary(b); err != nil {
			return b, err
		}
	}
	return b, nil
}

func decodeTunnelList(r *wire.Reader) (Message, error) {
	m := &TunnelList{RequestID: r.Uint32("request id"), SessionID: r.Uint16("session id")}
	m.Result = Result(r.Uint8("result"))
	n := int(r.Uint8("count"))
	if n > MaxTunnels {
		return nil, fmt.Errorf("%w: %d tunnels", ErrMalformed, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		m.Tunnels = append(m.Tunnels, readTunnelInfo(r))
	}
	return m, r.Finish()
}

// SendVia (207, C→R) is SendMessageExpires through a named outbound tunnel
// of the session (TunnelID from TunnelStatus/TunnelList). The nonce is the
// request id: MessageStatus echoes it (MsgNoLocalTunnels if the tunnel is
// gone).
//
//	session u16 | tunnel id u32 | Destination | payload length u32 | payload |
//	nonce u32 | flags u16 | expiration u48 ms
type SendVia struct {
	SessionID   uint16
	TunnelID    uint32
	Destination *i2p.Destination
	Payload     []byte
	Nonce       uint32
	Flags       uint16
	Expiration  uint64
}

// Type implements Message.
func (*SendVia) Type() Type { return TypeSendVia }

// AppendBody implements Message.
func (m *SendVia) AppendBody(b []byte) ([]byte, error) {
	if m.Expiration >= 1<<48 {
		return b, fmt.Errorf("%w: expiration %d does not fit 48 bits", ErrMalformed, m.Expiration)
	}
	b = wire.AppendUint32(wire.AppendUint16(b, m.SessionID), m.TunnelID)
	b, err := appendSend(b, m.Destination, m.Payload)
	if err != nil {
		return b, err
	}
	b = wire.AppendUint32(b, m.Nonce)
	b = wire.AppendUint16(b, m.Flags)
	return wire.AppendUint48(b, m.Expiration), nil
}

func decodeSendVia(r *wire.Reader) (Message, error) {
	m := &SendVia{SessionID: r.Uint16("session id"), TunnelID: r.Uint32("tunnel id")}
	m.Destination = readDestination(r, "destination")
	m.Payload = readPayload(r)
	m.Nonce = r.Uint32("nonce")
	m.Flags = r.Uint16("flags")
	m.Expiration = r.Uint48("expiration")
	return m, r.Finish()
}

// PayloadFrom (208, R→C) comes immediately before the MessagePayload with
// the same session and message id, naming the inbound tunnel it arrived
// through (as in its Lease: gateway and tunnel id at the gateway).
//
//	session u16 | message id u32 | tunnel id u32 | gateway (32)
type PayloadFrom struct {
	SessionID uint16
	MessageID uint32
	TunnelID  uint32
	Gateway   i2p.Hash
}

// Type implements Message.
func (*PayloadFrom) Type() Type { return TypePayloadFrom }

// AppendBody implements Message.
func (m *PayloadFrom) AppendBody(b []byte) ([]byte, error) {
	b = wire.AppendUint32(wire.AppendUint16(b, m.SessionID), m.MessageID)
	b = wire.AppendUint32(b, m.TunnelID)
	return append(b, m.Gateway[:]...), nil
}

func decodePayloadFrom(r *wire.Reader) (Message, error) {
	m := &PayloadFrom{SessionID: r.Uint16("session id"), MessageID: r.Uint32("message id")}
	m.TunnelID = r.Uint32("tunnel id")
	copy(m.Gateway[:], r.Bytes("gateway", i2p.HashLen))
	return m, r.Finish()
}

// LeaseSetState is the state LeaseSetStatus reports.
type LeaseSetState uint8

// LeaseSet states. Append only.
const (
	LeaseSetStored    LeaseSetState = 1 // accepted and stored locally
	LeaseSetPublished LeaseSetState = 2 // a floodfill confirmed the store
	LeaseSetFailed    LeaseSetState = 3 // publication gave up (or was superseded)
	LeaseSetRejected  LeaseSetState = 4 // invalid: bad signature, time, destination
)

// String is the state's name in PROTOCOL.md.
func (s LeaseSetState) String() string {
	switch s {
	case LeaseSetStored:
		return "stored"
	case LeaseSetPublished:
		return "published"
	case LeaseSetFailed:
		return "failed"
	case LeaseSetRejected:
		return "rejected"
	}
	return "leaseset-state(" + strconv.Itoa(int(s)) + ")"
}

// LeaseSetStatus (209, R→C) reports what happened to a CreateLeaseSet2,
// identified by the LeaseSet's published time: first Stored (or Rejected),
// later Published (with how many floodfills confirmed) or Failed.
//
//	session u16 | published u32 s | state u8 | floodfills u8 | reason String
type LeaseSetStatus struct {
	SessionID  uint16
	Published  uint32
	State      LeaseSetState
	Floodfills uint8
	Reason     string
}

// Type implements Message.
func (*LeaseSetStatus) Type() Type { return TypeLeaseSetStatus }

// AppendBody implements Message.
func (m *LeaseSetStatus) AppendBody(b []byte) ([]byte, error) {
	b = wire.AppendUint32(wire.AppendUint16(b, m.SessionID), m.Published)
	b = append(b, byte(m.State), m.Floodfills)
	return wire.AppendString(b, m.Reason)
}

func decodeLeaseSetStatus(r *wire.Reader) (Message, error) {
	m := &LeaseSetStatus{SessionID: r.Uint16("session id"), Published: r.Uint32("published")}
	m.State = LeaseSetState(r.Uint8("state"))
	m.Floodfills = r.Uint8("floodfills")
	m.Reason = r.String("reason")
	return m, r.Finish()
}

// NeedLeaseSet reasons. Append only.
const (
	NeedRequested   uint8 = 1 // the router (or its upstream) asked for a LeaseSet
	NeedNotStored   uint8 = 2 // the last one was not published (e.g. i2pd 2.45.1's publish stall)
	NeedExpiring    uint8 = 3 // the current one expires soon
	NeedTunnelsDiff uint8 = 4 // the router's inbound tunnels changed
)

// NeedLeaseSet (210, R→C) asks the controller for a freshly signed LeaseSet
// (answered with CreateLeaseSet2) whose published is after MinPublished.
// DeadlineMs is how long the router can wait (0 = no deadline).
//
//	session u16 | reason u8 | deadline u32 ms | min published u32 s
type NeedLeaseSet struct {
	SessionID    uint16
	Reason       uint8
	DeadlineMs   uint32
	MinPublished uint32
}

// Type implements Message.
func (*NeedLeaseSet) Type() Type { return TypeNeedLeaseSet }

// AppendBody implements Message.
func (m *NeedLeaseSet) AppendBody(b []byte) ([]byte, error) {
	b = append(wire.AppendUint16(b, m.SessionID), m.Reason)
	b = wire.AppendUint32(b, m.DeadlineMs)
	return wire.AppendUint32(b, m.MinPublished), nil
}

func decodeNeedLeaseSet(r *wire.Reader) (Message, error) {
	m := &NeedLeaseSet{SessionID: r.Uint16("session id"), Reason: r.Uint8("reason")}
	m.DeadlineMs = r.Uint32("deadline")
	m.MinPublished = r.Uint32("min published")
	return m, r.Finish()
}

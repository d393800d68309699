package router

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// Session option keys of PROTOCOL.md.
const (
	OptManaged = "imh.managed"
	OptTerm    = "imh.term"
)

// tunnelKey names a tunnel of a session: ids are unique per direction.
type tunnelKey struct {
	inbound bool
	id      uint32
}

// liveTunnel is a tunnel a session holds until it expires.
type liveTunnel struct {
	Tunnel
	timer stopper
}

// session is one destination's session on this router. Every field is
// guarded by Router.mu.
type session struct {
	id      uint16
	dest    *i2p.Destination
	hash    i2p.Hash
	managed bool
	term    uint64
	options i2p.Mapping

	ctrl       *client                // the controlling connection; nil while detached
	data       map[*client]bool       // data attachments (imh.attach=data)
	dataExpiry map[*client]*dataTimer // offline-signed data attachments end at their expiry
	grace      stopper                // runs while a managed session is detached
	dead       bool

	ctx    context.Context // ends when the session is destroyed
	cancel context.CancelFunc

	tunnels      map[tunnelKey]*liveTunnel
	builds       map[*pendingBuild]struct{} // CreateTunnel requests not yet answered
	staleRefused uint64
	queue        payloadQueue
	received     uint64
	rr           uint64 // round robin over data attachments
	nextMsgID    uint32

	leaseSet      *i2p.LeaseSet2     // the newest LeaseSet handed to us
	publishCancel context.CancelFunc // stops the current publication
	publishes     uint64             // LeaseSets confirmed stored by a floodfill
	publishing    uint32             // published time of the LeaseSet being published; 0 if none

	pool *pool // unmanaged sessions only
}

// pendingBuild is a CreateTunnel request being built: it is answered once,
// by the build when it ends or by destroyLocked when the session dies first.
type pendingBuild struct {
	c   *client // the connection that asked
	req *routerproto.CreateTunnel
}

// dataTimer ends an offline-signed data attachment when its transient key
// expires; a session keeps the current one per attachment, so a timer that
// was replaced knows it is stale.
type dataTimer struct{ stop stopper }

// dropDataLocked ends c's data attachment to s, if any, and its expiry.
func (s *session) dropDataLocked(c *client) {
	delete(s.data, c)
	delete(c.dataOf, s.id)
	if dt := s.dataExpiry[c]; dt != nil {
		dt.stop.Stop()
		delete(s.dataExpiry, c)
	}
}

// parseManaged reads imh.managed and imh.term from session options.
func parseManaged(opts i2p.Mapping) (managed bool, term uint64, err error) {
	managed = opts[OptManaged] == "true"
	v, ok := opts[OptTerm]
	if !ok || v == "" {
		return managed, 0, nil
	}
	term, err = strconv.ParseUint(v, 10, 64)
	return managed, term, err
}

// hasLiveTunnel reports whether the session holds tunnel id in that
// direction and it has not expired at now.
func (s *session) hasLiveTunnel(inbound bool, id uint32, now time.Time) bool {
	t := s.tunnels[tunnelKey{inbound, id}]
	return t != nil && now.Before(t.Expires)
}

// liveTunnels lists the session's tunnels in one direction, newest first.
func (s *session) liveTunnels(inbound bool, now time.Time) []Tunnel {
	var out []Tunnel
	for k, t := range s.tunnels {
		if k.inbound == inbound && now.Before(t.Expires) {
			out = append(out, t.Tunnel)
		}
	}
	slices.SortFunc(out, func(a, b Tunnel) int { return b.Expires.Compare(a.Expires) })
	return out
}

// receiverLocked chooses who gets the next payload: a data attachment
// (round robin) if any, else the controller; nil means queue it.
func (s *session) receiverLocked() *client {
	if len(s.data) > 0 {
		cs := make([]*client, 0, len(s.data))
		for c := range s.data {
			cs = append(cs, c)
		}
		slices.SortFunc(cs, func(a, b *client) int { return cmp.Compare(a.seq, b.seq) })
		s.rr++
		return cs[s.rr%uint64(len(cs))]
	}
	return s.ctrl
}

// msgID returns the next message id of the session (never 0).
func (s *session) msgID() uint32 {
	s.nextMsgID++
	if s.nextMsgID == 0 {
		s.nextMsgID = 1
	}
	return s.nextMsgID
}

// forwardLocked sends one payload to c: PayloadFrom naming the inbound
// tunnel (to extension-capable clients), then the standard MessagePayload.
func (s *session) forwardLocked(c *client, tunnelID uint32, payload []byte) {
	id := s.msgID()
	if c.ext {
		from := &routerproto.PayloadFrom{SessionID: s.id, MessageID: id, TunnelID: tunnelID}
		if t := s.tunnels[tunnelKey{true, tunnelID}]; t != nil {
			from.Gateway = t.Gateway
		}
		c.send(from)
	}
	c.send(&routerproto.MessagePayload{SessionID: s.id, MessageID: id, Payload: payload})
}

package router

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// sendMessage serves SendMessage, SendMessageExpires and (with viaTunnel)
// SendVia: the payload leaves through the backend; MessageStatus follows
// when the client gave a nonce (Accepted, then the final status, as a stock
// router in BestEffort mode does).
func (r *Router) sendMessage(c *client, m *routerproto.SendMessage, viaTunnel uint32) {
	r.mu.Lock()
	s, stale := r.sendableLocked(c, m.SessionID)
	status := func(id uint32, code routerproto.MessageStatusCode) {
		if m.Nonce != 0 {
			c.send(&routerproto.MessageStatus{SessionID: m.SessionID, MessageID: id, Status: code, Size: uint32(len(m.Payload)), Nonce: m.Nonce})
		}
	}
	if s == nil {
		r.mu.Unlock()
		if stale {
			status(0, routerproto.MsgBadSession)
			c.disconnect(reasonStaleTerm)
			return
		}
		status(0, routerproto.MsgBadSession)
		return
	}
	now := r.now()
	if viaTunnel != 0 && !s.hasLiveTunnel(false, viaTunnel, now) {
		r.mu.Unlock()
		status(0, routerproto.MsgNoLocalTunnels)
		return
	}
	if viaTunnel == 0 && !r.be.Features().UpstreamTunnels && len(s.liveTunnels(false, now)) == 0 {
		r.mu.Unlock()
		status(0, routerproto.MsgNoLocalTunnels)
		return
	}
	id := s.msgID()
	from := s.hash
	r.mu.Unlock()
	status(id, routerproto.MsgAccepted)
	if m.Destination == nil {
		status(id, routerproto.MsgBadDestination)
		return
	}
	out := Outbound{From: from, To: m.Destination.Hash(), ToDest: m.Destination, TunnelID: viaTunnel, Payload: m.Payload}
	r.go_(func() {
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		err := r.be.Send(ctx, out)
		switch {
		case err == nil:
			status(id, routerproto.MsgGuaranteedSuccess)
		case errors.Is(err, ErrUnsupported):
			// The backend has no path into the network for client
			// messages: say so honestly as a local success (the router
			// took the message) and count it.
			r.mu.Lock()
			r.sentLocal++
			r.mu.Unlock()
			status(id, routerproto.MsgLocalSuccess)
		case errors.Is(err, ErrNotFound):
			status(id, routerproto.MsgNoLeaseSet)
		default:
			r.log.Info("send failed", "dest", s.dest.B32(), "to", out.To.B32(), "err", err)
			status(id, routerproto.MsgNetworkFailure)
		}
	})
}

// sendableLocked is controlledLocked for sending: data attachments may send
// too.
func (r *Router) sendableLocked(c *client, id uint16) (*session, bool) {
	s, stale := r.controlledLocked(c, id)
	if s != nil || stale {
		return s, stale
	}
	if s := r.sessions[id]; s != nil && !s.dead && s.data[c] {
		return s, false
	}
	return nil, false
}

func (r *Router) sendVia(c *client, m *routerproto.SendVia) {
	if m.TunnelID == 0 {
		if m.Nonce != 0 {
			c.send(&routerproto.MessageStatus{SessionID: m.SessionID, Status: routerproto.MsgNoLocalTunnels, Nonce: m.Nonce})
		}
		return
	}
	r.sendMessage(c, &routerproto.SendMessage{SessionID: m.SessionID, Destination: m.Destination, Payload: m.Payload, Nonce: m.Nonce}, m.TunnelID)
}

// hostLookup serves HostLookup for hashes and b32 names by looking up the
// LeaseSet at the floodfills and answering with its Destination.
func (r *Router) hostLookup(c *client, m *routerproto.HostLookup) {
	reply := func(res uint8, d *i2p.Destination) {
		c.send(&routerproto.HostReply{SessionID: m.SessionID, RequestID: m.RequestID, Result: res, Destination: d})
	}
	var h i2p.Hash
	switch m.LookupType {
	case routerproto.LookupHash:
		h = m.Hash
	case routerproto.LookupHostname:
		name := m.Hostname
		if !strings.HasSuffix(name, i2p.B32Suffix) {
			reply(routerproto.HostFailed, nil) // no address book here
			return
		}
		var err error
		if h, err = i2p.ParseB32(name); err != nil {
			reply(routerproto.HostFailed, nil)
			return
		}
	default:
		reply(routerproto.HostLookupUnsupported, nil)
		return
	}
	timeout := time.Duration(m.TimeoutMs) * time.Millisecond
	if timeout <= 0 || timeout > time.Minute {
		timeout = 30 * time.Second
	}
	r.go_(func() {
		ctx, cancel := context.WithTimeout(r.ctx, timeout)
		defer cancel()
		raw, err := r.be.Lookup(ctx, h)
		if err != nil {
			reply(routerproto.HostLeaseSetLookupFail, nil)
			return
		}
		ls, err := i2p.ParseLeaseSet2(raw)
		if err != nil || ls.Verify() != nil {
			reply(routerproto.HostLeaseSetLookupFail, nil)
			return
		}
		reply(routerproto.HostOK, ls.Destination)
	})
}

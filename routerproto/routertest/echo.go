package routertest

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/servetest"
	"github.com/imh-project/imh/routerproto"
)

// EchoConfig tunes an Echo router.
type EchoConfig struct {
	// Silent answers no datagram; a non-zero Fail is then reported as the
	// delivery status (MessageStatus) of every datagram that asks for one.
	Silent bool
	Fail   routerproto.MessageStatusCode
}

// Echo is a stock router as far as `imh ping` can tell: it asks a new
// session for a LeaseSet, finds one target destination, and answers every
// other repliable datagram as the target's echo service would (the even
// ones are lost), so that replies and losses are both exercised.
type Echo struct {
	Addr   string           // loopback address to dial
	Target *i2p.PrivateKeys // the destination that answers

	cfg       EchoConfig
	mu        sync.Mutex
	protocols []uint8
	leaseSets int
}

// NewEcho starts an Echo router that stops when the test ends.
func NewEcho(t testing.TB, cfg EchoConfig) *Echo {
	t.Helper()
	target, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatalf("routertest: %v", err)
	}
	e := &Echo{Target: target, cfg: cfg}
	sc := routerproto.DefaultServerConfig()
	sc.Handler = &echoHandler{e: e}
	sc.Capabilities = nil
	srv, err := routerproto.NewServer(sc)
	if err != nil {
		t.Fatalf("routertest: %v", err)
	}
	e.Addr, _ = servetest.Loopback(t, srv)
	return e
}

// LeaseSets counts the valid LeaseSet2s handed over.
func (e *Echo) LeaseSets() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leaseSets
}

// Protocols are the I2CP payload protocols of the datagrams sent, in order.
func (e *Echo) Protocols() []uint8 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]uint8(nil), e.protocols...)
}

type echoHandler struct {
	routerproto.UnimplementedHandler
	e *Echo
}

// CreateSession accepts a signed session with zero-hop outbound tunnels
// (what ping asks for) and requests its LeaseSet at once.
func (h *echoHandler) CreateSession(_ context.Context, c *routerproto.ServerConn, m *routerproto.CreateSession) error {
	if m.Config.Verify() != nil || m.Config.Options["outbound.length"] != "0" {
		return c.SendSessionStatus(routerproto.NoSession, routerproto.SessionInvalid)
	}
	if err := c.SendSessionStatus(3, routerproto.SessionCreated); err != nil {
		return err
	}
	end := uint64(time.Now().Add(10 * time.Minute).UnixMilli())
	return c.RequestLeaseSet(3, []i2p.Lease{{TunnelID: 9, EndMs: end}})
}

func (h *echoHandler) CreateLeaseSet2(_ context.Context, _ *routerproto.ServerConn, m *routerproto.CreateLeaseSet2) error {
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	if m.LeaseSet.Verify() == nil {
		h.e.leaseSets++
	}
	return nil
}

func (h *echoHandler) HostLookup(_ context.Context, c *routerproto.ServerConn, m *routerproto.HostLookup) error {
	if m.Hash != h.e.Target.Destination().Hash() {
		return c.Send(&routerproto.HostReply{SessionID: m.SessionID, RequestID: m.RequestID, Result: routerproto.HostLeaseSetLookupFail})
	}
	return c.Send(&routerproto.HostReply{SessionID: m.SessionID, RequestID: m.RequestID, Destination: h.e.Target.Destination()})
}

func (h *echoHandler) DestroySession(_ context.Context, c *routerproto.ServerConn, m *routerproto.DestroySession) error {
	return c.SendSessionStatus(m.SessionID, routerproto.SessionDestroyed)
}

func (h *echoHandler) SendMessageExpires(_ context.Context, c *routerproto.ServerConn, m *routerproto.SendMessageExpires) error {
	p, err := i2p.ParsePayload(m.Payload)
	if err != nil {
		return err
	}
	h.e.mu.Lock()
	h.e.protocols = append(h.e.protocols, p.Protocol)
	n := len(h.e.protocols)
	h.e.mu.Unlock()
	if h.e.cfg.Silent {
		if h.e.cfg.Fail != 0 && m.Nonce != 0 {
			return c.Send(&routerproto.MessageStatus{SessionID: m.SessionID, MessageID: uint32(n), Status: h.e.cfg.Fail, Nonce: m.Nonce})
		}
		return nil
	}
	if p.Protocol != i2p.ProtoRepliableDatagram || n%2 == 0 {
		return nil
	}
	dg, err := i2p.ParseRepliableDatagram(p.Data)
	if err != nil || dg.Verify() != nil {
		return err
	}
	answer, err := i2p.NewRepliableDatagram(h.e.Target, dg.Data)
	if err != nil {
		return err
	}
	body, err := answer.MarshalBinary()
	if err != nil {
		return err
	}
	out, err := i2p.Payload{Protocol: i2p.ProtoRepliableDatagram, Data: body}.MarshalBinary()
	if err != nil {
		return err
	}
	return c.Send(&routerproto.MessagePayload{SessionID: m.SessionID, MessageID: uint32(n), Payload: out})
}

package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router/simnet"
)

// SimnetBackend runs a router on the simulated network through a
// simnet.Link (in process from Network.Attach, or across processes from
// simnet.Dial).
type SimnetBackend struct {
	link simnet.Link
}

var _ Backend = (*SimnetBackend)(nil)

// NewSimnetBackend adapts link. The backend owns it: Close closes it.
func NewSimnetBackend(link simnet.Link) *SimnetBackend { return &SimnetBackend{link: link} }

// Link returns the underlying link.
func (b *SimnetBackend) Link() simnet.Link { return b.link }

// Kind implements Backend.
func (b *SimnetBackend) Kind() string { return "simnet" }

// Hash implements Backend.
func (b *SimnetBackend) Hash() i2p.Hash { return b.link.Hash() }

// Features implements Backend. Send reaches the simulated network's
// endpoints (remote clients with their own Destination).
func (b *SimnetBackend) Features() Features {
	return Features{FastTier: true, ExplicitHops: true, Send: true}
}

// FastTier implements Backend.
func (b *SimnetBackend) FastTier(ctx context.Context) ([]Peer, error) {
	ps, err := b.link.FastTier(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Peer, len(ps))
	for i, p := range ps {
		out[i] = Peer{Hash: p.Hash, Caps: p.Caps, BandwidthClass: p.BandwidthClass, Reliability: p.Reliability, Latency: p.Latency, Floodfill: p.Floodfill}
	}
	return out, nil
}

// BuildTunnel implements Backend.
func (b *SimnetBackend) BuildTunnel(ctx context.Context, req BuildRequest) (Tunnel, error) {
	t, err := b.link.BuildTunnel(ctx, simnet.BuildRequest{Inbound: req.Inbound, HopCount: req.HopCount, Hops: req.Hops, Pool: req.Pool})
	switch {
	case errors.Is(err, simnet.ErrBuildFailed):
		return Tunnel{}, fmt.Errorf("%w: %w", ErrBuildFailed, err)
	case errors.Is(err, simnet.ErrBadRequest), errors.Is(err, simnet.ErrUnknownPeer):
		return Tunnel{}, fmt.Errorf("%w: %w", ErrBadBuildRequest, err)
	case err != nil:
		return Tunnel{}, err
	}
	return Tunnel{ID: t.ID, Inbound: t.Inbound, Gateway: t.Gateway, Hops: t.Hops, Created: t.Created, Expires: t.Expires}, nil
}

// Publish implements Backend.
func (b *SimnetBackend) Publish(ctx context.Context, ls []byte) error {
	err := b.link.Publish(ctx, ls)
	if errors.Is(err, simnet.ErrLeaseSetRejected) {
		return fmt.Errorf("%w: %w", ErrPublishRejected, err)
	}
	return err
}

// Lookup implements Backend.
func (b *SimnetBackend) Lookup(ctx context.Context, dest i2p.Hash) ([]byte, error) {
	ls, err := b.link.Lookup(ctx, dest)
	if errors.Is(err, simnet.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return ls, err
}

// Send implements Backend: the payload goes to the endpoint of msg.ToDest,
// whose session with msg.From is then bound to this router. A destination
// without an endpoint is reported as not found (router-to-router traffic
// is not modelled).
func (b *SimnetBackend) Send(ctx context.Context, msg Outbound) error {
	if msg.ToDest == nil {
		return fmt.Errorf("simnet send to %s: %w: no destination given", msg.To.B32(), ErrNotFound)
	}
	err := b.link.Send(ctx, msg.From, msg.ToDest, msg.Payload)
	if errors.Is(err, simnet.ErrNoEndpoint) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// SetDeliveryHandler implements Backend.
func (b *SimnetBackend) SetDeliveryHandler(h func(Delivery) bool) {
	if h == nil {
		b.link.SetDeliveryHandler(nil)
		return
	}
	b.link.SetDeliveryHandler(func(d simnet.Delivery) bool {
		return h(Delivery{Dest: d.Dest, TunnelID: d.TunnelID, Payload: d.Payload})
	})
}

// Close implements Backend.
func (b *SimnetBackend) Close() error { return b.link.Close() }

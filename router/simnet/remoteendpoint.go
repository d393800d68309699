package simnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/imh-project/imh/i2p"
)

// RemoteEndpoint is an Endpoint held by an `imh simnet serve` daemon for
// another process (DialEndpoint). The daemon forwards the payloads routers
// send to it; when the connection is lost the endpoint is detached and
// every method returns ErrClosed.
type RemoteEndpoint struct {
	c      *conn
	dest   *i2p.Destination
	inbox  *inbox
	logger *slog.Logger
}

var _ EndpointLink = (*RemoteEndpoint)(nil)

// DialEndpoint attaches an endpoint for keys' Destination to the network
// served at addr ("H:P" or "simnet://H:P"), choosing leases as b says. Only
// the public Destination crosses the wire. ctx bounds the dial and the
// attach only.
func DialEndpoint(ctx context.Context, addr string, keys *i2p.PrivateKeys, b Behaviour, logger *slog.Logger) (*RemoteEndpoint, error) {
	if keys == nil || keys.Destination() == nil {
		return nil, fmt.Errorf("dial endpoint: %w: no keys", ErrBadRequest)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dest := keys.Destination()
	c, err := dialConn(ctx, addr)
	if err != nil {
		return nil, err
	}
	e := &RemoteEndpoint{c: c, dest: dest, inbox: newInbox(), logger: logger.With("component", "simnet-endpoint", "dest", dest.B32())}
	go e.readLoop()
	if _, err := c.call(ctx, &wireFrame{Op: "ep_hello", Version: protocolVersion, Dest: dest.Bytes(), Behaviour: b}); err != nil {
		e.shut(ErrClosed)
		return nil, fmt.Errorf("attach endpoint %s to simnet %s: %w", dest.B32(), addr, err)
	}
	return e, nil
}

func (e *RemoteEndpoint) readLoop() {
	for {
		f, err := readFrame(e.c.r)
		if err != nil {
			e.logger.Debug("simnet connection lost", "err", err)
			e.shut(fmt.Errorf("%w: connection lost: %w", ErrClosed, err))
			return
		}
		switch {
		case f.Resp:
			e.c.dispatchResp(f)
		case f.Op == "ep_payload":
			if err := e.inbox.put(f.Payload); err != nil {
				e.logger.Debug("payload dropped", "err", err)
			}
		default:
			resp := &wireFrame{ID: f.ID, Resp: true}
			setFrameError(resp, fmt.Errorf("%w: unexpected op %q", ErrProtocol, f.Op))
			_ = e.c.write(resp)
		}
	}
}

// shut closes the connection and stops the handler's goroutine.
func (e *RemoteEndpoint) shut(err error) {
	e.c.shut(err)
	e.inbox.close()
}

// Done is closed when the connection to the daemon is lost or closed.
func (e *RemoteEndpoint) Done() <-chan struct{} { return e.c.done }

// Destination is the endpoint's own Destination.
func (e *RemoteEndpoint) Destination() *i2p.Destination { return e.dest }

// Lookup resolves h to its Destination through its LeaseSet at the
// daemon's floodfills.
func (e *RemoteEndpoint) Lookup(ctx context.Context, h i2p.Hash) (*i2p.Destination, error) {
	resp, err := e.c.call(ctx, &wireFrame{Op: "ep_lookup", Hash: &h})
	if err != nil {
		return nil, fmt.Errorf("endpoint %s lookup %s: %w", e.dest.B32(), h.B32(), err)
	}
	d, err := parseDest(resp.Dest)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s lookup %s: %w: %w", e.dest.B32(), h.B32(), ErrProtocol, err)
	}
	return d, nil
}

// Send sends one payload to to as Endpoint.Send does; a lost payload gives
// a *NotDeliveredError with the daemon's Reason.
func (e *RemoteEndpoint) Send(ctx context.Context, to *i2p.Destination, payload []byte) error {
	if to == nil {
		return fmt.Errorf("endpoint %s send: %w: no destination", e.dest.B32(), ErrBadRequest)
	}
	_, err := e.c.call(ctx, &wireFrame{Op: "ep_send", Dest: to.Bytes(), Payload: payload})
	var nd *NotDeliveredError
	if errors.As(err, &nd) {
		nd.Dest = to.Hash()
	}
	return err
}

// SetHandler installs the function called, on the endpoint's own goroutine
// and in order, with every payload a router sends to its Destination.
func (e *RemoteEndpoint) SetHandler(h func(payload []byte)) { e.inbox.setHandler(h) }

// Close detaches the endpoint, closes the connection and stops the
// handler's goroutine.
func (e *RemoteEndpoint) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := e.c.call(ctx, &wireFrame{Op: "close"})
	e.shut(ErrClosed)
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("close simnet endpoint %s: %w", e.dest.B32(), err)
	}
	return nil
}

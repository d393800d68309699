package simnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/imh-project/imh/i2p"
)

// Serve serves the network n to routers (Dial) and senders (RemoteSend) on
// ln until ctx ends; it then closes ln and every connection (each attached
// router goes down) and returns nil once all of them are finished.
func Serve(ctx context.Context, ln net.Listener, n *Network, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "simnet-serve")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		<-ctx.Done()
		ln.Close()
	})
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("simnet accept on %s: %w", ln.Addr(), err)
		}
		s := &session{n: n, c: newConn(nc), logger: logger.With("remote", nc.RemoteAddr().String())}
		wg.Go(func() { s.run(ctx) })
	}
}

// session is the daemon's side of one connection.
type session struct {
	n      *Network
	c      *conn
	logger *slog.Logger
	link   *localLink // a router's connection
	ep     *Endpoint  // an endpoint's connection
}

func (s *session) run(ctx context.Context) {
	// Deferred in this order so that, on return, the link goes down, then
	// ctx ends (closing the connection), then the goroutines are awaited.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		select {
		case <-ctx.Done():
			s.c.shut(ErrClosed)
		case <-s.c.done:
		}
	})
	defer s.detach()
	first, err := readFrame(s.c.r)
	if err != nil {
		s.logger.Debug("simnet connection without hello", "err", err)
		return
	}
	if first.Version != protocolVersion {
		s.answerErr(first, fmt.Errorf("%w: protocol version %d, want %d", ErrProtocol, first.Version, protocolVersion))
		return
	}
	switch first.Op {
	case "hello":
		if !s.hello(first) {
			return
		}
	case "ep_hello":
		if !s.epHello(first) {
			return
		}
	case "send":
		// The sender's connection closing cancels the run.
		wg.Go(func() {
			s.drain()
			cancel()
		})
		s.send(ctx, first)
		return
	default:
		s.answerErr(first, fmt.Errorf("%w: first op %q", ErrProtocol, first.Op))
		return
	}
	for {
		f, err := readFrame(s.c.r)
		if err != nil {
			s.c.shut(fmt.Errorf("%w: %w", ErrClosed, err))
			return
		}
		if f.Resp {
			s.c.dispatchResp(f)
			continue
		}
		if f.Op == "close" {
			s.detach()
			_ = s.c.write(&wireFrame{ID: f.ID, Resp: true})
			return
		}
		wg.Go(func() { s.handle(ctx, f) })
	}
}

// drain reads (and ignores) frames until the connection ends.
func (s *session) drain() {
	for {
		if _, err := readFrame(s.c.r); err != nil {
			return
		}
	}
}

func (s *session) answerErr(f *wireFrame, err error) {
	resp := &wireFrame{ID: f.ID, Resp: true}
	setFrameError(resp, err)
	_ = s.c.write(resp)
}

func (s *session) hello(f *wireFrame) bool {
	l, err := s.n.attach(f.Name)
	if err != nil {
		s.answerErr(f, err)
		return false
	}
	s.link = l
	s.logger = s.logger.With("router", l.name)
	l.SetDeliveryHandler(s.forwardDelivery)
	h := l.hash
	if err := s.c.write(&wireFrame{ID: f.ID, Resp: true, Hash: &h}); err != nil {
		return false
	}
	return true
}

// forwardDelivery asks the remote router whether it accepts a delivery.
func (s *session) forwardDelivery(d Delivery) bool {
	ctx, cancel := context.WithTimeout(context.Background(), DeliveryTimeout)
	defer cancel()
	resp, err := s.c.call(ctx, &wireFrame{Op: "deliver", Delivery: &d})
	if err != nil {
		s.logger.Debug("delivery not answered", "err", err)
		return false
	}
	return resp.Accepted
}

// detach takes the connection's router or endpoint off the network.
func (s *session) detach() {
	if s.link != nil {
		s.link.Close()
	}
	if s.ep != nil {
		s.ep.Close()
	}
}

func (s *session) handle(ctx context.Context, f *wireFrame) {
	if s.ep != nil {
		s.handleEndpoint(ctx, f)
		return
	}
	resp := &wireFrame{ID: f.ID, Resp: true}
	var err error
	switch f.Op {
	case "fast_tier":
		resp.Peers, err = s.link.FastTier(ctx)
	case "build":
		if f.Build == nil {
			err = fmt.Errorf("%w: build without request", ErrBadRequest)
			break
		}
		var t Tunnel
		t, err = s.link.BuildTunnel(ctx, *f.Build)
		if err == nil {
			resp.Tunnel = &t
		}
	case "publish":
		err = s.link.Publish(ctx, f.LeaseSet)
	case "lookup":
		if f.Hash == nil {
			err = fmt.Errorf("%w: lookup without hash", ErrBadRequest)
			break
		}
		resp.LeaseSet, err = s.link.Lookup(ctx, *f.Hash)
	case "router_send":
		err = s.routerSend(ctx, f)
	default:
		err = fmt.Errorf("%w: unknown op %q", ErrProtocol, f.Op)
	}
	setFrameError(resp, err)
	if err := s.c.write(resp); err != nil {
		s.logger.Debug("answer not sent", "op", f.Op, "err", err)
	}
}

func (s *session) send(ctx context.Context, f *wireFrame) {
	if f.Send == nil {
		s.answerErr(f, fmt.Errorf("%w: send without config", ErrBadRequest))
		return
	}
	s.logger.Info("send run", "dest", f.Send.Dest.B32(), "clients", f.Send.Clients, "count", f.Send.Count, "mode", f.Send.Mode)
	res, err := s.n.Send(ctx, *f.Send)
	// Every message's outcome does not fit one frame once a run is long
	// (a 30-minute chaos run: ~15,000 outcomes, over MaxFrame): all but
	// the last part go ahead as send_part frames of the same call.
	msgs := res.Messages
	for len(msgs) > sendPartMessages {
		part := &wireFrame{ID: f.ID, Op: "send_part", Result: &SendResult{Messages: msgs[:sendPartMessages]}}
		if werr := s.c.write(part); werr != nil {
			s.logger.Warn("send result not delivered", "err", werr)
			return
		}
		msgs = msgs[sendPartMessages:]
	}
	res.Messages = msgs
	resp := &wireFrame{ID: f.ID, Resp: true, Result: &res}
	setFrameError(resp, err)
	if werr := s.c.write(resp); werr != nil {
		s.logger.Warn("send result not delivered", "err", werr)
	}
}

// sendPartMessages is how many message outcomes one send_part frame
// carries: about 100 bytes each in JSON, a fifth of MaxFrame.
const sendPartMessages = 2000

func (s *session) routerSend(ctx context.Context, f *wireFrame) error {
	if f.Hash == nil {
		return fmt.Errorf("%w: router_send without from", ErrBadRequest)
	}
	to, err := parseDest(f.Dest)
	if err != nil {
		return err
	}
	return s.link.Send(ctx, *f.Hash, to, f.Payload)
}

// epHello attaches the connection's endpoint; its payloads are forwarded
// as ep_payload frames, in order, unanswered.
func (s *session) epHello(f *wireFrame) bool {
	dest, err := parseDest(f.Dest)
	if err != nil {
		s.answerErr(f, err)
		return false
	}
	e, err := s.n.attachEndpoint(dest, f.Behaviour)
	if err != nil {
		s.answerErr(f, err)
		return false
	}
	s.ep = e
	s.logger = s.logger.With("endpoint", dest.B32())
	e.SetHandler(func(p []byte) {
		if err := s.c.write(&wireFrame{Op: "ep_payload", Payload: p}); err != nil {
			s.logger.Debug("payload not forwarded", "err", err)
		}
	})
	return s.c.write(&wireFrame{ID: f.ID, Resp: true}) == nil
}

func (s *session) handleEndpoint(ctx context.Context, f *wireFrame) {
	resp := &wireFrame{ID: f.ID, Resp: true}
	var err error
	switch f.Op {
	case "ep_lookup":
		if f.Hash == nil {
			err = fmt.Errorf("%w: ep_lookup without hash", ErrBadRequest)
			break
		}
		var d *i2p.Destination
		if d, err = s.ep.Lookup(ctx, *f.Hash); err == nil {
			resp.Dest = d.Bytes()
		}
	case "ep_send":
		var to *i2p.Destination
		if to, err = parseDest(f.Dest); err == nil {
			err = s.ep.Send(ctx, to, f.Payload)
		}
	default:
		err = fmt.Errorf("%w: unknown endpoint op %q", ErrProtocol, f.Op)
	}
	setFrameError(resp, err)
	if err := s.c.write(resp); err != nil {
		s.logger.Debug("answer not sent", "op", f.Op, "err", err)
	}
}

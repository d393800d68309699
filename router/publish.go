package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// createLeaseSet2 serves CreateLeaseSet2: check the LeaseSet, keep it as the
// session's current one and publish it, retrying until a floodfill stores
// it. Extension clients hear LeaseSetStatus: stored (or rejected), then
// published or failed.
func (r *Router) createLeaseSet2(c *client, m *routerproto.CreateLeaseSet2) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, stale := r.controlledLocked(c, m.SessionID)
	status := func(state routerproto.LeaseSetState, reason string) {
		if !c.ext {
			return
		}
		var pub uint32
		if m.LeaseSet != nil {
			pub = m.LeaseSet.Published
		}
		c.send(&routerproto.LeaseSetStatus{SessionID: m.SessionID, Published: pub, State: state, Reason: reason})
	}
	if s == nil {
		switch {
		case stale:
			status(routerproto.LeaseSetRejected, reasonStaleTerm)
			r.refuseLocked(c, stale, m.SessionID)
		case c.dataOf[m.SessionID]:
			status(routerproto.LeaseSetRejected, "a data attachment does not control the session")
			r.refuseLocked(c, stale, m.SessionID)
		default:
			status(routerproto.LeaseSetRejected, "no such session")
		}
		return
	}
	if err := r.checkLeaseSet(s, m.LeaseSet); err != nil {
		r.log.Warn("leaseset rejected", "dest", s.dest.B32(), "err", err)
		status(routerproto.LeaseSetRejected, err.Error())
		return
	}
	ls := m.LeaseSet
	if s.leaseSet != nil && ls.Published <= s.leaseSet.Published {
		// Floodfills keep only a strictly newer LeaseSet; so does the router.
		status(routerproto.LeaseSetRejected, fmt.Sprintf("published %d is not after the stored %d", ls.Published, s.leaseSet.Published))
		return
	}
	raw, err := ls.MarshalBinary()
	if err != nil {
		status(routerproto.LeaseSetRejected, err.Error())
		return
	}
	if s.publishCancel != nil {
		s.publishCancel()
	}
	if s.publishing != 0 && s.ctrl != nil && s.ctrl.ext {
		s.ctrl.send(&routerproto.LeaseSetStatus{SessionID: s.id, Published: s.publishing, State: routerproto.LeaseSetFailed, Reason: "replaced by a newer leaseset before it was published"})
	}
	s.publishing = ls.Published
	s.leaseSet = ls
	ctx, cancel := context.WithCancel(s.ctx)
	s.publishCancel = cancel
	status(routerproto.LeaseSetStored, "")
	r.go_(func() { r.publish(ctx, s, ls.Published, ls.ExpiresAt(), raw, m) })
}

// checkLeaseSet applies what a floodfill and a stock router check: the
// session's Destination, a valid signature, sane times, at most 16 leases.
func (r *Router) checkLeaseSet(s *session, ls *i2p.LeaseSet2) error {
	if ls == nil {
		return fmt.Errorf("no leaseset")
	}
	if ls.Destination == nil || !ls.Destination.Equal(s.dest) {
		return fmt.Errorf("leaseset is for another destination")
	}
	if len(ls.Leases) > i2p.MaxLeases {
		return i2p.ErrTooManyLeases
	}
	if err := ls.Verify(); err != nil {
		return fmt.Errorf("leaseset signature: %w", err)
	}
	if st := ls.TimeStatus(r.now()); st != i2p.TimeOK {
		return fmt.Errorf("leaseset time: %s", st)
	}
	return nil
}

// publish stores raw at the floodfills, retrying with backoff until one
// stores it, the LeaseSet expires (failed), or a newer one replaces it.
func (r *Router) publish(ctx context.Context, s *session, published, expires uint32, raw []byte, m *routerproto.CreateLeaseSet2) {
	delay := r.cfg.PublishRetry
	deadline := time.Unix(int64(expires), 0)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var err error
		if p, ok := r.be.(LeaseSetPublisher); ok {
			err = p.PublishLeaseSet(actx, s.hash, m)
		} else {
			err = r.be.Publish(actx, raw)
		}
		cancel()
		if err == nil {
			r.publishDone(s, published, routerproto.LeaseSetPublished, "")
			return
		}
		if ctx.Err() != nil {
			return // superseded by a newer LeaseSet or the session ended
		}
		if errors.Is(err, ErrPublishRejected) {
			// Floodfills keep only a strictly newer LeaseSet: if they
			// refused ours because they already hold these very bytes
			// (another router of the balancer published them first), it
			// is published; otherwise retrying cannot help.
			if r.alreadyStored(ctx, s, raw) {
				r.publishDone(s, published, routerproto.LeaseSetPublished, "already stored")
				return
			}
			r.publishDone(s, published, routerproto.LeaseSetFailed, err.Error())
			return
		}
		r.log.Info("leaseset publication failed, retrying", "dest", s.dest.B32(), "published", published, "attempt", attempt, "err", err)
		if r.now().Add(delay).After(deadline) {
			r.publishDone(s, published, routerproto.LeaseSetFailed, err.Error())
			return
		}
		if r.sleep(ctx, delay) != nil {
			return
		}
		delay = min(2*delay, r.cfg.PublishRetryMax)
	}
}

// alreadyStored reports whether the floodfills hold exactly raw.
func (r *Router) alreadyStored(ctx context.Context, s *session, raw []byte) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got, err := r.be.Lookup(ctx, s.hash)
	return err == nil && bytes.Equal(got, raw)
}

// publishDone reports the end of a publication to the session's controller
// (the connection that handed it over, or whoever controls it now).
func (r *Router) publishDone(s *session, published uint32, state routerproto.LeaseSetState, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.publishing != published {
		return // a newer LeaseSet replaced it; its failure was reported then
	}
	s.publishing = 0
	if state == routerproto.LeaseSetPublished {
		s.publishes++
		r.log.Info("leaseset published", "dest", s.dest.B32(), "published", published)
	} else {
		r.log.Warn("leaseset publication gave up", "dest", s.dest.B32(), "published", published, "err", reason)
	}
	to := s.ctrl
	if to == nil || !to.ext || s.dead {
		return
	}
	var ffs uint8
	if state == routerproto.LeaseSetPublished {
		ffs = 1
	}
	to.send(&routerproto.LeaseSetStatus{SessionID: s.id, Published: published, State: state, Floodfills: ffs, Reason: reason})
}

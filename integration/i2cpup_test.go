//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/i2pdnet"
	"github.com/imh-project/imh/router/i2cpup"
	"github.com/imh-project/imh/routerproto"
)

// upDest stands in for the balancer of one Destination whose upstream
// sessions (i2cpup.Session, one per router) live on stock i2pd routers of
// the private network: it signs the session config and one LeaseSet2 with
// the leases of every session, hands it to all of them, and re-signs it
// (fresh published) whenever a lease request comes and every 5 s until
// told the floodfills have it (the 2.45.1 publish stall workaround).
type upDest struct {
	t        *testing.T
	keys     *i2p.PrivateKeys
	lsk      *i2p.LeaseSetKey
	routers  []i2pdnet.Router
	sessions []*i2cpup.Session
	requests chan int // index of a session that got a lease request

	mu        sync.Mutex
	arrived   []int // payloads of this test per session
	requested []bool
	seen      []map[uint32]bool // tunnel ids each session's upstream offered
	published uint32
	publishes int
	stored    bool
}

func openUpDest(ctx context.Context, t *testing.T, n *i2pdnet.Net, routers ...int) *upDest {
	t.Helper()
	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lsk, err := i2p.NewLeaseSetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := &upDest{t: t, keys: keys, lsk: lsk, requests: make(chan int, 64),
		arrived: make([]int, len(routers)), requested: make([]bool, len(routers))}
	opts := i2p.Mapping{"inbound.length": "1", "outbound.length": "1", "inbound.quantity": "2", "outbound.quantity": "2",
		"i2cp.leaseSetType": "3", "i2cp.leaseSetEncType": "4", "i2cp.messageReliability": "none"}
	sc, err := routerproto.SignSessionConfig(keys, opts, uint64(time.Now().UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	for i, ri := range routers {
		r := n.Router(ri)
		d.routers = append(d.routers, r)
		d.seen = append(d.seen, map[uint32]bool{})
		s, err := i2cpup.Open(ctx, i2cpup.Config{Addr: r.I2CPAddr, Dial: n.DialContext, Logger: testnetLogger(t)}, sc, i2cpup.Hooks{
			LeaseRequest: func(leases []i2p.Lease, _ time.Time) {
				d.mu.Lock()
				d.requested[i] = true
				for _, l := range leases {
					d.seen[i][l.TunnelID] = true
				}
				d.mu.Unlock()
				d.requests <- i
			},
			Payload: func(m *routerproto.MessagePayload) {
				p, err := i2p.ParsePayload(m.Payload)
				if err != nil || !strings.HasPrefix(string(p.Data), "imh-oneway-") {
					return
				}
				d.mu.Lock()
				d.arrived[i]++
				d.mu.Unlock()
			},
		})
		if err != nil {
			t.Fatalf("open upstream session on %s: %v", r.Name(), err)
		}
		t.Cleanup(func() { s.Close() })
		d.sessions = append(d.sessions, s)
	}
	go d.run(ctx)
	return d
}

// run is the balancer loop: publish on every lease request and every 5 s
// until stored. It must not wait for every session's first request: i2pd
// stops a session whose request goes unanswered for 10 s, and two routers'
// first requests can be further apart than that.
func (d *upDest) run(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.requests:
		case <-tick.C:
			d.mu.Lock()
			stored := d.stored
			d.mu.Unlock()
			if stored {
				continue
			}
		}
		d.publish()
	}
}

// publish signs one LeaseSet2 with the current leases of every session
// whose upstream has asked and hands it to those sessions; one that has not
// asked yet gets the next one, signed when it asks.
func (d *upDest) publish() {
	d.mu.Lock()
	asked := slices.Clone(d.requested)
	if !slices.Contains(asked, true) {
		d.mu.Unlock()
		return
	}
	published := max(uint32(time.Now().Unix()), d.published+1)
	d.published = published
	d.publishes++
	d.mu.Unlock()
	ls := &i2p.LeaseSet2{Destination: d.keys.Destination(), Published: published, Expires: 600,
		Keys: []i2p.EncryptionKey{d.lsk.EncryptionKey()}}
	for i, s := range d.sessions {
		if !asked[i] {
			continue
		}
		for _, l := range s.Leases() {
			if len(ls.Leases) < i2p.MaxLeases {
				ls.Leases = append(ls.Leases, l.ToLease2())
			}
		}
	}
	if err := ls.Sign(d.keys); err != nil {
		d.t.Errorf("sign leaseset: %v", err)
		return
	}
	keys := []routerproto.LeaseSetPrivateKey{{Type: i2p.EncX25519, Key: d.lsk.Private()}}
	for i, s := range d.sessions {
		if !asked[i] {
			continue
		}
		if err := s.SetLeaseSet(ls, keys); err != nil {
			d.t.Logf("leaseset to %s: %v", d.routers[i].Name(), err)
		}
	}
}

// waitRequested waits until every session's upstream asked for a LeaseSet.
func (d *upDest) waitRequested(t *testing.T, timeout time.Duration) {
	t.Helper()
	eventually.True(t, timeout, "a lease request on every upstream session", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return !slices.Contains(d.requested, false)
	})
}

// waitStored waits until a floodfill stores the Destination's LeaseSet2
// with leases of every session's upstream (see waitFloodfillStore for
// why one), then stops the re-publishing.
func (d *upDest) waitStored(ctx context.Context, t *testing.T, n *i2pdnet.Net, timeout time.Duration) floodfillStore {
	t.Helper()
	what := fmt.Sprintf("%s's LeaseSet2 with leases of %d routers", d.keys.Destination().B32(), len(d.sessions))
	got := waitFloodfillStore(ctx, t, n, timeout, 15*time.Second, what, func(ls i2pdnet.LeaseSetInfo) bool {
		return ls.Hash == d.keys.Destination().Hash() && !ls.Expired && d.coversAll(ls)
	})
	d.mu.Lock()
	d.stored = true
	d.mu.Unlock()
	return got
}

// coversAll reports whether ls has at least one lease of every session.
func (d *upDest) coversAll(ls i2pdnet.LeaseSetInfo) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.sessions {
		if !slices.ContainsFunc(ls.Tunnels, func(id uint32) bool { return d.seen[i][id] }) {
			return false
		}
	}
	return true
}

func (d *upDest) arrivals() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.arrived)
}

// TestI2CPUpstreamOnTestnet runs invisible multihoming at the level of the
// upstream adapter on stock i2pd 2.45.1: one Destination with i2cpup
// sessions on the non-floodfill routers r3 and r4, one LeaseSet2 carrying
// both routers' leases signed by the test (the balancer's part) and handed
// to both sessions unchanged; a floodfill stores it, and one-way raw
// datagrams from a session on r5 arrive at both r3 and r4, counted at the
// receiving sessions.
func TestI2CPUpstreamOnTestnet(t *testing.T) {
	i2pdPool.join(t)
	requireTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cleanupStale(ctx, t)
	n, err := i2pdnet.Start(ctx, i2pdnet.Options{Log: testnetLogger(t)})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range n.Routers() {
				t.Logf("--- %s log tail:\n%s", r.Name(), n.LogTail(r.Index, 15))
			}
		}
		_ = n.Close()
	})
	if err := n.WaitReady(ctx); err != nil {
		t.Fatalf("wait ready: %v", err)
	}
	t0 := time.Now()
	svc := openUpDest(ctx, t, n, 3, 4)
	sender := openUpDest(ctx, t, n, 5)
	svc.waitRequested(t, 90*time.Second)
	tReq := time.Since(t0)
	stored := svc.waitStored(ctx, t, n, 3*time.Minute)
	tStored := stored.FirstAt.Sub(t0)
	sender.waitRequested(t, 90*time.Second)
	sender.waitStored(ctx, t, n, 3*time.Minute)
	svc.mu.Lock()
	publishes := svc.publishes
	svc.mu.Unlock()
	t.Logf("service LeaseSet2: lease requests on r3 and r4 after %v, stored at a floodfill after %v (floodfills since the wait began: %v; %d signed publishes): %d leases, gateways %v",
		tReq.Round(time.Millisecond), tStored.Round(time.Millisecond), stored, publishes, stored.First.Leases, abbrevs(stored.First.Gateways))
	if tStored > 180*time.Second {
		t.Errorf("first LeaseSet stored after %v, goal < 180 s", tStored)
	}

	const count = 40
	from := sender.sessions[0]
	to := svc.keys.Destination()
	tSend := time.Now()
	for i := range count {
		payload, err := i2p.Payload{Protocol: i2p.ProtoRawDatagram, Data: fmt.Appendf(nil, "imh-oneway-%d", i)}.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		m := routerproto.SendMessageExpires{SendMessage: routerproto.SendMessage{Destination: to, Payload: payload, Nonce: uint32(i + 1)},
			Expiration: uint64(time.Now().Add(time.Minute).UnixMilli())}
		if err := from.Send(m); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		time.Sleep(50 * time.Millisecond) // pacing, not synchronisation
	}
	var got []int
	eventually.Within(60*time.Second, func() bool {
		got = svc.arrivals()
		return got[0]+got[1] >= count
	})
	t.Logf("one-way: %d/%d delivered in %v: r3 %d, r4 %d", got[0]+got[1], count, time.Since(tSend).Round(time.Millisecond), got[0], got[1])
	if got[0] == 0 || got[1] == 0 {
		t.Errorf("deliveries r3 %d, r4 %d: want both routers to receive", got[0], got[1])
	}
	if got[0]+got[1] < count*9/10 {
		t.Errorf("%d/%d delivered, want at least 90%%", got[0]+got[1], count)
	}
	for i, s := range svc.sessions {
		st := s.Stats()
		t.Logf("%s upstream session %d: %+v", svc.routers[i].Name(), s.ID(), st)
		if st.Unanswered > 0 {
			t.Errorf("%s: %d lease requests unanswered", svc.routers[i].Name(), st.Unanswered)
		}
	}
}

package router

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
)

// fakeBackend is an in-memory network for unit tests: a fixed fast tier,
// builds that succeed unless told to fail, tunnels with a configurable
// lifetime, and a floodfill that stores what it is given (optionally
// refusing the first few publishes).
type fakeBackend struct {
	hash     i2p.Hash
	lifetime time.Duration

	mu          sync.Mutex
	nextTunnel  uint32
	failBuilds  int // the next N builds fail
	builds      []BuildRequest
	failPublish int // the next N publishes fail
	published   [][]byte
	sent        []Outbound
	handler     func(Delivery) bool
	closed      bool
	peers       []Peer
	upstream    bool    // behave like a stock upstream: Features.UpstreamTunnels, no builds
	attached    *Router // set by AttachRouter
	// hold, when set, keeps every build waiting until it is closed,
	// whatever its context says (a backend slow to notice the end of a
	// session).
	hold chan struct{}
}

// AttachRouter implements RouterAttacher.
func (f *fakeBackend) AttachRouter(r *Router) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attached = r
}

func newFakeBackend(lifetime time.Duration) *fakeBackend {
	f := &fakeBackend{hash: fakeHash("self"), lifetime: lifetime, nextTunnel: 1000}
	for i := range 10 {
		f.peers = append(f.peers, Peer{Hash: fakeHash(fmt.Sprint("peer", i)), Caps: "OR", BandwidthClass: 'O', Reliability: 0.9})
	}
	return f
}

func fakeHash(s string) i2p.Hash { return sha256.Sum256([]byte(s)) }

func (f *fakeBackend) Kind() string   { return "fake" }
func (f *fakeBackend) Hash() i2p.Hash { return f.hash }
func (f *fakeBackend) Features() Features {
	if f.upstream {
		return Features{Send: true, UpstreamTunnels: true}
	}
	return Features{FastTier: true, ExplicitHops: true, Send: true}
}

func (f *fakeBackend) FastTier(context.Context) ([]Peer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Peer(nil), f.peers...), nil
}

func (f *fakeBackend) BuildTunnel(ctx context.Context, req BuildRequest) (Tunnel, error) {
	if err := ctx.Err(); err != nil {
		return Tunnel{}, err
	}
	f.mu.Lock()
	f.builds = append(f.builds, req)
	if hold := f.hold; hold != nil {
		f.mu.Unlock()
		<-hold
		f.mu.Lock()
	}
	defer f.mu.Unlock()
	if f.upstream {
		return Tunnel{}, ErrUnsupported
	}
	if f.failBuilds > 0 {
		f.failBuilds--
		return Tunnel{}, fmt.Errorf("fake build: %w", ErrBuildFailed)
	}
	f.nextTunnel++
	hops := req.Hops
	if hops == nil {
		for i := range req.HopCount {
			hops = append(hops, f.peers[(int(f.nextTunnel)+i)%len(f.peers)].Hash)
		}
	}
	gw := f.hash
	if len(hops) > 0 {
		gw = hops[0]
		if !req.Inbound {
			gw = f.hash
		}
	}
	now := time.Now()
	return Tunnel{ID: f.nextTunnel, Inbound: req.Inbound, Gateway: gw, Hops: hops, Created: now, Expires: now.Add(f.lifetime)}, nil
}

func (f *fakeBackend) Publish(ctx context.Context, ls []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPublish > 0 {
		f.failPublish--
		return fmt.Errorf("fake publish: no floodfill answered")
	}
	f.published = append(f.published, append([]byte(nil), ls...))
	return nil
}

func (f *fakeBackend) Lookup(ctx context.Context, dest i2p.Hash) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.published) - 1; i >= 0; i-- {
		ls, err := i2p.ParseLeaseSet2(f.published[i])
		if err == nil && ls.Destination.Hash() == dest {
			return f.published[i], nil
		}
	}
	return nil, ErrNotFound
}

func (f *fakeBackend) Send(ctx context.Context, msg Outbound) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, msg)
	return nil
}

func (f *fakeBackend) SetDeliveryHandler(h func(Delivery) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handler = h
}

func (f *fakeBackend) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// deliver injects a message as if it had come through tunnel tid.
func (f *fakeBackend) deliver(dest i2p.Hash, tid uint32, payload []byte) bool {
	f.mu.Lock()
	h := f.handler
	f.mu.Unlock()
	if h == nil {
		return false
	}
	return h(Delivery{Dest: dest, TunnelID: tid, Payload: payload})
}

func (f *fakeBackend) publishedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.published)
}

func (f *fakeBackend) buildCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.builds)
}

func (f *fakeBackend) setFailBuilds(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failBuilds = n
}

func (f *fakeBackend) setFailPublish(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failPublish = n
}

func payloadN(i int) []byte { return binary.BigEndian.AppendUint32([]byte("payload-"), uint32(i)) }

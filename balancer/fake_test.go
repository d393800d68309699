package balancer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// fakeCluster applies commands to a real fsm.State through the real
// encoding, as the cluster does on the leader, and keeps a log of them.
type fakeCluster struct {
	mu    sync.Mutex
	state *fsm.State
	index uint64
	term  uint64
	log   []fsm.Command
	// failRecords: that many TunnelRecorded commands fail (as a lost
	// leadership or a timeout would) before they are applied.
	failRecords int
}

func newFakeCluster(term uint64) *fakeCluster { return &fakeCluster{state: fsm.New(), term: term} }

func (c *fakeCluster) Apply(ctx context.Context, cmd fsm.Command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := fsm.Encode(cmd)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := cmd.(*fsm.TunnelRecorded); ok && c.failRecords > 0 {
		c.failRecords--
		return errors.New("fake: apply timed out")
	}
	c.index++
	if err := c.state.Apply(c.index, b); err != nil {
		return err
	}
	c.log = append(c.log, cmd)
	return nil
}

func (c *fakeCluster) State() *fsm.State { return c.state }

func (c *fakeCluster) LeadershipTerm() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.term, c.term != 0
}

// Open "unseals" by stripping a marker: the fake keeps keys in the clear
// and ignores the binding (cluster's tests cover it).
func (c *fakeCluster) Open(sealed []byte, _ i2p.Hash, _ fsm.SealedField) ([]byte, error) {
	p, ok := bytes.CutPrefix(sealed, []byte("sealed:"))
	if !ok {
		return nil, errors.New("fake: not sealed")
	}
	return bytes.Clone(p), nil
}

// published returns every LeaseSetPublished applied, in order.
func (c *fakeCluster) published() []*fsm.LeaseSetPublished {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*fsm.LeaseSetPublished
	for _, cmd := range c.log {
		if p, ok := cmd.(*fsm.LeaseSetPublished); ok {
			out = append(out, p)
		}
	}
	return out
}

func (c *fakeCluster) mustApply(t testing.TB, cmd fsm.Command) {
	t.Helper()
	if err := c.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
}

// addDest creates a destination with fresh keys and returns them.
func (c *fakeCluster) addDest(t testing.TB, name string, seed byte, s fsm.Settings) (*i2p.PrivateKeys, *i2p.LeaseSetKey) {
	t.Helper()
	keys, err := i2p.NewEd25519PrivateKeys(bytes.Repeat([]byte{seed}, 32), [32]byte{seed}, bytes.Repeat([]byte{seed}, 256))
	if err != nil {
		t.Fatal(err)
	}
	return keys, c.putDest(t, name, keys, seed, s)
}

// putDest adds a destination with the given keys (and a LeaseSet key
// derived from seed).
func (c *fakeCluster) putDest(t testing.TB, name string, keys *i2p.PrivateKeys, seed byte, s fsm.Settings) *i2p.LeaseSetKey {
	t.Helper()
	ek, err := i2p.ParseLeaseSetKey(bytes.Repeat([]byte{seed ^ 0x55}, 32))
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := keys.MarshalBinary()
	c.mustApply(t, &fsm.DestinationPut{
		Name: name, Destination: keys.Destination().Bytes(),
		SealedKeys: append([]byte("sealed:"), kb...), SealedLeaseSetKey: append([]byte("sealed:"), ek.Private()...),
		LeaseSetPublicKey: ek.Public(), Settings: s,
	})
	return ek
}

// fakeNet is a set of fake routers reachable by address, sharing one pool
// of peers; fast tiers overlap.
type fakeNet struct {
	mu      sync.Mutex
	routers map[string]*fakeRouter
	peers   []i2p.Hash
}

func newFakeNet(peers int) *fakeNet {
	n := &fakeNet{routers: make(map[string]*fakeRouter)}
	for i := range peers {
		n.peers = append(n.peers, i2p.HashOf([]byte("peer "+strconv.Itoa(i))))
	}
	return n
}

// addRouter makes router i with a fast tier of 75 peers starting at i*40.
func (n *fakeNet) addRouter(name string, i int, caps []string) *fakeRouter {
	var tier []i2p.Hash
	for j := range 75 {
		tier = append(tier, n.peers[(i*40+j)%len(n.peers)])
	}
	r := &fakeRouter{
		name: name, addr: fmt.Sprintf("127.0.0.1:%d", 9001+i), hash: i2p.HashOf([]byte("router " + name)),
		caps: caps, tier: tier, buildTime: 2 * time.Second, lifetime: 10 * time.Minute,
		sessions: make(map[i2p.Hash]*fakeSession), up: true,
	}
	n.mu.Lock()
	n.routers[r.addr] = r
	n.mu.Unlock()
	return r
}

func (n *fakeNet) dial(ctx context.Context, _, addr string) (RouterConn, error) {
	n.mu.Lock()
	r := n.routers[addr]
	n.mu.Unlock()
	if r == nil {
		return nil, fmt.Errorf("dial %s: no such router", addr)
	}
	return r.accept()
}

// fakeRouter models a managed-session router: builds take buildTime and
// succeed unless failing, tunnels expire after lifetime with an unsolicited
// TunnelStatus, terms fence controllers.
type fakeRouter struct {
	name, addr string
	sendGate   chan struct{} // if set, Send waits for it to close (set before start)
	hash       i2p.Hash
	caps       []string
	tier       []i2p.Hash
	buildTime  time.Duration
	lifetime   time.Duration
	// ahead is the router's clock minus the true time (time.Now): its
	// tunnels end lifetime after their build by its clock, and its
	// SetDate says so (RouterNow). Set before start.
	ahead time.Duration
	// undated plays a router that sent no SetDate yet (RouterNow false).
	undated bool
	// expiries logs each tunnel the router ended, with how many tunnels
	// of that session and direction it still had live afterwards.
	expiries []fakeExpiry

	mu          sync.Mutex
	up          bool
	failing     bool
	nextTunnel  uint32
	nextSession uint16
	sessions    map[i2p.Hash]*fakeSession
	conns       []*fakeConn
	builds      int
	buildsOK    int
	inFlight    int // CreateTunnel calls not yet returned
	explicit    int // builds that named their hops
	leaseSets   []*routerproto.CreateLeaseSet2
	sent        []*routerproto.SendMessageExpires
	staleRefuse int
}

// fakeExpiry is one tunnel a fakeRouter ended at its end of life.
type fakeExpiry struct {
	at   time.Time // true time
	dir  routerproto.Direction
	left int // live tunnels of that session and direction afterwards
}

type fakeSession struct {
	id      uint16
	term    uint64
	options i2p.Mapping // of the last CreateSession (signed)
	ctrl    *fakeConn
	tunnels map[uint32]routerproto.TunnelInfo // by id (both directions; ids unique per router)
	// queued is what the router holds for the next controller (payloads
	// that came in while no controller was attached): like a real router
	// it sends them right behind the re-attach's SessionStatus.
	queued []routerproto.Message
}

func (r *fakeRouter) accept() (*fakeConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.up {
		return nil, fmt.Errorf("dial %s: connection refused", r.addr)
	}
	c := &fakeConn{r: r, events: make(chan routerproto.Message, 256), done: make(chan struct{})}
	r.conns = append(r.conns, c)
	return c, nil
}

// kill takes the router down: connections close, tunnels and sessions die.
func (r *fakeRouter) kill() {
	r.mu.Lock()
	r.up = false
	conns := r.conns
	r.conns = nil
	r.sessions = make(map[i2p.Hash]*fakeSession)
	r.mu.Unlock()
	for _, c := range conns {
		c.closeWith(errors.New("connection reset"))
	}
}

func (r *fakeRouter) restart() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.up = true
}

func (r *fakeRouter) buildsInFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inFlight
}

func (r *fakeRouter) setFailing(f bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = f
}

// live returns the router's live tunnels of all sessions.
func (r *fakeRouter) live() []routerproto.TunnelInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []routerproto.TunnelInfo
	for _, s := range r.sessions {
		for _, t := range s.tunnels {
			out = append(out, t)
		}
	}
	return out
}

func (r *fakeRouter) counters() (builds, ok, explicit, leaseSets int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.builds, r.buildsOK, r.explicit, len(r.leaseSets)
}

func (r *fakeRouter) sessionIDs() map[i2p.Hash]uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[i2p.Hash]uint16)
	for h, s := range r.sessions {
		out[h] = s.id
	}
	return out
}

// fakeConn is one control connection.
type fakeConn struct {
	r      *fakeRouter
	mu     sync.Mutex
	events chan routerproto.Message
	done   chan struct{}
	closed bool
	err    error
}

func (c *fakeConn) Capabilities() *routerproto.Capabilities {
	return &routerproto.Capabilities{Version: 1, Names: c.r.caps, RouterHash: c.r.hash}
}

// RouterNow is the router's clock, as its SetDate gives it.
func (c *fakeConn) RouterNow() (time.Time, bool) {
	if c.r.undated {
		return time.Time{}, false
	}
	return time.Now().Add(c.r.ahead), true
}

func (c *fakeConn) closeWith(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed, c.err = true, err
	close(c.done)
	close(c.events)
}

// push sends an unsolicited message unless the connection is closed.
func (c *fakeConn) push(m routerproto.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.events <- m
	}
}

func (c *fakeConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

var errClosed = errors.New("fake: connection closed")

func (c *fakeConn) CreateSession(ctx context.Context, cfg *routerproto.SessionConfig) (uint16, error) {
	if err := cfg.Verify(); err != nil {
		return 0, err
	}
	term, _ := strconv.ParseUint(cfg.Options[routerproto.OptTerm], 10, 64)
	r := c.r
	r.mu.Lock()
	if c.isClosed() {
		r.mu.Unlock()
		return 0, errClosed
	}
	h := cfg.Destination.Hash()
	s := r.sessions[h]
	if s != nil && term < s.term {
		r.staleRefuse++
		r.mu.Unlock()
		return 0, errors.New("fake: session refused: stale term")
	}
	var old *fakeConn
	if s == nil {
		r.nextSession++
		s = &fakeSession{id: r.nextSession, tunnels: make(map[uint32]routerproto.TunnelInfo)}
		r.sessions[h] = s
	} else if s.ctrl != c {
		old = s.ctrl
	}
	s.term, s.ctrl, s.options = term, c, cfg.Options
	id, queued := s.id, s.queued
	s.queued = nil
	r.mu.Unlock()
	if old != nil {
		old.push(routerproto.NewDisconnect("imh: superseded by term " + strconv.FormatUint(term, 10)))
		old.closeWith(errors.New("superseded"))
	}
	for _, m := range queued {
		c.push(m)
	}
	if len(queued) > 0 {
		// Let the queued messages reach the balancer before the reply does,
		// as they can over a real connection.
		time.Sleep(time.Millisecond)
	}
	return id, nil
}

func (c *fakeConn) session(id uint16) (*fakeSession, error) {
	for _, s := range c.r.sessions {
		if s.id == id {
			if s.ctrl != c {
				return nil, errors.New("fake: not the controller")
			}
			return s, nil
		}
	}
	return nil, errors.New("fake: no such session")
}

func (c *fakeConn) FastTier(ctx context.Context) ([]routerproto.Peer, error) {
	var out []routerproto.Peer
	for _, h := range c.r.tier {
		out = append(out, routerproto.Peer{Hash: h, Bandwidth: 'O', Reliability: 9000})
	}
	return out, nil
}

func (c *fakeConn) CreateTunnel(ctx context.Context, m *routerproto.CreateTunnel) (*routerproto.TunnelStatus, error) {
	r := c.r
	r.mu.Lock()
	r.inFlight++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	select {
	case <-time.After(r.buildTime):
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, errClosed
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := c.session(m.SessionID)
	if err != nil {
		return nil, err
	}
	r.builds++
	if len(m.Hops) > 0 {
		r.explicit++
	}
	if r.failing {
		return &routerproto.TunnelStatus{RequestID: m.RequestID, SessionID: m.SessionID, Result: routerproto.ResultFailed, Reason: "hop rejected"}, nil
	}
	hops := m.Hops
	if len(hops) == 0 {
		for i := range int(m.HopCount) {
			hops = append(hops, r.tier[(int(r.nextTunnel)*7+i*13)%len(r.tier)])
		}
	}
	r.nextTunnel++
	id := 1000 + r.nextTunnel
	t := routerproto.TunnelInfo{Direction: m.Direction, TunnelID: id, Expires: uint32(time.Now().Add(r.ahead + r.lifetime).Unix()), Hops: hops}
	if len(hops) > 0 {
		t.Gateway = hops[0]
	} else {
		t.Gateway = r.hash
	}
	s.tunnels[id] = t
	r.buildsOK++
	sid := m.SessionID
	time.AfterFunc(r.lifetime, func() {
		r.mu.Lock()
		_, ok := s.tunnels[id]
		delete(s.tunnels, id)
		ctrl := s.ctrl
		if ok {
			left := 0
			for _, o := range s.tunnels {
				if o.Direction == t.Direction {
					left++
				}
			}
			r.expiries = append(r.expiries, fakeExpiry{at: time.Now(), dir: t.Direction, left: left})
		}
		r.mu.Unlock()
		if ok && ctrl != nil {
			ctrl.push(&routerproto.TunnelStatus{SessionID: sid, Result: routerproto.ResultExpired, Tunnel: t})
		}
	})
	return &routerproto.TunnelStatus{RequestID: m.RequestID, SessionID: m.SessionID, Result: routerproto.ResultOK, Tunnel: t}, nil
}

func (c *fakeConn) TunnelPool(ctx context.Context, sid uint16, dir routerproto.Direction) ([]routerproto.TunnelInfo, error) {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := c.session(sid)
	if err != nil {
		return nil, err
	}
	var out []routerproto.TunnelInfo
	for _, t := range s.tunnels {
		if dir == routerproto.DirBoth || t.Direction == dir {
			out = append(out, t)
		}
	}
	return out, nil
}

func (c *fakeConn) CreateLeaseSet2(ctx context.Context, m *routerproto.CreateLeaseSet2) error {
	if err := m.LeaseSet.Verify(); err != nil {
		return err
	}
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := c.session(m.SessionID); err != nil {
		return err
	}
	r.leaseSets = append(r.leaseSets, m)
	return nil
}

func (c *fakeConn) DestroySession(ctx context.Context, id uint16) error {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for h, s := range r.sessions {
		if s.id == id && s.ctrl == c {
			delete(r.sessions, h)
			return nil
		}
	}
	return errors.New("fake: no such session")
}

func (c *fakeConn) Send(ctx context.Context, m *routerproto.SendMessageExpires) error {
	r := c.r
	if r.sendGate != nil {
		select {
		case <-r.sendGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := c.session(m.SessionID); err != nil {
		return err
	}
	r.sent = append(r.sent, m)
	return nil
}

func (c *fakeConn) Events() <-chan routerproto.Message { return c.events }

func (c *fakeConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *fakeConn) Close() error {
	c.closeWith(nil)
	return nil
}

// report plays a stock upstream's pool: a tunnel the router built itself,
// announced with an unsolicited TunnelStatus.
func (r *fakeRouter) report(dest i2p.Hash, t routerproto.TunnelInfo, result routerproto.Result) {
	r.mu.Lock()
	s := r.sessions[dest]
	if result == routerproto.ResultOK {
		s.tunnels[t.TunnelID] = t
	} else {
		delete(s.tunnels, t.TunnelID)
	}
	ctrl, sid := s.ctrl, s.id
	r.mu.Unlock()
	ctrl.push(&routerproto.TunnelStatus{SessionID: sid, Result: result, Tunnel: t})
}

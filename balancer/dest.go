package balancer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/routerproto"
)

// destState is the loop's working state for one hosted destination.
type destState struct {
	name     string
	hash     i2p.Hash
	keys     *i2p.PrivateKeys
	encKey   *i2p.LeaseSetKey
	settings fsm.Settings
	policy   LeasePolicy
	gateways *GatewaySet
	// leadKey keys ReplaceLead (the gateway slice key; nil: no jitter);
	// leads memoizes it per tunnel (replaceLead).
	leadKey []byte
	leads   map[leadMemoKey]time.Duration
	// dueScratch holds a step's replacement times (appendInboundDues).
	dueScratch []time.Time

	sessions map[string]*session // by router name
	// openedAt: when this leader opened it, on Config.Clock (settling).
	// Not the loop's time: that jumps by minutes when the first router's
	// clock offset arrives, which would end the grace at once.
	openedAt time.Time

	// The last LeaseSet published (from the fsm at start).
	lastLS        *i2p.LeaseSet2
	lastRaw       []byte
	lastLeases    []Lease
	lastPublished uint32
	lastAt        time.Time // when this leader last published
	// history is the LeaseSets published lately, for the live
	// invisibility figures (leader-local).
	history     publishHistory
	changeSince time.Time // first non-urgent change not yet published
	urgent      bool      // publish as soon as allowed
	needBy      map[string]bool

	payloads map[string]int
	// echoDropped counts echo payloads dropped unanswered: MaxEchoWorkers
	// replies were in flight.
	echoDropped uint64
	// unrecorded holds tunnels whose TunnelRecorded failed (a timeout, a
	// leadership change): each step tries them again until they are
	// recorded, forgotten or expired (retryRecords).
	unrecorded map[fsm.TunnelKey]fsm.Tunnel
	active     string // failover: the router whose leases are published
	switches   int    // failover: changes of the active router
	// switchedAt is when the active router last changed (failover).
	switchedAt time.Time

	svc *streamService // the TCP service's streams (ServiceTCP), or nil
}

// session is a destination's managed session on one router, with the
// tunnels the loop knows it holds.
type session struct {
	id       uint16
	gen      uint64 // connection generation it belongs to
	creating bool
	ready    bool
	adopting bool // waiting for the router's tunnel pool

	tunnels map[tunnelKey]routerproto.TunnelInfo
	pending map[uint64]pendingBuild // by build id
}

type tunnelKey struct {
	dir routerproto.Direction
	id  uint32
}

type pendingBuild struct {
	dir     routerproto.Direction
	gateway i2p.Hash // planned inbound gateway (zero when the router chooses)
	started time.Time
	cancel  context.CancelFunc // ends the CreateTunnel request
}

// cancelBuilds gives up the session's builds in flight: their requests end
// now, not at OpTimeout, and their answers are ignored (no pending entry).
func (s *session) cancelBuilds() {
	for id, p := range s.pending {
		p.cancel()
		delete(s.pending, id)
	}
}

func newSession() *session {
	return &session{tunnels: make(map[tunnelKey]routerproto.TunnelInfo), pending: make(map[uint64]pendingBuild)}
}

func (d *destState) session(router string) *session {
	s := d.sessions[router]
	if s == nil {
		s = newSession()
		d.sessions[router] = s
	}
	return s
}

// resetSession forgets the session handle after a reconnect (the router
// keeps the session; CreateSession re-attaches) but keeps the tunnels until
// the router's pool says otherwise.
func (d *destState) resetSession(router string) {
	s := d.session(router)
	s.id, s.gen, s.creating, s.ready, s.adopting = 0, 0, false, false, false
	s.cancelBuilds()
}

// routerDown makes a LeaseSet holding the router's leases urgent.
func (d *destState) routerDown(router string) {
	for _, l := range d.lastLeases {
		if l.Router == router {
			d.urgent = true
			return
		}
	}
}

func (d *destState) dropRouter(router string) {
	d.routerDown(router)
	if s := d.sessions[router]; s != nil {
		s.cancelBuilds()
	}
	delete(d.sessions, router)
}

// reconcileDests follows the fsm's destinations and their settings.
func (l *loop) reconcileDests(st *fsm.State, now time.Time) {
	seen := make(map[string]bool)
	for _, fd := range st.Destinations() {
		seen[fd.Name] = true
		d := l.dests[fd.Name]
		if d != nil && d.hash != fd.Hash() {
			// Removed and created again under the same name (with other
			// keys) between two reconciles: the old keys must not sign
			// for the new destination (the fsm would refuse every
			// LeaseSet, forever).
			delete(l.dests, fd.Name)
			d.stopService()
			l.destroySessions(d)
			l.log.Info("destination replaced", "dest", fd.Name, "old", d.hash.B32(), "new", fd.Hash().B32())
			d = nil
		}
		if d == nil {
			if d = l.openDest(st, fd, now); d == nil {
				l.reopen = true // nothing in the fsm changes for a retry
				continue
			}
			l.dests[fd.Name] = d
			l.syncService(d)
		}
		if d.settings != fd.Settings {
			l.log.Info("destination settings", "dest", d.name, "settings", fmt.Sprintf("%+v", fd.Settings))
			d.settings = fd.Settings
			d.policy = policyFor(fd.Settings.Policy)
			d.urgent = true
			l.syncService(d)
		}
	}
	for name, d := range l.dests {
		if !seen[name] {
			delete(l.dests, name)
			d.stopService()
			l.destroySessions(d)
			l.log.Info("destination removed", "dest", name)
		}
	}
}

// destroySessions ends a removed destination's sessions on the routers
// that are up (the others drop it when their grace period ends), and gives
// up its builds in flight: nobody wants their tunnels, and a router may not
// answer a build of a session it destroyed before its request timeout.
func (l *loop) destroySessions(d *destState) {
	for name, s := range d.sessions {
		s.cancelBuilds()
		r := l.routers[name]
		if r == nil || !r.up() || !s.ready || s.gen != r.gen {
			continue
		}
		conn, id, log := r.conn, s.id, l.log.With("router", name, "dest", d.name)
		l.spawn(func(ctx context.Context) event {
			if err := conn.DestroySession(ctx, id); err != nil {
				log.Warn("destroy session", "err", err)
			}
			return nil
		})
	}
}

// policyFor maps the fsm's policy to a LeasePolicy; an unknown one (from a
// newer binary) falls back to spread.
func policyFor(p fsm.Policy) LeasePolicy {
	pol, err := PolicyByName(p.String())
	if err != nil {
		return Spread{}
	}
	return pol
}

// openDest unseals a destination's keys and adopts its last LeaseSet.
// Failures are retried once a minute.
func (l *loop) openDest(st *fsm.State, fd *fsm.Destination, now time.Time) *destState {
	keys, encKey, err := l.openKeys(fd)
	if err != nil {
		l.log.Error("open destination keys", "dest", fd.Name, "err", err)
		return nil
	}
	d := &destState{
		name: fd.Name, hash: fd.Hash(), keys: keys, encKey: encKey,
		settings: fd.Settings, policy: policyFor(fd.Settings.Policy),
		gateways: NewGatewaySet(l.cfg.Gateways),
		leads:    make(map[leadMemoKey]time.Duration),
		sessions: make(map[string]*session), needBy: make(map[string]bool),
		payloads:      make(map[string]int),
		unrecorded:    make(map[fsm.TunnelKey]fsm.Tunnel),
		lastPublished: st.PublishedMark(fd.Hash()),
		openedAt:      l.cfg.Clock.Now(),
	}
	if fd.LeaseSet != nil {
		if ls, err := i2p.ParseLeaseSet2(fd.LeaseSet.Bytes); err == nil && len(ls.Leases) == len(fd.LeaseSet.Routers) {
			d.lastLS, d.lastRaw = ls, fd.LeaseSet.Bytes
			// The predecessor's LeaseSet starts the history, at the time
			// it was signed (never in the future of this leader's clock).
			signed := time.Unix(int64(ls.Published), 0)
			if signed.After(now) {
				signed = now
			}
			d.history.record(signed, fd.LeaseSet.Bytes)
			for i, l2 := range ls.Leases {
				d.lastLeases = append(d.lastLeases, Lease{Router: fd.LeaseSet.Routers[i], Gateway: l2.Gateway, TunnelID: l2.TunnelID, End: time.Unix(int64(l2.End), 0)})
			}
			if fd.Settings.Policy == fsm.PolicyFailover && len(LeasesByRouter(d.lastLeases)) == 1 {
				d.active = d.lastLeases[0].Router // the predecessor's active router stays
			}
		}
	}
	// Tunnels the previous leader recorded: adopted until each router's
	// pool confirms or denies them. Their gateways, those of the published
	// leases first, seed the gateway set so that it survives the failover.
	var leased, inUse []i2p.Hash
	for _, l := range d.lastLeases {
		leased = append(leased, l.Gateway)
	}
	for _, t := range st.Tunnels(fd.Name) {
		if time.Unix(int64(t.Expires), 0).After(now) {
			d.session(t.Router).tunnels[tunnelKey{toProtoDir(t.Direction), t.ID}] = fromRecord(t)
			if t.Direction == fsm.Inbound && len(t.Hops) > 0 {
				inUse = append(inUse, t.Gateway)
			}
		}
	}
	if key, err := GatewaySliceKey(keys); err == nil {
		d.gateways.UseSlice(key)
		d.leadKey = key
	} else {
		l.log.Warn("gateway set drawn at random", "dest", d.name, "err", err)
	}
	d.gateways.Seed(now.Add(-time.Second), leased)
	d.gateways.Seed(now, inUse)
	l.log.Info("destination", "dest", d.name, "b32", keys.Destination().B32(), "tunnels_adopted", len(st.Tunnels(fd.Name)))
	return d
}

// errKeys wraps key problems of a destination.
var errKeys = errors.New("balancer: destination keys")

func (l *loop) openKeys(fd *fsm.Destination) (*i2p.PrivateKeys, *i2p.LeaseSetKey, error) {
	raw, err := l.cfg.Cluster.Open(fd.SealedKeys, fd.Hash(), fsm.FieldKeys)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: unseal key file: %w", errKeys, err)
	}
	keys, err := i2p.ParsePrivateKeys(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errKeys, err)
	}
	if keys.Destination().Hash() != fd.Hash() || !keys.CanSign() {
		return nil, nil, fmt.Errorf("%w: key file does not sign for %s", errKeys, fd.Hash().B32())
	}
	rawLS, err := l.cfg.Cluster.Open(fd.SealedLeaseSetKey, fd.Hash(), fsm.FieldLeaseSetKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: unseal leaseset key: %w", errKeys, err)
	}
	encKey, err := i2p.ParseLeaseSetKey(rawLS)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errKeys, err)
	}
	return keys, encKey, nil
}

func toProtoDir(d fsm.Direction) routerproto.Direction {
	if d == fsm.Outbound {
		return routerproto.Outbound
	}
	return routerproto.Inbound
}

func toFSMDir(d routerproto.Direction) fsm.Direction {
	if d == routerproto.Outbound {
		return fsm.Outbound
	}
	return fsm.Inbound
}

func fromRecord(t fsm.Tunnel) routerproto.TunnelInfo {
	return routerproto.TunnelInfo{Direction: toProtoDir(t.Direction), TunnelID: t.ID, Gateway: t.Gateway, Expires: t.Expires, Hops: t.Hops}
}

func (l *loop) record(d *destState, router string, t routerproto.TunnelInfo) {
	rec := fsm.Tunnel{
		TunnelKey: fsm.TunnelKey{Router: router, Destination: d.name, Direction: toFSMDir(t.Direction), ID: t.TunnelID},
		Gateway:   t.Gateway, Hops: t.Hops, Expires: t.Expires,
	}
	if err := l.apply(&fsm.TunnelRecorded{Tunnel: rec}); err != nil {
		d.unrecorded[rec.TunnelKey] = rec
		l.log.Warn("record tunnel; will retry", "dest", d.name, "router", router, "tunnel", rec.ID, "err", err)
		return
	}
	delete(d.unrecorded, rec.TunnelKey)
}

// retryRecords records again the tunnels of d whose record failed, and
// drops those that expired meanwhile (nothing to record any more).
func (l *loop) retryRecords(d *destState, now time.Time) {
	for key, rec := range d.unrecorded {
		if !time.Unix(int64(rec.Expires), 0).After(now) {
			delete(d.unrecorded, key)
			continue
		}
		if err := l.apply(&fsm.TunnelRecorded{Tunnel: rec}); err != nil {
			l.log.Warn("record tunnel (retry)", "dest", d.name, "router", key.Router, "tunnel", key.ID, "err", err)
			return // the cluster is failing: try again next step
		}
		delete(d.unrecorded, key)
	}
}

func (l *loop) forget(d *destState, router string, k tunnelKey) {
	key := fsm.TunnelKey{Router: router, Destination: d.name, Direction: toFSMDir(k.dir), ID: k.id}
	delete(d.unrecorded, key)
	if err := l.apply(&fsm.TunnelExpired{Key: key}); err != nil {
		l.log.Warn("record tunnel expiry", "dest", d.name, "router", router, "err", err)
	}
}

func sessionKey(dest, router string) string { return dest + "/" + router + "/session" }

// Session events.
type (
	evSession struct {
		router, dest string
		gen          uint64
		id           uint16
		err          error
	}
	evPool struct {
		router, dest string
		gen          uint64
		tunnels      []routerproto.TunnelInfo
		err          error
	}
)

// ensureSession creates (or re-attaches to) the destination's managed
// session on a router that is up, with this leader's term.
func (l *loop) ensureSession(d *destState, r *routerState) {
	if !r.up() {
		return
	}
	s := d.session(r.name)
	if s.ready || s.creating {
		return
	}
	if ok, _ := l.retry.Ready(sessionKey(d.name, r.name), l.now()); !ok {
		return
	}
	s.creating = true
	conn, gen, keys, term := r.conn, r.gen, d.keys, l.term
	opts := i2p.Mapping{routerproto.OptManaged: "true", routerproto.OptTerm: strconv.FormatUint(term, 10)}
	if b, ok := conn.(binder); ok && b.Binding() != nil {
		opts[routerproto.OptBinding] = hex.EncodeToString(b.Binding())
	}
	if !r.has(routerproto.CapCreateTunnel) {
		// The router forwards the config unchanged to a stock router,
		// which builds its pools from these options.
		maps.Copy(opts, UpstreamOptions(d.settings))
	}
	dest, router := d.name, r.name
	l.spawn(func(ctx context.Context) event {
		// The router checks the date against its own clock.
		cfg, err := routerproto.SignSessionConfig(keys, opts, uint64(routerTime(conn).UnixMilli()))
		if err != nil {
			return evSession{router: router, dest: dest, gen: gen, err: err}
		}
		id, err := conn.CreateSession(ctx, cfg)
		return evSession{router: router, dest: dest, gen: gen, id: id, err: err}
	})
}

func (l *loop) sessionResult(e evSession) {
	r, d := l.current(e.router, e.gen), l.dests[e.dest]
	if r == nil || d == nil {
		return
	}
	s := d.session(r.name)
	s.creating = false
	defer l.replayEarly(r)
	if e.err != nil {
		now := l.now()
		next := l.retry.Failed(sessionKey(d.name, r.name), now)
		l.log.Warn("create session", "router", r.name, "dest", d.name, "term", l.term, "err", e.err, "retry_in", next.Sub(now))
		return
	}
	l.retry.Succeeded(sessionKey(d.name, r.name))
	s.id, s.gen, s.ready = e.id, e.gen, true
	l.log.Info("session ready", "router", r.name, "dest", d.name, "session", e.id, "term", l.term)
	if !r.has(routerproto.CapTunnelPool) {
		return
	}
	s.adopting = true
	conn, gen, sid := r.conn, r.gen, s.id
	l.spawn(func(ctx context.Context) event {
		ts, err := conn.TunnelPool(ctx, sid, routerproto.DirBoth)
		return evPool{router: e.router, dest: e.dest, gen: gen, tunnels: ts, err: err}
	})
}

// poolResult adopts the router's live tunnels: those the fsm lacks are
// recorded, those it has but the router lost are dropped. Nothing is
// rebuilt because the leader changed.
func (l *loop) poolResult(e evPool) {
	r, d := l.current(e.router, e.gen), l.dests[e.dest]
	if r == nil || d == nil {
		return
	}
	s := d.session(r.name)
	s.adopting = false
	if e.err != nil {
		l.log.Warn("tunnel pool", "router", r.name, "dest", d.name, "err", e.err)
		return
	}
	live := make(map[tunnelKey]routerproto.TunnelInfo, len(e.tunnels))
	for _, t := range e.tunnels {
		live[tunnelKey{t.Direction, t.TunnelID}] = t
	}
	for k := range s.tunnels {
		if _, ok := live[k]; !ok {
			delete(s.tunnels, k)
			l.forget(d, r.name, k)
			d.urgentIfLeased(r.name, k)
		}
	}
	adopted := 0
	for k, t := range live {
		if old, ok := s.tunnels[k]; !ok || old.Expires != t.Expires || old.Gateway != t.Gateway {
			l.record(d, r.name, t)
			adopted++
		}
		s.tunnels[k] = t
	}
	l.log.Info("tunnels adopted", "router", r.name, "dest", d.name, "live", len(live), "recorded", adopted)
}

// urgentIfLeased makes the next LeaseSet urgent if the current one holds a
// lease of that (now dead) tunnel.
// SpareInbound is how many inbound tunnels more than --inbound a stock
// upstream is asked for: one when its tunnels have hops and there is room
// under the 16 leases of a LeaseSet, else none. i2pd 2.45.1 builds at most
// two tunnels of a pool per round (TUNNEL_POOL_MAX_NUM_BUILD_REQUESTS), and
// of the tunnels that come up in one round only the first makes it ask for
// a LeaseSet (the others arrive while that request is outstanding and are
// dropped); its request lists every tunnel established by then. So a pool
// of N tells of at least N-1 tunnels once built: N = --inbound + 1 tells of
// at least --inbound. The LeaseSet carries --inbound leases per router
// (SelectInput.PerRouter); the spare is a tunnel more on the stock router.
// Zero-hop pools need none: i2pd asks again every round for them.
// docs/policies.md, "Stock i2pd and the lease count".
func SpareInbound(st fsm.Settings) int {
	if st.Hops == 0 || int(st.Inbound) >= i2p.MaxLeases {
		return 0
	}
	return 1
}

func (d *destState) urgentIfLeased(router string, k tunnelKey) {
	if k.dir != routerproto.Inbound {
		return
	}
	for _, l := range d.lastLeases {
		if l.Router == router && l.TunnelID == k.id {
			d.urgent = true
			return
		}
	}
}

// UpstreamOptions are the standard I2CP session options that a router
// which builds its own tunnels (an adapter in front of a stock router,
// without create-tunnel) passes to its upstream inside the session config
// the balancer signs (PROTOCOL.md section 8): tunnel lengths from --hops,
// quantities from --inbound (plus one spare, see SpareInbound) and
// --outbound, an X25519 LeaseSet2, fast receive, and no end-to-end
// reliability (the balancer's sends are best-effort).
func UpstreamOptions(st fsm.Settings) i2p.Mapping {
	hops := strconv.Itoa(int(st.Hops))
	return i2p.Mapping{
		"inbound.length":          hops,
		"outbound.length":         hops,
		"inbound.quantity":        strconv.Itoa(int(st.Inbound) + SpareInbound(st)),
		"outbound.quantity":       strconv.Itoa(int(st.Outbound)),
		"i2cp.leaseSetType":       "3",
		"i2cp.leaseSetEncType":    "4",
		"i2cp.fastReceive":        "true",
		"i2cp.messageReliability": "none",
	}
}

// leadMemoKey identifies an inbound tunnel for replaceLead.
type leadMemoKey struct {
	gateway i2p.Hash
	tunnel  uint32
}

// maxLeadMemo bounds d.leads: more than the inbound tunnels of 100 routers
// with spares; past it the memo starts afresh.
const maxLeadMemo = 8192

// replaceLead is ReplaceLead for t, computed once per tunnel: an HMAC for
// every inbound tunnel on every step cost the leader 1,600 HMACs and about
// 15,000 allocations a step at 100 routers x 16 tunnels
// (BenchmarkLeaderStep).
func (d *destState) replaceLead(t routerproto.TunnelInfo, base, jitter time.Duration) time.Duration {
	k := leadMemoKey{t.Gateway, t.TunnelID}
	if v, ok := d.leads[k]; ok {
		return v
	}
	if len(d.leads) >= maxLeadMemo {
		clear(d.leads)
	}
	v := ReplaceLead(d.leadKey, t.Gateway, t.TunnelID, base, jitter)
	d.leads[k] = v
	return v
}

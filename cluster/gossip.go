package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

const (
	gossipTick  = time.Second
	rejoinEvery = 10 // gossip ticks
	// rejoinLeaderless: gossip ticks between rejoins while no leader is
	// known, and during the first rejoinStartTicks after the start.
	rejoinLeaderless = 2
	rejoinStartTicks = 60
	// deadNodeReclaim: how long after memberlist declared a member dead its
	// name may be taken by an agent at another address (the same agent
	// restarted on a new host after a crash). The default, never, would
	// keep it out until memberlist forgets the dead member (30 s).
	deadNodeReclaim = time.Second
)

// nodeMeta is what each agent gossips about itself (memberlist node meta,
// at most 512 bytes).
type nodeMeta struct {
	RaftAddr string `json:"r"`
	HTTPAddr string `json:"h"`
	InRaft   bool   `json:"s"`           // has raft state: bootstrapped, restarted, or added by a leader
	Removed  bool   `json:"x,omitempty"` // removed by an operator; waits for imh cluster join
}

// member is an alive gossip member with valid meta.
type member struct {
	Name string
	Addr string // gossip address
	Meta nodeMeta
}

func (c *Cluster) setupGossip() error {
	cfg := &c.cfg
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeName
	host, port, err := splitHostPort(cfg.GossipBind)
	if err != nil {
		return fmt.Errorf("gossip bind: %w", err)
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if cfg.GossipAdvertise != "" {
		if mc.AdvertiseAddr, mc.AdvertisePort, err = splitHostPort(cfg.GossipAdvertise); err != nil {
			return fmt.Errorf("gossip advertise: %w", err)
		}
	}
	// Every secret held decrypts; the active one encrypts, and follows
	// the state's switch (keyring.follow). After a rotation and a restart
	// without --previous-secret-file, only the new key is left.
	if mc.Keyring, err = c.keys.gossipKeyring(); err != nil {
		return err
	}
	mc.DeadNodeReclaimTime = deadNodeReclaim
	mc.Logger = c.gossipLogger()
	mc.Delegate = &gossipDelegate{c: c}
	mc.Events = &gossipEvents{c: c}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("gossip listen %s: %w", cfg.GossipBind, err)
	}
	c.ml = ml
	c.gossipAddr = ml.LocalNode().Address()
	c.log.Info("gossip started", "gossip_addr", c.gossipAddr)
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return h, n, nil
}

// GossipAddr is the address other agents join (empty without gossip).
func (c *Cluster) GossipAddr() string {
	return c.gossipAddr
}

// httpAdvertise is the API address other agents forward writes to:
// --http-advertise, else the listener's address, with an unspecified host
// (0.0.0.0, ::) replaced by the raft address's host.
func (c *Cluster) httpAdvertise() string {
	if c.cfg.HTTPAdvertise != "" {
		return c.cfg.HTTPAdvertise
	}
	addr := c.httpLn.Addr().String()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if rh, _, err := net.SplitHostPort(string(c.localRaft)); err == nil {
			return net.JoinHostPort(rh, port)
		}
	}
	return addr
}

func (c *Cluster) localMeta() nodeMeta {
	return nodeMeta{RaftAddr: string(c.localRaft), HTTPAddr: c.httpAdvertise(), InRaft: c.inRaft(), Removed: c.removed.Load()}
}

func (c *Cluster) inRaft() bool { return c.hasState.Load() || c.Leader() != "" }

// members returns the alive gossip members with valid meta, sorted by
// name, from the table the event delegate keeps (memberlist's own Node
// values are mutated under its lock, so they are read only in callbacks).
func (c *Cluster) members() []member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]member, 0, len(c.memberTable))
	for _, m := range c.memberTable {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// noteMember records or forgets a member; called from memberlist's event
// callbacks, where reading the Node is safe.
func (c *Cluster) noteMember(n *memberlist.Node, alive bool) {
	var m nodeMeta
	ok := alive && n.State == memberlist.StateAlive && json.Unmarshal(n.Meta, &m) == nil && m.RaftAddr != ""
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		delete(c.memberTable, n.Name)
		return
	}
	c.memberTable[n.Name] = member{Name: n.Name, Addr: n.Address(), Meta: m}
	if m.HTTPAddr != "" {
		c.lastHTTP[n.Name] = m.HTTPAddr
	}
}

// runGossip joins the --join addresses (retrying until one answers),
// bootstraps once --bootstrap-expect agents are found, and keeps this
// node's gossiped meta current.
func (c *Cluster) runGossip(ctx context.Context) {
	others := c.joinTargets()
	joined := len(others) == 0
	everJoined := joined
	lastMeta := c.localMeta()
	t := time.NewTicker(gossipTick)
	defer t.Stop()
	for tick := 1; ; tick++ {
		// Join until one agent answers; afterwards rejoin now and then while
		// gossip sees fewer agents than raft has servers (healed partitions,
		// agents that restarted after memberlist forgot them).
		if joined && len(others) > 0 && c.shouldRejoin(tick) {
			joined = false
		}
		if tick%rejoinLeaderless == 0 && c.hasState.Load() && !c.removed.Load() && c.Leader() == "" {
			c.announceSelf(ctx)
		}
		if !joined {
			n, err := c.ml.Join(others)
			if n > 0 {
				if !everJoined {
					c.log.Info("joined cluster gossip", "contacted", n)
				}
				joined, everJoined = true, true
			} else if !c.joinSecretMismatch(others, err) {
				c.log.Debug("join: no agent answered yet; retrying", "addrs", others, "err", err)
			}
		}
		c.maybeBootstrap()
		c.checkSelfInConfig()
		if m := c.localMeta(); m != lastMeta {
			lastMeta = m
			if err := c.ml.UpdateNode(time.Second); err != nil {
				c.log.Debug("gossip meta update", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.memberCh:
		}
	}
}

// shouldRejoin says when to push our gossip state to the --join agents
// again: now and then while gossip sees fewer agents than raft has servers
// (healed partitions, agents that restarted after memberlist forgot
// them), and more often while this member of a cluster knows no leader or
// during the first minute (an agent back on a new address after a crash is
// refused by the others until they consider its old address dead; see
// DeadNodeReclaimTime). The raft address itself is announced to the leader
// over the API meanwhile (announceSelf), so raft does not wait for gossip.
func (c *Cluster) shouldRejoin(tick int) bool {
	if tick%rejoinEvery == 0 {
		if conf, err := c.configuration(); err == nil && len(c.members()) < len(conf.Servers) {
			return true
		}
	}
	if tick%rejoinLeaderless != 0 || c.removed.Load() {
		return false
	}
	return tick <= rejoinStartTicks || (c.hasState.Load() && c.Leader() == "")
}

// joinTargets is --join without this node's own addresses.
func (c *Cluster) joinTargets() []string {
	self := map[string]bool{c.gossipAddr: true}
	for _, a := range []string{c.cfg.GossipBind, c.cfg.GossipAdvertise} {
		if a != "" {
			self[normalizeAddr(a)] = true
		}
	}
	var out []string
	for _, a := range c.cfg.Join {
		if !self[normalizeAddr(a)] {
			out = append(out, a)
		}
	}
	return out
}

func normalizeAddr(a string) string {
	if ta, err := net.ResolveTCPAddr("tcp", a); err == nil {
		return ta.String()
	}
	return a
}

// maybeBootstrap bootstraps raft with every alive member once at least
// BootstrapExpect agents found each other, none of which is in a raft
// cluster already. A node with raft state never bootstraps (a restarted
// agent rejoins its configuration); a new node joining an existing cluster
// waits to be added by the leader's reconcile.
func (c *Cluster) maybeBootstrap() {
	if c.cfg.BootstrapExpect == 0 || c.hasState.Load() || c.removed.Load() {
		return
	}
	ms := c.members()
	if len(ms) < c.cfg.BootstrapExpect {
		c.bootWait.report(c.log, ms, c.cfg.BootstrapExpect, time.Now())
		return
	}
	var conf raft.Configuration
	for _, m := range ms {
		if m.Meta.InRaft || m.Meta.Removed {
			return
		}
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(m.Name), Address: raft.ServerAddress(m.Meta.RaftAddr)})
	}
	err := c.r().BootstrapCluster(conf).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		c.log.Error("bootstrap", "err", err)
		return
	}
	c.hasState.Store(true)
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	c.log.Info("bootstrapped raft", "servers", names)
}

type gossipDelegate struct{ c *Cluster }

func (d *gossipDelegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(d.c.localMeta())
	if len(b) > limit {
		d.c.log.Error("gossip meta too large", "bytes", len(b), "limit", limit)
		return nil
	}
	return b
}

func (d *gossipDelegate) NotifyMsg([]byte)                    {}
func (d *gossipDelegate) GetBroadcasts(int, int) [][]byte     { return nil }
func (d *gossipDelegate) LocalState(bool) []byte              { return nil }
func (d *gossipDelegate) MergeRemoteState(buf []byte, _ bool) {}

type gossipEvents struct{ c *Cluster }

func (e *gossipEvents) ping() {
	select {
	case e.c.memberCh <- struct{}{}:
	default:
	}
	select {
	case e.c.reconcileCh <- struct{}{}:
	default:
	}
}

func (e *gossipEvents) NotifyJoin(n *memberlist.Node) {
	e.c.noteMember(n, true)
	e.ping()
}

func (e *gossipEvents) NotifyLeave(n *memberlist.Node) {
	e.c.noteMember(n, false)
	e.ping()
}

func (e *gossipEvents) NotifyUpdate(n *memberlist.Node) {
	e.c.noteMember(n, true)
	e.ping()
}

// bootstrapWait says what an agent started with --bootstrap-expect waits
// for, with the elapsed time: one line when it starts waiting and one each
// time the number of agents found changes, so an operator watching the log
// of the first agent sees it count its peers instead of silence.
type bootstrapWait struct {
	start time.Time
	have  int
}

func (w *bootstrapWait) report(log *slog.Logger, ms []member, want int, now time.Time) {
	if !w.start.IsZero() && len(ms) == w.have {
		return
	}
	if w.start.IsZero() {
		w.start = now
	}
	w.have = len(ms)
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	log.Info("waiting to bootstrap raft", "agents", len(ms), "want", want, "found", names,
		"elapsed", now.Sub(w.start).Round(100*time.Millisecond).String())
}

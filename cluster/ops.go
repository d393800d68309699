package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/imh-project/imh/fsm"
)

// Cluster operations (imh cluster ...):
//
//	GET    /v1/peers                 PeersBody (any agent; asks every peer for its raft facts)
//	GET    /v1/internal/self         PeerInfo of the answering agent
//	POST   /v1/join                  JoinRequest -> JoinResult (the answering agent joins)
//	DELETE /v1/peers/{name}          -> RemoveResult (leader)
//	POST   /v1/internal/removed      RemovedNotice (leader to the removed agent)
//	POST   /v1/transfer-leader       TransferRequest -> TransferResult (leader)
//	POST   /v1/promote               PromoteRequest -> PromoteResult (leader)
//	GET    /v1/snapshot              fsm snapshot bytes (leader, after a Barrier)
//	PUT    /v1/snapshot              fsm snapshot bytes -> RestoreResult (leader)
const (
	peerInfoTimeout  = time.Second
	joinWait         = 30 * time.Second
	transferWait     = 5 * time.Second
	restoreTimeout   = 30 * time.Second
	stopTransferWait = 3 * time.Second
)

// Announce is the body of POST /v1/internal/announce: an agent of the
// configuration that knows no leader tells it its current raft address.
type Announce struct {
	Name     string `json:"name"`
	RaftAddr string `json:"raft_addr"`
}

// RemovedNotice is the body of POST /v1/internal/removed.
type RemovedNotice struct {
	By string `json:"by"`
}

func (c *Cluster) registerOps(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/peers", c.handlePeers)
	mux.HandleFunc("GET /v1/internal/self", c.handleSelf)
	mux.HandleFunc("POST /v1/join", c.handleJoin)
	mux.HandleFunc("DELETE /v1/peers/{name}", c.write(c.peerRemove))
	mux.HandleFunc("POST /v1/internal/removed", c.handleRemoved)
	mux.HandleFunc("POST /v1/internal/announce", c.write(c.announce))
	mux.HandleFunc("POST /v1/transfer-leader", c.write(c.transferLeader))
	mux.HandleFunc("POST /v1/promote", c.write(c.promote))
	mux.HandleFunc("GET /v1/snapshot", c.handleSnapshotSave)
	mux.HandleFunc("PUT /v1/snapshot", c.handleSnapshotRestore)
}

// selfInfo is this agent's own raft facts.
func (c *Cluster) selfInfo() PeerInfo {
	r := c.r()
	p := PeerInfo{Name: c.cfg.NodeName, RaftAddr: string(c.localRaft), State: strings.ToLower(r.State().String()),
		CommitIndex: r.CommitIndex(), LastContactMs: -1}
	if c.removed.Load() {
		p.State = "removed"
	}
	conf, err := c.configuration()
	if err != nil {
		c.log.Warn("self info", "err", err)
	}
	for _, s := range conf.Servers {
		if s.ID == raft.ServerID(c.cfg.NodeName) {
			p.Voter = s.Suffrage == raft.Voter
			p.RaftAddr = string(s.Address)
		}
	}
	switch lc := r.LastContact(); {
	case r.State() == raft.Leader:
		p.LastContactMs = 0
	case !lc.IsZero():
		p.LastContactMs = time.Since(lc).Milliseconds()
	}
	return p
}

func (c *Cluster) handleSelf(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, SelfInfo{PeerInfo: c.selfInfo(), Secrets: c.selfSecrets()})
}

// Peers lists the raft configuration as this agent knows it, with each
// server's own view of its state, last contact and commit index (asked
// over its API; "left" when it does not answer).
func (c *Cluster) Peers(ctx context.Context) (PeersBody, error) {
	conf, err := c.configuration()
	if err != nil {
		return PeersBody{}, err
	}
	servers := conf.Servers
	out := make([]PeerInfo, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		out[i] = PeerInfo{Name: string(s.ID), RaftAddr: string(s.Address), State: "left",
			Voter: s.Suffrage == raft.Voter, LastContactMs: -1}
		if string(s.ID) == c.cfg.NodeName {
			self := c.selfInfo()
			out[i].State, out[i].LastContactMs, out[i].CommitIndex = self.State, self.LastContactMs, self.CommitIndex
			continue
		}
		addr := c.httpAddrOf(string(s.ID))
		if addr == "" {
			continue
		}
		wg.Go(func() {
			var p PeerInfo
			if err := c.getJSON(ctx, addr, "/v1/internal/self", peerInfoTimeout, &p); err != nil || p.Name != out[i].Name {
				return
			}
			out[i].State, out[i].LastContactMs, out[i].CommitIndex = p.State, p.LastContactMs, p.CommitIndex
		})
	}
	wg.Wait()
	// A removed agent is in no configuration; show it as removed, on its
	// own API and on the others' (its gossip says it was removed).
	listed := map[string]bool{}
	for _, p := range out {
		listed[p.Name] = true
	}
	if c.removed.Load() && !listed[c.cfg.NodeName] {
		self := c.selfInfo()
		self.Voter = false
		out = append(out, self)
		listed[c.cfg.NodeName] = true
	}
	if c.ml != nil {
		for _, m := range c.members() {
			if m.Meta.Removed && !listed[m.Name] {
				out = append(out, PeerInfo{Name: m.Name, RaftAddr: m.Meta.RaftAddr, State: "removed", LastContactMs: -1})
				listed[m.Name] = true
			}
		}
	}
	return PeersBody{Peers: out}, nil
}

func (c *Cluster) handlePeers(w http.ResponseWriter, r *http.Request) {
	body, err := c.Peers(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// getJSON GETs path from another agent's API.
func (c *Cluster) getJSON(ctx context.Context, addr, path string, timeout time.Duration, v any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL(addr, path), nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s%s: %s", addr, path, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(v)
}

// Join makes this agent join the cluster that gossips at addr. A removed
// agent first moves its stale raft state aside (logged) and starts fresh.
// It returns once the leader has added this agent to the raft
// configuration (a non-voter until imh cluster promote).
func (c *Cluster) Join(ctx context.Context, addr string) (JoinResult, error) {
	res := JoinResult{Node: c.cfg.NodeName}
	if c.ml == nil {
		return res, fmt.Errorf("%w: this agent runs without gossip", errBadRequest)
	}
	if c.removed.Load() {
		if err := c.resetRaft(); err != nil {
			return res, err
		}
		res.Fresh = true
	}
	n, err := c.ml.Join([]string{addr})
	if n == 0 && c.joinSecretMismatch([]string{addr}, err) {
		return res, fmt.Errorf("join %s: the agent there has another cluster secret (its gossip cannot be decrypted): check --secret-file or IMH_SECRET on both", addr)
	}
	if n == 0 {
		return res, fmt.Errorf("join %s: no agent answered: %w", addr, flatError{err})
	}
	res.Contacted = n
	c.log.Info("joined cluster gossip on operator request", "addr", addr, "contacted", n)
	c.pingGossip()
	deadline := time.Now().Add(joinWait)
	for {
		if l := c.Leader(); l != "" && c.inConfig() {
			res.Leader = l
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%w: joined gossip at %s, but no leader added this agent to the raft configuration within %v (is a majority up?)", ErrNoLeader, addr, joinWait)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// inConfig reports whether the configuration names this agent (false when
// raft cannot say).
func (c *Cluster) inConfig() bool {
	conf, err := c.configuration()
	if err != nil {
		return false
	}
	for _, s := range conf.Servers {
		if s.ID == raft.ServerID(c.cfg.NodeName) {
			return true
		}
	}
	return false
}

func (c *Cluster) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err := decodeBody(body, &req); err != nil {
		writeError(w, err)
		return
	}
	if _, _, err := splitHostPort(req.Addr); err != nil {
		writeError(w, fmt.Errorf("%w: gossip address %q: %w", errBadRequest, req.Addr, err))
		return
	}
	res, err := c.Join(r.Context(), req.Addr)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// server returns the configuration entry of name.
func (c *Cluster) server(name string) (raft.Server, bool, error) {
	conf, err := c.configuration()
	if err != nil {
		return raft.Server{}, false, err
	}
	for _, s := range conf.Servers {
		if string(s.ID) == name {
			return s, true, nil
		}
	}
	return raft.Server{}, false, nil
}

// peerRemove takes a server out of the configuration (leader only). The
// leader removing itself hands leadership over first, then lets the new
// leader do it.
func (c *Cluster) peerRemove(ctx context.Context, r *http.Request, _ []byte) (any, error) {
	name := r.PathValue("name")
	if !c.isLeader() {
		return nil, &NotLeaderError{Leader: c.Leader()}
	}
	if _, ok, err := c.server(name); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: %s is not in the raft configuration", fsm.ErrNotFound, name)
	}
	if name == c.cfg.NodeName {
		if _, err := c.transfer(ctx, ""); err != nil {
			return nil, fmt.Errorf("remove the leader %s: hand leadership over first: %w", name, err)
		}
		return nil, &forwardAs{method: r.Method, path: r.URL.RequestURI(), handedOver: true}
	}
	c.removes.add(name, time.Now())
	if err := c.r().RemoveServer(raft.ServerID(name), 0, addVoterTimeout).Error(); err != nil {
		return nil, fmt.Errorf("remove %s: %w", name, raftErr(err))
	}
	c.log.Warn("removed from the raft configuration by operator request", "peer", name)
	res := RemoveResult{Removed: name, Notified: c.notifyRemoved(ctx, name)}
	return res, nil
}

// notifyRemoved tells a removed agent, if it answers, so it stops
// gossiping itself as a member and waits for a join.
func (c *Cluster) notifyRemoved(ctx context.Context, name string) bool {
	addr := c.httpAddrOf(name)
	if addr == "" {
		return false
	}
	b, _ := json.Marshal(RemovedNotice{By: c.cfg.NodeName})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.apiURL(addr, "/v1/internal/removed"), bytes.NewReader(b))
	if err != nil {
		return false
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.log.Info("removed agent did not answer; it learns of its removal when it restarts", "peer", name, "err", err)
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (c *Cluster) handleRemoved(w http.ResponseWriter, r *http.Request) {
	var n RemovedNotice
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err := decodeBody(body, &n); err != nil {
		writeError(w, err)
		return
	}
	if l := c.Leader(); l != "" && l != n.By && l != c.cfg.NodeName {
		writeError(w, fmt.Errorf("%w: removal notice from %s, but the leader is %s", errBadRequest, n.By, l))
		return
	}
	c.markRemoved("removed by the leader " + n.By + " (imh cluster remove)")
	writeJSON(w, http.StatusOK, struct{}{})
}

// transfer hands leadership to name (or raft's pick when empty) and waits
// until another leader is known.
func (c *Cluster) transfer(ctx context.Context, name string) (string, error) {
	f := c.r().LeadershipTransfer
	if name != "" {
		s, ok, err := c.server(name)
		if err != nil {
			return "", fmt.Errorf("leadership transfer: %w", err)
		}
		if !ok {
			return "", fmt.Errorf("%w: %s is not in the raft configuration", fsm.ErrNotFound, name)
		}
		if s.Suffrage != raft.Voter {
			return "", fmt.Errorf("%w: %s is not a voter", fsm.ErrInvalid, name)
		}
		f = func() raft.Future { return c.r().LeadershipTransferToServer(s.ID, s.Address) }
	}
	if err := f().Error(); err != nil {
		return "", fmt.Errorf("leadership transfer: %w", raftErr(err))
	}
	deadline := time.Now().Add(transferWait)
	for {
		if l := c.Leader(); l != "" && l != c.cfg.NodeName {
			return l, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w: leadership handed over, but no new leader is known after %v", ErrNoLeader, transferWait)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *Cluster) transferLeader(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req TransferRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
	}
	if !c.isLeader() {
		return nil, &NotLeaderError{Leader: c.Leader()}
	}
	if req.Name == c.cfg.NodeName {
		return TransferResult{Leader: c.cfg.NodeName}, nil
	}
	l, err := c.transfer(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	c.log.Info("leadership transferred by operator request", "to", l)
	return TransferResult{Leader: l}, nil
}

// transferBeforeStop hands leadership over when the leader stops (SIGTERM),
// so the cluster does not wait for an election timeout. The agent stays a
// voter: stopping agents never shrinks the configuration.
func (c *Cluster) transferBeforeStop() {
	if !c.isLeader() {
		return
	}
	if conf, err := c.configuration(); err != nil || len(conf.Servers) < 2 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTransferWait)
	defer cancel()
	start := time.Now()
	l, err := c.transfer(ctx, "")
	if err != nil {
		c.log.Warn("leadership transfer before stopping failed; the others elect a leader after the election timeout", "err", err)
		return
	}
	c.log.Info("leadership transferred before stopping", "to", l, "took", time.Since(start).Round(time.Millisecond))
}

func raftErr(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	return err
}

// handleSnapshotSave serves the leader's fsm snapshot (sealed keys only).
func (c *Cluster) handleSnapshotSave(w http.ResponseWriter, r *http.Request) {
	if !c.isLeader() {
		c.forward(w, r, r.Method, r.URL.RequestURI(), nil)
		return
	}
	if err := c.r().Barrier(barrierTimeout).Error(); err != nil {
		writeError(w, fmt.Errorf("snapshot: barrier: %w", raftErr(err)))
		return
	}
	b := c.macSnapshot(c.state.Snapshot())
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// CheckSnapshot decodes a snapshot file and checks that its sealed keys
// open under this cluster's secret (a snapshot of another cluster is
// refused before it replaces anything).
func (c *Cluster) CheckSnapshot(b []byte) (*fsm.State, error) {
	st := fsm.New()
	if err := st.Restore(b); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", errBadRequest, err)
	}
	for _, d := range st.Destinations() {
		for i, blob := range [][]byte{d.SealedKeys, d.SealedLeaseSetKey} {
			raw, err := c.keys.Open(blob, d.Hash(), fsm.SealedField(i+1))
			if err != nil {
				return nil, fmt.Errorf("%w: snapshot: keys of destination %s do not open under this cluster's secret (a snapshot of another cluster?)", errBadRequest, d.Name)
			}
			clear(raw)
		}
	}
	return st, nil
}

// handleSnapshotRestore replaces the whole replicated state with a saved
// snapshot, through raft's user restore on the leader (followers get it by
// InstallSnapshot). Meant for disaster recovery into a fresh cluster.
func (c *Cluster) handleSnapshotRestore(w http.ResponseWriter, r *http.Request) {
	b, err := c.spoolSnapshot(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	st, err := c.CheckSnapshot(b)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(st.Destinations()) == 0 {
		writeError(w, fmt.Errorf("%w: the snapshot holds no destination: restoring it would remove every one (remove them with imh dest remove instead)", errBadRequest))
		return
	}
	if !c.isLeader() {
		c.forward(w, r, r.Method, r.URL.RequestURI(), c.macSnapshot(b))
		return
	}
	if err := c.r().Barrier(barrierTimeout).Error(); err != nil {
		writeError(w, fmt.Errorf("restore: barrier: %w", raftErr(err)))
		return
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: int64(len(b))}
	if err := c.r().Restore(meta, bytes.NewReader(b), restoreTimeout); err != nil {
		writeError(w, fmt.Errorf("restore: %w", raftErr(err)))
		return
	}
	c.log.Warn("replicated state replaced by a restored snapshot (imh cluster snapshot restore)",
		"routers", len(st.Routers()), "frontends", len(st.Frontends()), "destinations", len(st.Destinations()))
	writeJSON(w, http.StatusOK, RestoreResult{Routers: len(st.Routers()), Frontends: len(st.Frontends()), Destinations: len(st.Destinations())})
}

// announce updates the raft address of a server of the configuration
// (leader only). Gossip does the same once it accepts the agent's new
// address, but after a crash it refuses the new address until it has
// declared the old one dead (seconds); this path does not wait for that.
// It never adds a server: that stays gossip's and the operator's job.
func (c *Cluster) announce(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var a Announce
	if err := decodeBody(body, &a); err != nil {
		return nil, err
	}
	if _, _, err := splitHostPort(a.RaftAddr); err != nil {
		return nil, fmt.Errorf("%w: raft address %q", errBadRequest, a.RaftAddr)
	}
	if !c.isLeader() {
		return nil, &NotLeaderError{Leader: c.Leader()}
	}
	s, ok, err := c.server(a.Name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s is not in the raft configuration", fsm.ErrNotFound, a.Name)
	}
	if s.Address == raft.ServerAddress(a.RaftAddr) {
		return struct{}{}, nil
	}
	c.log.Info("raft address changed (announced by the agent); updating the configuration", "peer", a.Name, "old", s.Address, "new", a.RaftAddr)
	if err := c.readdress(s, raft.ServerAddress(a.RaftAddr)); err != nil {
		return nil, fmt.Errorf("update %s: %w", a.Name, raftErr(err))
	}
	return struct{}{}, nil
}

// readdress gives a server of the configuration a new raft address and
// keeps its suffrage: a non-voter that moved stays a non-voter.
func (c *Cluster) readdress(s raft.Server, addr raft.ServerAddress) error {
	add := c.r().AddVoter
	if s.Suffrage != raft.Voter {
		add = c.r().AddNonvoter
	}
	return add(s.ID, addr, 0, addVoterTimeout).Error()
}

// promote makes a non-voter of the configuration a voter (imh cluster
// promote). Agents joining a running cluster are added as non-voters, so
// that a trial agent never raises the quorum by accident (issue 18): this
// is the one deliberate step. Promoting a voter is a no-op.
func (c *Cluster) promote(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var req PromoteRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	if err := fsm.ValidName(req.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	if !c.isLeader() {
		return nil, &NotLeaderError{Leader: c.Leader()}
	}
	s, ok, err := c.server(req.Name)
	if err != nil {
		return nil, fmt.Errorf("promote %s: %w", req.Name, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s is not in the raft configuration (start it with --join, or imh cluster join)", fsm.ErrNotFound, req.Name)
	}
	res := PromoteResult{Promoted: req.Name, Already: s.Suffrage == raft.Voter}
	if !res.Already {
		if err := c.r().AddVoter(s.ID, s.Address, 0, addVoterTimeout).Error(); err != nil {
			return nil, fmt.Errorf("promote %s: %w", req.Name, raftErr(err))
		}
		c.log.Info("promoted to voter by operator request", "peer", req.Name)
	}
	res.Voters = c.voterCount()
	if res.Voters%2 == 0 {
		c.log.Warn(EvenVotersWarning(res.Voters), "peer", req.Name, "voters", res.Voters)
	}
	return res, nil
}

// announceSelf tells the alive gossip members (one of which forwards to
// the leader) this agent's raft address, while it is in a cluster but
// knows no leader.
func (c *Cluster) announceSelf(ctx context.Context) {
	b, _ := json.Marshal(Announce{Name: c.cfg.NodeName, RaftAddr: string(c.localRaft)})
	for _, m := range c.members() {
		if m.Name == c.cfg.NodeName || m.Meta.HTTPAddr == "" {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, peerInfoTimeout)
		req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.apiURL(m.Meta.HTTPAddr, "/v1/internal/announce"), bytes.NewReader(b))
		if err == nil {
			var resp *http.Response
			if resp, err = c.client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					cancel()
					return
				}
			}
		}
		cancel()
	}
}

// voterCount is the number of voters in the latest configuration (0 when
// it cannot be read).
func (c *Cluster) voterCount() int {
	conf, err := c.configuration()
	if err != nil {
		return 0
	}
	n := 0
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			n++
		}
	}
	return n
}

// EvenVotersWarning is what the leader logs and the CLI prints when the
// cluster has an even number of voters: one more voter raised the quorum
// without tolerating one more failure.
func EvenVotersWarning(voters int) string {
	return fmt.Sprintf("%d voters: an even count tolerates no more failures than %d (quorum %d); add one more agent or take one out with imh cluster remove NAME",
		voters, voters-1, voters/2+1)
}

// flatError prints a multi-line error (memberlist's multierror: "1 error
// occurred:" and a bulleted list) on one line, for the API's error body.
type flatError struct{ err error }

func (f flatError) Unwrap() error { return f.err }

func (f flatError) Error() string {
	if f.err == nil {
		return "<nil>"
	}
	var parts []string
	for _, l := range strings.Split(f.err.Error(), "\n") {
		l = strings.TrimPrefix(strings.TrimSpace(l), "* ")
		if l != "" && !strings.HasSuffix(l, "occurred:") {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

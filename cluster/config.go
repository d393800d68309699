package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/internal/pki"
)

// Base raft timings, multiplied by Config.RaftMultiplier. They are tuned for
// fast failover on loopback or a LAN: a follower notices a dead leader after
// one to two heartbeat timeouts (raft randomises within [t, 2t)), then wins
// an election within about one election timeout. With the default
// multiplier 1 a new leader is usually up within 0.4 to 1.2 s. Raise the
// multiplier on slow or busy hosts (Consul's raft_multiplier works the
// same way) to trade failover time for fewer spurious elections.
const (
	BaseHeartbeatTimeout   = 400 * time.Millisecond
	BaseElectionTimeout    = 400 * time.Millisecond
	BaseLeaderLeaseTimeout = 200 * time.Millisecond
	BaseCommitTimeout      = 25 * time.Millisecond
	DefaultRaftMultiplier  = 1
	// MinDeadMemberCleanup is the shortest Config.DeadMemberCleanup allowed.
	MinDeadMemberCleanup = time.Minute
	// MinCleanupVoters: dead-member cleanup never leaves fewer voters.
	MinCleanupVoters  = 3
	maxRaftMultiplier = 10
)

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("cluster: invalid config")

// Peer names a server for a static bootstrap (tests without gossip).
type Peer struct {
	Name     string
	RaftAddr string
	HTTPAddr string
}

// Config is one agent's configuration. Each field that is a setting of
// `imh agent` carries its flag's name as its mapstructure tag (the key of
// the command's --config file), so that the command decodes its settings
// straight into a Config; the fields it builds itself (the secrets, TLS,
// the logger) and those of tests are tagged "-".
type Config struct {
	NodeName string `mapstructure:"node-name"`
	DataDir  string `mapstructure:"data-dir"` // raft log and snapshots; never holds the secret or plaintext keys

	RaftBind        string `mapstructure:"raft-bind"`      // TCP listen address of the raft transport
	RaftAdvertise   string `mapstructure:"raft-advertise"` // what peers dial; defaults to RaftBind's address
	GossipBind      string `mapstructure:"gossip-bind"`    // memberlist UDP+TCP listen address; "" disables gossip
	GossipAdvertise string `mapstructure:"gossip-advertise"`
	HTTPBind        string `mapstructure:"http-bind"`      // the API; loopback by default
	HTTPAdvertise   string `mapstructure:"http-advertise"` // what other agents use to forward writes here

	BootstrapExpect int      `mapstructure:"bootstrap-expect"` // bootstrap once this many agents found each other over gossip
	Join            []string `mapstructure:"join"`             // gossip addresses to join (may include this node and nodes not up yet)
	RaftMultiplier  int      `mapstructure:"raft-multiplier"`  // scales the Base* timings; 1 = fastest failover
	Secret          Secret   `mapstructure:"-"`
	// PreviousSecret is the secret the cluster used before Secret, given
	// during a rotation (docs/security.md): blobs and gossip under either
	// are accepted, and the one the replicated state names is used
	// (keyring.go). Zero outside a rotation.
	PreviousSecret Secret `mapstructure:"-"`

	// DeadMemberCleanup: the leader removes a voter that has been gone from
	// gossip (dead or left) for at least this long. 0 (the default) never
	// removes anyone on its own; otherwise at least MinDeadMemberCleanup,
	// so one failed probe or a restart never takes a node out. It never
	// shrinks the cluster below MinCleanupVoters voters.
	DeadMemberCleanup time.Duration `mapstructure:"dead-member-cleanup"`

	// TLS, when set, puts raft and the HTTP API under mutual TLS from the
	// cluster CA (auth.go, tlsstream.go); the certificate must be an
	// agent's. nil: plaintext (pki.CheckPlaintext allows that on loopback
	// only).
	TLS *pki.Store `mapstructure:"-"`

	Logger *slog.Logger `mapstructure:"-"`

	// Metrics, when set, serves GET /metrics on the API (Prometheus text
	// format; RunAgent builds it). It is a read endpoint like /v1/status:
	// under TLS a client or agent certificate is required (auth.go).
	Metrics http.Handler `mapstructure:"-"`

	// LeaderWork runs on the leader only, after a Barrier, exactly one at a
	// time: its context is cancelled when leadership is lost (or the agent
	// stops) and the cluster waits for it to return. If it returns an error
	// before that, it is logged and started again after a pause; when it
	// fails three times in a row, each within 10 s of its start (or the
	// Barrier fails three times), the leader hands leadership to another
	// voter, as consul does. nil: no work.
	LeaderWork func(ctx context.Context) error `mapstructure:"-"`

	// SnapshotThreshold and TrailingLogs tune raft's log compaction (0:
	// 1024 and 2048). Tests lower them to force InstallSnapshot.
	SnapshotThreshold uint64 `mapstructure:"-"`
	TrailingLogs      uint64 `mapstructure:"-"`

	// Test hooks (cluster/clustertest): replace the TCP transport and the
	// bolt/file stores, and bootstrap statically from Peers.
	Transport     raft.Transport     `mapstructure:"-"`
	LogStore      raft.LogStore      `mapstructure:"-"`
	StableStore   raft.StableStore   `mapstructure:"-"`
	SnapshotStore raft.SnapshotStore `mapstructure:"-"`
	Peers         []Peer             `mapstructure:"-"` // static bootstrap configuration (when no gossip)
	HTTPListener  net.Listener       `mapstructure:"-"` // used instead of listening on HTTPBind

	// deadMemberCleanupFloor replaces MinDeadMemberCleanup when set: tests
	// lower it (export_test.go) to watch a cleanup happen in seconds. A
	// field rather than a package variable, so that tests that lower it can
	// run in parallel with the others.
	deadMemberCleanupFloor time.Duration
}

// DefaultConfig returns the defaults of CLI.md: raft 127.0.0.1:7700, gossip
// 127.0.0.1:7701, HTTP 127.0.0.1:7702, multiplier 1.
func DefaultConfig() Config {
	return Config{
		RaftBind:       "127.0.0.1:7700",
		GossipBind:     "127.0.0.1:7701",
		HTTPBind:       "127.0.0.1:7702",
		RaftMultiplier: DefaultRaftMultiplier,
	}
}

// Validate checks the config and fills derivable fields.
func (c *Config) Validate() error {
	if err := fsm.ValidName(c.NodeName); err != nil {
		return fmt.Errorf("%w: node name: %w", ErrConfig, err)
	}
	if c.Secret.IsZero() {
		return fmt.Errorf("%w: no cluster secret (--secret-file, IMH_SECRET_FILE or IMH_SECRET; make one with imh keygen)", ErrConfig)
	}
	if c.PreviousSecret == c.Secret {
		return fmt.Errorf("%w: the previous secret is the current one (give --previous-secret-file only during a rotation, with the old secret)", ErrConfig)
	}
	if c.RaftMultiplier < 1 || c.RaftMultiplier > maxRaftMultiplier {
		return fmt.Errorf("%w: raft multiplier %d (want 1..%d)", ErrConfig, c.RaftMultiplier, maxRaftMultiplier)
	}
	floor := MinDeadMemberCleanup
	if c.deadMemberCleanupFloor > 0 {
		floor = c.deadMemberCleanupFloor
	}
	if c.DeadMemberCleanup < 0 || (c.DeadMemberCleanup != 0 && c.DeadMemberCleanup < floor) {
		return fmt.Errorf("%w: dead member cleanup %v (want 0 = off, or at least %v)", ErrConfig, c.DeadMemberCleanup, floor)
	}
	if c.BootstrapExpect < 0 {
		return fmt.Errorf("%w: bootstrap-expect %d", ErrConfig, c.BootstrapExpect)
	}
	if c.Transport == nil && c.DataDir == "" {
		return fmt.Errorf("%w: no data dir", ErrConfig)
	}
	if c.Transport == nil {
		if _, err := net.ResolveTCPAddr("tcp", c.RaftBind); err != nil {
			return fmt.Errorf("%w: raft bind %q: %w", ErrConfig, c.RaftBind, err)
		}
	}
	for name, a := range map[string]string{"gossip bind": c.GossipBind, "gossip advertise": c.GossipAdvertise,
		"raft advertise": c.RaftAdvertise, "http advertise": c.HTTPAdvertise} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("%w: %s %q: %w", ErrConfig, name, a, err)
		}
	}
	if c.HTTPListener == nil {
		if _, _, err := net.SplitHostPort(c.HTTPBind); err != nil {
			return fmt.Errorf("%w: http bind %q: %w", ErrConfig, c.HTTPBind, err)
		}
	}
	if c.TLS != nil && c.TLS.Identity().Role != pki.RoleAgent {
		return fmt.Errorf("%w: TLS certificate is %s, want an agent certificate", ErrConfig, c.TLS.Identity())
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// raftConfig builds raft's config from ours.
func (c *Config) raftConfig() *raft.Config {
	m := time.Duration(c.RaftMultiplier)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeName)
	rc.HeartbeatTimeout = BaseHeartbeatTimeout * m
	rc.ElectionTimeout = BaseElectionTimeout * m
	rc.LeaderLeaseTimeout = BaseLeaderLeaseTimeout * m
	rc.CommitTimeout = BaseCommitTimeout * m
	rc.SnapshotThreshold, rc.TrailingLogs = 1024, 2048
	if c.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = c.SnapshotThreshold
	}
	if c.TrailingLogs > 0 {
		rc.TrailingLogs = c.TrailingLogs
	}
	return rc
}

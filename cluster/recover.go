package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/internal/logging"
)

// ErrNoState: the data dir holds no raft state to recover from.
var ErrNoState = errors.New("cluster: no raft state in the data dir")

// ParsePeers parses "NAME=RAFTADDR,..." (imh cluster recover --peers).
func ParsePeers(s string) ([]Peer, error) {
	var out []Peer
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, addr, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%w: peer %q: want NAME=RAFTADDR", ErrConfig, part)
		}
		if err := fsm.ValidName(name); err != nil {
			return nil, fmt.Errorf("%w: peer %q: %w", ErrConfig, part, err)
		}
		if _, _, err := splitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%w: peer %q: raft address: %w", ErrConfig, part, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: peer %s named twice", ErrConfig, name)
		}
		seen[name] = true
		out = append(out, Peer{Name: name, RaftAddr: addr})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no peers", ErrConfig)
	}
	return out, nil
}

// Recover rewrites the raft configuration stored in dataDir to exactly
// peers, with raft.RecoverCluster, on a stopped agent. It is the way out
// when a majority is lost for good: start the agent(s) named in peers
// afterwards and they elect a leader among themselves; new agents then join
// as usual. Every node in peers must be recovered with the same list.
// Entries the lost majority committed but this node never received are
// gone for good (see docs/operations.md).
func Recover(dataDir string, peers []Peer, logger *slog.Logger) error {
	if logger == nil {
		logger = logging.Discard()
	}
	dir := filepath.Join(dataDir, "raft")
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoState, dir, err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{Timeout: time.Second},
	})
	if err != nil {
		return fmt.Errorf("open raft log %s (stop the agent first): %w", dir, err)
	}
	defer bolt.Close()
	hlog := logging.HCLog(logger, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hlog)
	if err != nil {
		return fmt.Errorf("raft snapshot store: %w", err)
	}
	var conf raft.Configuration
	for _, p := range peers {
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(p.Name), Address: raft.ServerAddress(p.RaftAddr), Suffrage: raft.Voter})
	}
	_, trans := raft.NewInmemTransport("")
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(peers[0].Name)
	rc.Logger = hlog
	if err := raft.RecoverCluster(rc, &raftFSM{s: fsm.New(), log: logger}, bolt, bolt, snaps, trans, conf); err != nil {
		return fmt.Errorf("recover %s: %w", dir, err)
	}
	return nil
}

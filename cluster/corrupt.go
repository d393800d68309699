package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// ErrCorrupt is returned, inside a *CorruptError, when the data dir holds a
// raft log or snapshot that does not open. Starting anyway would either
// crash later or, worse, silently drop the state the damaged file held, so
// the agent refuses to start and tells the operator how to rebuild the node.
var ErrCorrupt = errors.New("cluster: corrupt data dir")

// CorruptError names the damaged file and the recovery an operator runs.
type CorruptError struct {
	File string // the damaged file or snapshot directory
	Node string // this agent's name, for the recovery command
	Err  error  // what the reader found
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt data: %s: %v; recover: stop this agent, move its data dir aside "+
		"(mv %s %s.corrupt), run `imh cluster remove %s` against a healthy agent, then start this agent "+
		"again with an empty data dir and --join GOSSIPADDR (it catches up from the leader)",
		e.File, e.Err, e.dataDir(), e.dataDir(), e.Node)
}

// dataDir is the agent's --data-dir: two levels above raft/raft.db.
func (e *CorruptError) dataDir() string {
	d := filepath.Dir(e.File)
	for filepath.Base(d) != "raft" && d != filepath.Dir(d) {
		d = filepath.Dir(d)
	}
	return filepath.Dir(d)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Is lets callers test errors.Is(err, ErrCorrupt).
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// boltCorruption reports whether an error from opening raft.db means the
// file is damaged (rather than locked by another agent or unreadable).
func boltCorruption(err error) bool {
	return errors.Is(err, bbolt.ErrInvalid) || errors.Is(err, bbolt.ErrChecksum) ||
		errors.Is(err, bbolt.ErrVersionMismatch) || strings.Contains(err.Error(), "invalid database") ||
		strings.Contains(err.Error(), "file size too small")
}

// checkBolt reads all of raft.db once at start (the log is compacted,
// so this is small) to find damage the meta-page checksum misses.
func checkBolt(path string) (err error) {
	defer func() { // bbolt panics on some garbage pages instead of erring
		if r := recover(); r != nil {
			err = fmt.Errorf("bolt: %v", r)
		}
	}()
	// Read-write, as the real open: only that loads the freelist, where
	// garbage makes bbolt panic. Nothing is written without a commit.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if boltCorruption(err) {
			return err
		}
		return nil // locked or unreadable: the real open reports it
	}
	defer db.Close()
	return db.View(walkBolt)
}

// walkBolt reads every key of every bucket in this goroutine (bbolt's
// tx.Check panics on garbage pages in a goroutine no recover reaches).
func walkBolt(tx *bbolt.Tx) error {
	return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error { return nil })
	})
}

// checkSnapshots reads every snapshot's meta.json and checks its state file
// exists and has the recorded size. raft's file store skips a snapshot
// whose meta does not parse, which would silently start from an older
// state; a damaged state.bin fails our checksummed Restore later, but with
// a message that names neither the file nor the recovery.
func checkSnapshots(dir string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return dir, err
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		snap := filepath.Join(dir, "snapshots", e.Name())
		if err := checkSnapshot(snap); err != nil {
			return snap, err
		}
	}
	return "", nil
}

func checkSnapshot(snap string) error {
	b, err := os.ReadFile(filepath.Join(snap, "meta.json"))
	if err != nil {
		return fmt.Errorf("meta.json: %w", err)
	}
	var meta struct{ Size int64 }
	if err := json.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("meta.json: %w", err)
	}
	st, err := os.Stat(filepath.Join(snap, "state.bin"))
	if err != nil {
		return fmt.Errorf("state.bin: %w", err)
	}
	if st.Size() != meta.Size {
		return fmt.Errorf("state.bin: %d bytes, meta.json says %d", st.Size(), meta.Size)
	}
	return nil
}

// checkDataDir refuses a damaged raft.db or snapshot before raft reads
// them (see ErrCorrupt).
func (c *Cluster) checkDataDir(dir string) error {
	db := filepath.Join(dir, "raft.db")
	if _, err := os.Stat(db); err == nil {
		if err := checkBolt(db); err != nil {
			return &CorruptError{File: db, Node: c.cfg.NodeName, Err: err}
		}
	}
	if snap, err := checkSnapshots(dir); err != nil {
		return &CorruptError{File: snap, Node: c.cfg.NodeName, Err: err}
	}
	return nil
}

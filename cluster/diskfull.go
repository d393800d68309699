package cluster

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// ErrDataDirFull: the data dir is full (or out of quota, or read-only), so
// raft cannot store a log entry or its term. The agent keeps running and
// retries; writes fail (or, with no leader, wait) until space returns.
var ErrDataDirFull = errors.New("cluster: data dir full or read-only: free space in it (the agent resumes by itself)")

// diskFull reports whether err is one that more space (or a writable
// mount) cures, as opposed to corruption or a bug.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS)
}

// Pauses between retries of a raft state write on a full disk, and between
// two error logs saying the agent still waits.
const (
	diskRetryFirst = 100 * time.Millisecond
	diskRetryMax   = 2 * time.Second
	diskLogEvery   = 10 * time.Second
)

// diskStore sits between raft and raft-boltdb. It exists because raft
// panics when it cannot save its current term (setCurrentTerm): on a full
// disk a single agent would crash at its next election, and under a
// supervisor crash again after every restart. diskStore instead retries
// term and vote writes until they succeed, logging why, so this raft node
// stalls (as a frozen node would; the others go on) and resumes by itself
// once space returns. Log writes are not retried: raft handles their
// failure (a leader steps down, a follower refuses the entries); diskStore
// only remembers the error so Apply can name the cause.
type diskStore struct {
	raft.LogStore
	raft.StableStore
	dir string
	log *slog.Logger

	full      atomic.Pointer[error] // the last disk-full error, nil once a write succeeds
	waiting   atomic.Bool           // a term or vote write is blocked on the disk
	closeOnce sync.Once
	closed    chan struct{}
}

func newDiskStore(logs raft.LogStore, stable raft.StableStore, dir string, log *slog.Logger) *diskStore {
	return &diskStore{LogStore: logs, StableStore: stable, dir: dir, log: log, closed: make(chan struct{})}
}

// err is the disk-full error of the latest write, or nil.
func (s *diskStore) err() error {
	if p := s.full.Load(); p != nil {
		return *p
	}
	return nil
}

// note records the outcome of a write and passes err on.
func (s *diskStore) note(err error) error {
	switch {
	case err == nil:
		if s.full.Swap(nil) != nil {
			s.log.Info("data dir writable again", "dir", s.dir)
		}
	case diskFull(err):
		if s.full.Swap(&err) == nil {
			s.log.Error("data dir full or read-only: raft cannot write; writes fail until space returns", "dir", s.dir, "err", err)
		}
	}
	return err
}

func (s *diskStore) StoreLog(l *raft.Log) error    { return s.note(s.LogStore.StoreLog(l)) }
func (s *diskStore) StoreLogs(l []*raft.Log) error { return s.note(s.LogStore.StoreLogs(l)) }
func (s *diskStore) DeleteRange(lo, hi uint64) error {
	return s.note(s.LogStore.DeleteRange(lo, hi))
}

func (s *diskStore) Set(k, v []byte) error {
	return s.untilWritten(string(k), func() error { return s.StableStore.Set(k, v) })
}

func (s *diskStore) SetUint64(k []byte, v uint64) error {
	return s.untilWritten(string(k), func() error { return s.StableStore.SetUint64(k, v) })
}

// untilWritten runs write until it succeeds or fails for a reason other
// than a full disk. Once the agent shuts down it never returns a disk-full
// error (raft would panic on it): it blocks, and the process exits around it
// (close tells closeAll not to wait for raft).
func (s *diskStore) untilWritten(key string, write func() error) error {
	err := s.note(write())
	if err == nil || !diskFull(err) {
		return err
	}
	s.waiting.Store(true)
	defer s.waiting.Store(false)
	start, logged, pause := time.Now(), time.Now(), diskRetryFirst
	for {
		select {
		case <-s.closed:
			select {} // see above: the process is exiting
		case <-time.After(pause):
		}
		if err = s.note(write()); err == nil || !diskFull(err) {
			s.log.Info("raft state saved after waiting for space", "dir", s.dir, "key", key, "waited", time.Since(start).Round(time.Millisecond))
			return err
		}
		pause = min(2*pause, diskRetryMax)
		if time.Since(logged) >= diskLogEvery {
			s.log.Error("data dir still full or read-only: raft waits to save its state", "dir", s.dir, "key", key, "waited", time.Since(start).Round(time.Second), "err", err)
			logged = time.Now()
		}
	}
}

// close marks the agent as shutting down and reports whether raft is
// blocked on the disk (then raft.Shutdown would never return).
func (s *diskStore) close() (stuck bool) {
	s.closeOnce.Do(func() { close(s.closed) })
	return s.waiting.Load()
}

// diskErr is this agent's disk-full error when it explains why an Apply
// failed: anything but a refusal that names another leader to forward to.
func (c *Cluster) diskErr(applyErr error) error {
	if c.disk == nil {
		return nil
	}
	derr := c.disk.err()
	if derr == nil || errors.Is(applyErr, raft.ErrNotLeader) && c.Leader() != "" {
		return nil
	}
	return derr
}

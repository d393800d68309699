package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/raft"
)

// fullStable fails every write with ENOSPC (wrapped as bbolt does) while
// full is set.
type fullStable struct {
	raft.StableStore
	full   atomic.Bool
	writes atomic.Int32
}

func (f *fullStable) SetUint64(k []byte, v uint64) error {
	f.writes.Add(1)
	if f.full.Load() {
		return fmt.Errorf("write raft.db: %w", syscall.ENOSPC)
	}
	return f.StableStore.SetUint64(k, v)
}

// TestDiskStoreWaitsForSpace: a term write on a full disk blocks (raft
// would panic on its error) and completes once space returns; the error is
// remembered for Apply while the disk is full and forgotten after.
func TestDiskStoreWaitsForSpace(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		inner := &fullStable{StableStore: raft.NewInmemStore()}
		inner.full.Store(true)
		s := newDiskStore(raft.NewInmemStore(), inner, "/data", slog.New(slog.DiscardHandler))
		done := make(chan error, 1)
		go func() { done <- s.SetUint64([]byte("CurrentTerm"), 7) }()
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("SetUint64 returned %v on a full disk, want it to wait", err)
		default:
		}
		if !errors.Is(s.err(), syscall.ENOSPC) || !s.waiting.Load() || inner.writes.Load() < 10 {
			t.Fatalf("while full: err %v, waiting %v, %d writes", s.err(), s.waiting.Load(), inner.writes.Load())
		}
		inner.full.Store(false)
		if err := <-done; err != nil {
			t.Fatalf("SetUint64 after space returned: %v", err)
		}
		if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 || s.err() != nil || s.waiting.Load() {
			t.Fatalf("after: term %d %v, err %v, waiting %v", v, err, s.err(), s.waiting.Load())
		}
	})
}

// TestDiskStoreOtherErrors: an error that space does not cure is returned
// at once and not taken for a full disk.
func TestDiskStoreOtherErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		full bool
	}{
		{fmt.Errorf("write: %w", syscall.ENOSPC), true},
		{fmt.Errorf("write: %w", syscall.EDQUOT), true},
		{fmt.Errorf("write: %w", syscall.EROFS), true},
		{fmt.Errorf("write: %w", syscall.EIO), false},
		{errors.New("database not open"), false},
	} {
		if got := diskFull(tt.err); got != tt.full {
			t.Errorf("diskFull(%v) = %v, want %v", tt.err, got, tt.full)
		}
	}
	s := newDiskStore(raft.NewInmemStore(), raft.NewInmemStore(), "/data", slog.New(slog.DiscardHandler))
	if err := s.note(syscall.EIO); err != syscall.EIO || s.err() != nil {
		t.Fatalf("EIO: %v, remembered %v", err, s.err())
	}
}

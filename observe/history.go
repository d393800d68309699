package observe

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/imh-project/imh/i2p"
)

// MaxHistoryBytes bounds what ReadHistory reads: a day of LeaseSets at one
// store every 10 s is about 9,000 stores of under 2 KiB of base64 each.
const MaxHistoryBytes = 256 << 20

// ErrEmptyHistory is returned for a history without a single store: there
// is nothing an observer could have seen.
var ErrEmptyHistory = errors.New("history has no stores")

// History is one run as an observer records it.
type History struct {
	// Run names the run, e.g. "single-a" or "imh-spread".
	Run string `json:"run"`
	// Seed, Routers and Hours say how the run was made (informative).
	Seed    uint64  `json:"seed"`
	Routers int     `json:"routers"`
	Hours   float64 `json:"hours"`
	// Stores are the LeaseSets stored, in store order.
	Stores []Store `json:"stores"`
}

// Store is one LeaseSet2 as a floodfill stored it.
type Store struct {
	// AtMillis is when it was stored, Unix milliseconds (of the simulated
	// clock for simulated runs).
	AtMillis int64 `json:"at_ms"`
	// LeaseSet is the LeaseSet2 in I2P base64 exactly as stored:
	// Destination first, no store-type byte.
	LeaseSet string `json:"leaseset"`
}

// At is the store's time.
func (s Store) At() time.Time { return time.UnixMilli(s.AtMillis).UTC() }

// Parse decodes and verifies the stored LeaseSet2.
func (s Store) Parse() (*i2p.LeaseSet2, error) {
	b, err := i2p.Base64.DecodeString(s.LeaseSet)
	if err != nil {
		return nil, fmt.Errorf("leaseset base64: %w", err)
	}
	ls, err := i2p.ParseLeaseSet2(b)
	if err != nil {
		return nil, err
	}
	if err := ls.Verify(); err != nil {
		return nil, err
	}
	return ls, nil
}

// NewStore records ls stored at at.
func NewStore(at time.Time, ls *i2p.LeaseSet2) (Store, error) {
	b, err := ls.MarshalBinary()
	if err != nil {
		return Store{}, err
	}
	return Store{AtMillis: at.UnixMilli(), LeaseSet: i2p.Base64.EncodeToString(b)}, nil
}

// ReadHistory reads a history file and checks it: stores in time order and
// every LeaseSet decodes and verifies.
func ReadHistory(path string) (*History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	h, err := DecodeHistory(f)
	if err != nil {
		return nil, fmt.Errorf("read history %s: %w", path, err)
	}
	return h, nil
}

// DecodeHistory is ReadHistory for a reader (at most MaxHistoryBytes).
func DecodeHistory(r io.Reader) (*History, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxHistoryBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxHistoryBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxHistoryBytes)
	}
	var h History
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("not a history: %w", err)
	}
	if len(h.Stores) == 0 {
		return nil, ErrEmptyHistory
	}
	for i, s := range h.Stores {
		if i > 0 && s.AtMillis < h.Stores[i-1].AtMillis {
			return nil, fmt.Errorf("store %d: at %d before the store before it", i, s.AtMillis)
		}
		if _, err := s.Parse(); err != nil {
			return nil, fmt.Errorf("store %d: %w", i, err)
		}
	}
	return &h, nil
}

// WriteHistory writes h as indented JSON to path (created or replaced).
func WriteHistory(path string, h *History) error {
	b, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

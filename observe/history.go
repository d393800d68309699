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

// ReadAnalyzeInput reads the history files `imh leaseset analyze`
// compares: a and b, and floor, which is none (the floor is then
// estimated from the halves of b), two files (FloorA and FloorB) or three
// or more (a Population). Each history is named by its path; the files
// are read in that order and the first error (ReadHistory's) is returned.
func ReadAnalyzeInput(a, b string, floor []string, windows WindowConfig) (AnalyzeInput, error) {
	in := AnalyzeInput{NameA: a, NameB: b, Windows: windows}
	if len(floor) == 1 {
		return in, fmt.Errorf("floor: want two or more histories, got 1")
	}
	hs := make([]*History, 0, 2+len(floor))
	for _, path := range append([]string{a, b}, floor...) {
		h, err := ReadHistory(path)
		if err != nil {
			return in, err
		}
		hs = append(hs, h)
	}
	in.A, in.B = hs[0], hs[1]
	switch {
	case len(floor) == 2:
		in.FloorNameA, in.FloorNameB = floor[0], floor[1]
		in.FloorA, in.FloorB = hs[2], hs[3]
	case len(floor) > 2:
		in.PopulationNames = floor
		in.Population = hs[2:]
	}
	return in, nil
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

package observe_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/observe"
	"github.com/imh-project/imh/observe/observetest"
)

// TestHistoryRoundTrip writes a history and reads it back unchanged.
func TestHistoryRoundTrip(t *testing.T) {
	h := synth(t, observetest.Synth{Seed: 1, Pool: 20, Tunnels: 3, Hours: 0.5})
	path := filepath.Join(t.TempDir(), "h.json")
	if err := observe.WriteHistory(path, h); err != nil {
		t.Fatal(err)
	}
	got, err := observe.ReadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("read back a different history")
	}
	ls, err := got.Stores[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Leases) != 3 {
		t.Fatalf("first store has %d leases, want 3", len(ls.Leases))
	}
	if at := got.Stores[0].At(); at.Before(observetest.Start) || at.After(observetest.Start.Add(time.Second)) {
		t.Fatalf("first store at %s", at)
	}
}

// TestDecodeHistoryMalformed checks every way a history file can be wrong
// gives an error (and no panic).
func TestDecodeHistoryMalformed(t *testing.T) {
	h := synth(t, observetest.Synth{Seed: 2, Pool: 20, Tunnels: 3, Hours: 0.3})
	good := h.Stores[0]
	tampered := func() observe.Store {
		b, _ := i2p.Base64.DecodeString(good.LeaseSet)
		b[len(b)-1] ^= 1 // the signature's last byte
		return observe.Store{AtMillis: good.AtMillis, LeaseSet: i2p.Base64.EncodeToString(b)}
	}()
	truncated := observe.Store{AtMillis: good.AtMillis, LeaseSet: good.LeaseSet[:len(good.LeaseSet)/2/4*4]}
	enc := func(stores ...observe.Store) string {
		b, err := json.Marshal(observe.History{Run: "x", Stores: stores})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	later := h.Stores[1]
	for _, tc := range []struct {
		name, in string
		want     error  // errors.Is, when set
		contains string // in the message otherwise
	}{
		{"empty input", "", nil, "not a history"},
		{"not json", "leaseset", nil, "not a history"},
		{"wrong type", `{"stores": 3}`, nil, "not a history"},
		{"no stores", `{"run": "x", "stores": []}`, observe.ErrEmptyHistory, ""},
		{"stores missing", `{"run": "x"}`, observe.ErrEmptyHistory, ""},
		{"bad base64", enc(observe.Store{AtMillis: 1, LeaseSet: "!!!"}), nil, "store 0: leaseset base64"},
		{"not a leaseset", enc(observe.Store{AtMillis: 1, LeaseSet: i2p.Base64.EncodeToString([]byte("hello world!"))}), i2p.ErrBadLeaseSet, ""},
		{"truncated", enc(truncated), nil, "store 0"},
		{"bad signature", enc(tampered), nil, "store 0"},
		{"out of order", enc(later, good), nil, "before the store before it"},
		{"second store bad", enc(good, tampered), nil, "store 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := observe.DecodeHistory(strings.NewReader(tc.in))
			switch {
			case err == nil:
				t.Fatal("decoded")
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("error %v, want %v", err, tc.want)
			case tc.contains != "" && !strings.Contains(err.Error(), tc.contains):
				t.Fatalf("error %q, want it to contain %q", err, tc.contains)
			}
		})
	}
}

// TestReadHistoryMissing: a missing file is an error naming the cause.
// (The size limit is not tested: it takes reading 256 MiB.)
func TestReadHistoryMissing(t *testing.T) {
	if _, err := observe.ReadHistory(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// FuzzDecodeHistory: any input gives a history or an error, never a
// panic, and a decoded history's features can be extracted without one.
func FuzzDecodeHistory(f *testing.F) {
	h := synth(f, observetest.Synth{Seed: 3, Pool: 20, Tunnels: 2, Hours: 0.2})
	b, err := json.Marshal(h)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"stores":[{"at_ms":1,"leaseset":"AAAA"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := observe.DecodeHistory(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(h.Stores) == 0 {
			t.Fatal("decoded a history without stores")
		}
		_, _ = observe.Extract(h, observe.WindowConfig{Window: time.Minute, Step: time.Second})
	})
}

// TestReadAnalyzeInput: the files of `imh leaseset analyze` become the
// input Analyze takes, named by their paths: two floor files are FloorA
// and FloorB, three or more a Population; the first unreadable file is
// the error.
func TestReadAnalyzeInput(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 5 {
		p := filepath.Join(dir, string(rune('a'+i))+".json")
		if err := observe.WriteHistory(p, synth(t, observetest.Synth{Seed: uint64(30 + i), Pool: 20, Tunnels: 5, Hours: 1})); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	w := observe.DefaultWindowConfig()
	in, err := observe.ReadAnalyzeInput(paths[0], paths[1], nil, w)
	if err != nil || in.A == nil || in.B == nil || in.NameA != paths[0] || in.NameB != paths[1] || in.FloorA != nil || in.Population != nil || in.Windows != w {
		t.Fatalf("no floor: %+v, %v", in, err)
	}
	in, err = observe.ReadAnalyzeInput(paths[0], paths[1], paths[2:4], w)
	if err != nil || in.FloorA == nil || in.FloorB == nil || in.FloorNameA != paths[2] || in.FloorNameB != paths[3] || in.Population != nil {
		t.Fatalf("two floor files: %+v, %v", in, err)
	}
	in, err = observe.ReadAnalyzeInput(paths[0], paths[1], paths[2:], w)
	if err != nil || in.FloorA != nil || len(in.Population) != 3 || !reflect.DeepEqual(in.PopulationNames, paths[2:]) {
		t.Fatalf("a population: %+v, %v", in, err)
	}
	missing := filepath.Join(dir, "missing.json")
	if _, err := observe.ReadAnalyzeInput(paths[0], paths[1], []string{paths[2], missing, "other-missing.json"}, w); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a missing floor file: %v", err)
	}
	if _, err := observe.ReadAnalyzeInput(paths[0], paths[1], paths[2:3], w); err == nil {
		t.Fatal("one floor file accepted")
	}
}

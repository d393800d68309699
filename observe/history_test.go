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

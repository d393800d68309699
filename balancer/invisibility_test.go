package balancer

import (
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/observe"
	"github.com/imh-project/imh/observe/observetest"
)

// lsBytes signs a LeaseSet of one lease per gateway byte, published at.
func lsBytes(t *testing.T, at time.Time, gws ...byte) []byte {
	t.Helper()
	k, x, err := observetest.Keys(3)
	if err != nil {
		t.Fatal(err)
	}
	var leases []i2p.Lease2
	for i, g := range gws {
		leases = append(leases, i2p.Lease2{Gateway: i2p.Hash{g}, TunnelID: uint32(i + 1), End: uint32(at.Add(9 * time.Minute).Unix())})
	}
	s, err := observetest.SignedStore(k, x, at, uint32(at.Unix()), leases)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := i2p.Base64.DecodeString(s.LeaseSet)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestPublishHistoryBounds: the history keeps what the windows need (2 h
// and the store in force before them), keeps store order when the clock
// steps back, and never grows past maxHistory.
func TestPublishHistoryBounds(t *testing.T) {
	t0 := time.Unix(1_790_000_000, 0)
	raw := lsBytes(t, t0, 1, 2)
	for _, tc := range []struct {
		name      string
		at        []time.Duration // offsets from t0, in record order
		wantLen   int
		wantFirst time.Duration
	}{
		{"young", []time.Duration{0, time.Minute}, 2, 0},
		{"old stores dropped, the one in force kept", []time.Duration{0, time.Minute, 2 * time.Minute, 125 * time.Minute}, 2, 2 * time.Minute},
		{"clock stepped back", []time.Duration{time.Minute, 0}, 2, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h publishHistory
			for _, off := range tc.at {
				h.record(t0.Add(off), raw)
			}
			if len(h.stores) != tc.wantLen || h.stores[0].AtMillis != t0.Add(tc.wantFirst).UnixMilli() {
				t.Fatalf("%d stores from %d, want %d from %d", len(h.stores), h.stores[0].AtMillis, tc.wantLen, t0.Add(tc.wantFirst).UnixMilli())
			}
			for i := 1; i < len(h.stores); i++ {
				if h.stores[i].AtMillis < h.stores[i-1].AtMillis {
					t.Fatalf("store %d before the one before it", i)
				}
			}
		})
	}
	var h publishHistory
	for i := range maxHistory + 10 {
		h.record(t0.Add(time.Duration(i)*time.Second), raw)
	}
	if len(h.stores) != maxHistory {
		t.Fatalf("%d stores, want at most %d", len(h.stores), maxHistory)
	}
}

// TestInvisibilityLive: figures come from what was published, are cached
// between publications for invisibilityEvery, and an unusable history is
// reported, not hidden.
func TestInvisibilityLive(t *testing.T) {
	t0 := time.Unix(1_790_000_000, 0)
	var h publishHistory
	if h.invisibility(t0, 12) != nil {
		t.Fatal("figures before the first LeaseSet")
	}
	h.record(t0, lsBytes(t, t0, 1, 2, 3))
	h.record(t0.Add(5*time.Minute), lsBytes(t, t0.Add(5*time.Minute), 1, 2, 4))
	now := t0.Add(10 * time.Minute)
	inv := h.invisibility(now, 3)
	if inv == nil || inv.Error != "" {
		t.Fatalf("figures %+v", inv)
	}
	if inv.WindowMs != time.Hour.Milliseconds() || inv.SpanMs != (10*time.Minute).Milliseconds()+1 || inv.Stores != 2 {
		t.Errorf("window %d span %d stores %d", inv.WindowMs, inv.SpanMs, inv.Stores)
	}
	got := map[string]float64{}
	for _, f := range inv.Features {
		if f.Value != nil {
			got[f.Name] = *f.Value
		}
	}
	if got["gateway_set"] != 4 || got["lease_count"] != 3 {
		t.Errorf("gateway_set %v lease_count %v, want 4 and 3", got["gateway_set"], got["lease_count"])
	}
	if len(inv.Features) != len(observe.Features) {
		t.Errorf("%d features, want %d", len(inv.Features), len(observe.Features))
	}
	if again := h.invisibility(now.Add(time.Second), 3); again != inv {
		t.Error("recomputed within invisibilityEvery without a publication")
	}
	h.record(now.Add(2*time.Second), lsBytes(t, now, 5))
	if again := h.invisibility(now.Add(3*time.Second), 3); again == inv {
		t.Error("not recomputed after a publication")
	}
	bad := Invisibility([]observe.Store{{AtMillis: t0.UnixMilli(), LeaseSet: "!!"}}, now, 3)
	if bad.Error == "" || len(bad.Features) != 0 {
		t.Errorf("a broken history gives %+v", bad)
	}
}

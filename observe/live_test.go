package observe_test

import (
	"testing"
	"time"

	"github.com/imh-project/imh/observe"
	"github.com/imh-project/imh/observe/observetest"
)

// TestRecent: the live figures of the last window, put against one
// router's range, on hand-built histories whose figures are known.
func TestRecent(t *testing.T) {
	k, x, err := observetest.Keys(7)
	if err != nil {
		t.Fatal(err)
	}
	t0 := observetest.Start
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	end := uint32(t0.Add(3 * time.Hour).Unix())
	// Two stores 10 minutes apart through 3 then 4 gateways.
	two := []observe.Store{
		store(t, k, x, at(0), leaseOf{1, 1, end}, leaseOf{2, 2, end}, leaseOf{3, 3, end}),
		store(t, k, x, at(10), leaseOf{1, 1, end}, leaseOf{2, 2, end}, leaseOf{4, 4, end}),
	}
	for _, tc := range []struct {
		name     string
		stores   []observe.Store
		end      time.Time
		leases   int
		span     time.Duration
		want     map[string]float64 // value of a feature; NaN-free
		verdicts map[string]string
	}{
		{
			name: "young history: window cut to the first store", stores: two, end: at(20), leases: 3,
			span: 20 * time.Minute,
			want: map[string]float64{"gateway_set": 4, "lease_count": 3, "stores_per_10m": 1, "max_gap": 600},
			verdicts: map[string]string{"gateway_set": observe.LiveAtypical, "lease_count": observe.LiveTypical,
				"gateway_churn": observe.LiveUnknown, "stores_per_10m": observe.LiveAtypical},
		},
		{
			name: "older history: the last hour only, the store in force counts", stores: two, end: at(130), leases: 12,
			span: time.Hour,
			want: map[string]float64{"gateway_set": 3, "lease_count": 3, "stores_per_10m": 0, "max_gap": 3600, "gateway_churn": 0},
			verdicts: map[string]string{"lease_count": observe.LiveAtypical, "gateway_churn": observe.LiveTypical,
				"store_interval": observe.LiveUnknown},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := observe.Recent(observe.RecentInput{Stores: tc.stores, End: tc.end, Window: time.Hour, Leases: tc.leases})
			if err != nil {
				t.Fatal(err)
			}
			if r.Span != tc.span {
				t.Errorf("span %s, want %s", r.Span, tc.span)
			}
			if len(r.Figures) != len(observe.Features) {
				t.Fatalf("%d figures, want one per feature (%d)", len(r.Figures), len(observe.Features))
			}
			atypical := 0
			for _, f := range r.Figures {
				if f.Verdict == observe.LiveAtypical {
					atypical++
				}
				if w, ok := tc.want[f.Name]; ok && (f.Value == nil || *f.Value != w) {
					t.Errorf("%s: value %v, want %v", f.Name, f.Value, w)
				}
				if w, ok := tc.verdicts[f.Name]; ok && f.Verdict != w {
					t.Errorf("%s: verdict %s, want %s (value %v, range %+v)", f.Name, f.Verdict, w, f.Value, f.Single)
				}
			}
			if atypical != r.Atypical {
				t.Errorf("Atypical %d, %d figures say atypical", r.Atypical, atypical)
			}
		})
	}
}

// TestRecentErrors: nothing to measure is an error, not a zero.
func TestRecentErrors(t *testing.T) {
	k, x, err := observetest.Keys(7)
	if err != nil {
		t.Fatal(err)
	}
	s := store(t, k, x, observetest.Start, leaseOf{1, 1, 1})
	for _, tc := range []struct {
		name string
		in   observe.RecentInput
	}{
		{"no stores", observe.RecentInput{End: observetest.Start, Window: time.Hour}},
		{"no window", observe.RecentInput{Stores: []observe.Store{s}, End: observetest.Start.Add(time.Minute)}},
		{"end before the first store", observe.RecentInput{Stores: []observe.Store{s}, End: observetest.Start, Window: time.Hour}},
	} {
		if _, err := observe.Recent(tc.in); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

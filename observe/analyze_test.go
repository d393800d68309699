package observe_test

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/golden"
	"github.com/imh-project/imh/observe"
	"github.com/imh-project/imh/observe/observetest"
)

// TestAdvantage checks the KS statistic against hand-computed values.
func TestAdvantage(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []float64
		want float64
		ok   bool
	}{
		{"empty a", nil, []float64{1}, 0, false},
		{"empty b", []float64{1}, nil, 0, false},
		{"identical", []float64{1, 2, 3}, []float64{3, 2, 1}, 0, true},
		{"one value each, equal", []float64{5}, []float64{5}, 0, true},
		{"separable", []float64{1, 2, 3}, []float64{4, 5, 6}, 1, true},
		{"separable, reversed", []float64{10, 11}, []float64{1, 2, 3}, 1, true},
		// t=1: a above 2/3, b above 1 -> 1/3; t=2: 1/3 vs 2/3 -> 1/3;
		// t=3: 0 vs 1/3 -> 1/3. Best 1/3.
		{"interleaved", []float64{1, 2, 3}, []float64{1.5, 2.5, 3.5}, 1.0 / 3, true},
		// t=1: a above 3/4, b above 1 -> 1/4; t=2: 1/4 vs 3/4 -> 1/2;
		// t=3: 0 vs 1/4 -> 1/4; t=4: 0 vs 0.
		{"ties", []float64{1, 2, 2, 3}, []float64{2, 3, 3, 4}, 1.0 / 2, true},
		// a = {0,0,1}, b = {0,1,1}: t=0: 1/3 vs 2/3 -> 1/3.
		{"ties across samples", []float64{0, 0, 1}, []float64{1, 0, 1}, 1.0 / 3, true},
		// different sizes: a={1,2}, b={1,2,3,4}: t=2: 0 vs 1/2 -> 1/2.
		{"different sizes", []float64{1, 2}, []float64{1, 2, 3, 4}, 0.5, true},
		{"negative values", []float64{-3, -2}, []float64{-1, 0}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := observe.Advantage(tc.a, tc.b)
			if ok != tc.ok || math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("observe.Advantage = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
			if back, _ := observe.Advantage(tc.b, tc.a); math.Abs(back-got) > 1e-12 {
				t.Fatalf("not symmetric: %v then %v", got, back)
			}
		})
	}
	a := []float64{3, 1, 2}
	observe.Advantage(a, []float64{0})
	if a[0] != 3 || a[1] != 1 {
		t.Fatal("observe.Advantage reordered its input")
	}
}

// TestWindowConfigValidate covers the window rules.
func TestWindowConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c  observe.WindowConfig
		ok bool
	}{
		{observe.DefaultWindowConfig(), true},
		{observe.WindowConfig{Window: time.Hour, Step: time.Hour}, true},
		{observe.WindowConfig{Window: 0, Step: time.Minute}, false},
		{observe.WindowConfig{Window: time.Hour, Step: 0}, false},
		{observe.WindowConfig{Window: time.Hour, Step: -time.Minute}, false},
		{observe.WindowConfig{Window: time.Minute, Step: time.Hour}, false},
		{observe.WindowConfig{Window: time.Hour, Step: time.Microsecond}, false},
	} {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v", tc.c, err)
		}
	}
}

// TestFeaturesHandBuilt checks each feature on a tiny history whose values
// are worked out by hand: 10-minute windows sliding by 5, stores at 0, 4,
// 8 and 20 minutes.
func TestFeaturesHandBuilt(t *testing.T) {
	k, x, err := observetest.Keys(7)
	if err != nil {
		t.Fatal(err)
	}
	t0 := observetest.Start
	at := func(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }
	l := func(g byte, id uint32, endMin float64) leaseOf { return leaseOf{g, id, uint32(at(endMin).Unix())} }
	h := &observe.History{Stores: []observe.Store{
		store(t, k, x, at(0), l(1, 1, 10), l(2, 2, 9)),                           // A
		store(t, k, x, at(4), l(1, 1, 10), l(3, 3, 14)),                          // B: 1 of 2 new
		store(t, k, x, at(8), l(2, 2, 9), l(3, 3, 14), l(4, 4, 18), l(3, 7, 16)), // C: 3/4 new, 1 returned, 1 through gateway 3 again
		store(t, k, x, at(20), l(5, 5, 30)),                                      // D: all new
	}}
	s, err := observe.Extract(h, observe.WindowConfig{Window: 10 * time.Minute, Step: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Windows: [0,10) sees A B C, stores A B C; [5,15) sees B C; [10,20)
	// sees C (no store inside). [15,25) would end after the last store.
	want := map[string][]float64{
		"gateway_set":    {4, 4, 3},
		"gateway_churn":  {0 + 6*0}, // [10,20) vs [0,10): {2,3,4} all seen before
		"lease_count":    {(2.0 + 2 + 4) / 3, 3, 4},
		"end_spread":     {(60.0 + 240 + 540) / 3, (240.0 + 540) / 2, 540},
		"expires_offset": {(600.0 + 600 + 600) / 3, 600, 600},
		"lease_turnover": {(0.5 + 0.75) / 2, 0.75},
		"lease_return":   {(0 + 0.25) / 2, 0.25},
		"gateway_reuse":  {(0 + 0.25) / 2, 0.25},
		"max_replaced":   {0.75, 0.75},
		"stores_per_10m": {3, 1, 0},
		"store_interval": {240, 240},
		"max_gap":        {240, 420, 600},
		// lease ends minus published: A (600+540)/2, B (360+600)/2,
		// C (60+360+600+480)/4
		"lease_remaining": {(570.0 + 480 + 375) / 3, (480.0 + 375) / 2, 375},
	}
	for _, f := range s {
		w, ok := want[f.Feature]
		if !ok {
			t.Errorf("feature %s not checked", f.Feature)
			continue
		}
		if len(w) != len(f.Values) {
			t.Errorf("%s = %v, want %v", f.Feature, f.Values, w)
			continue
		}
		for i := range w {
			if math.Abs(w[i]-f.Values[i]) > 1e-9 {
				t.Errorf("%s = %v, want %v", f.Feature, f.Values, w)
				break
			}
		}
	}
	if _, err := observe.Extract(h, observe.WindowConfig{Window: time.Hour, Step: time.Minute}); err == nil {
		t.Error("a 20-minute history gave 1-hour windows")
	}
}

// TestAnalyzeKnownDifference: over a day, gateways drawn from 20 peers
// against 80 are told apart on the gateway features; two runs of the same
// generator are not.
func TestAnalyzeKnownDifference(t *testing.T) {
	c := observe.DefaultWindowConfig()
	twenty := synth(t, observetest.Synth{Seed: 1, Pool: 20, Tunnels: 5, Hours: 24})
	eighty := synth(t, observetest.Synth{Seed: 2, Pool: 80, Tunnels: 5, Hours: 24})
	other := synth(t, observetest.Synth{Seed: 3, Pool: 20, Tunnels: 5, Hours: 24})
	fourth := synth(t, observetest.Synth{Seed: 4, Pool: 20, Tunnels: 5, Hours: 24})

	r, err := observe.Analyze(observe.AnalyzeInput{A: eighty, B: twenty, FloorA: other, FloorB: fourth, Windows: c})
	if err != nil {
		t.Fatal(err)
	}
	byName := func(r *observe.Report, name string) observe.FeatureResult {
		for _, f := range r.Features {
			if f.Name == name {
				return f
			}
		}
		t.Fatalf("no feature %s", name)
		return observe.FeatureResult{}
	}
	for _, name := range []string{"gateway_set", "gateway_churn"} {
		f := byName(r, name)
		if f.Advantage == nil || *f.Advantage < 0.8 || f.Verdict != observe.VerdictOutside {
			t.Errorf("20 vs 80 peers, %s: %+v, want advantage >= 0.8 and outside", name, f)
		}
		t.Logf("20 vs 80 peers, %s: advantage %.3f floor %.3f", name, *f.Advantage, *f.Floor)
	}
	same, err := observe.Analyze(observe.AnalyzeInput{A: other, B: twenty, Windows: c})
	if err != nil {
		t.Fatal(err)
	}
	if same.Floor.Source != observe.FloorHalvesOfB {
		t.Errorf("floor source %q, want %q", same.Floor.Source, observe.FloorHalvesOfB)
	}
	for _, f := range same.Features {
		if f.Advantage == nil {
			t.Errorf("same generator, %s: no advantage", f.Name)
			continue
		}
		t.Logf("same generator, %s: advantage %.3f", f.Name, *f.Advantage)
		// lease_count is constant (advantage 0); the rest fluctuate. Sliding
		// windows overlap, so a day holds only ~24 independent hours and
		// the cadence features (phases of the tunnels persist for hours)
		// stay near 0.3.
		if *f.Advantage > 0.4 {
			t.Errorf("same generator, %s: advantage %.3f, want <= 0.4", f.Name, *f.Advantage)
		}
	}
}

// TestAnalyzeGolden pins the JSON report (`imh leaseset analyze --json`).
// Run with -update after an intended change.
func TestAnalyzeGolden(t *testing.T) {
	a := synth(t, observetest.Synth{Seed: 11, Pool: 20, Tunnels: 3, Hours: 3})
	b := synth(t, observetest.Synth{Seed: 12, Pool: 60, Tunnels: 3, Hours: 3})
	r, err := observe.Analyze(observe.AnalyzeInput{A: a, B: b, NameA: "a.json", NameB: "b.json", Windows: observe.DefaultWindowConfig()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Equal(t, filepath.Join("testdata", "analyze.golden.json"), append(got, '\n'))
}

// TestAnalyzeFloorNone: B too short to halve gives an unknown floor and
// verdict, not an error.
func TestAnalyzeFloorNone(t *testing.T) {
	h := synth(t, observetest.Synth{Seed: 5, Pool: 20, Tunnels: 3, Hours: 1.5})
	r, err := observe.Analyze(observe.AnalyzeInput{A: h, B: h, Windows: observe.DefaultWindowConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Floor.Source != observe.FloorNone || r.Floor.Note == "" {
		t.Fatalf("floor %+v, want none with a note", r.Floor)
	}
	for _, f := range r.Features {
		if f.Verdict != observe.VerdictUnknown || f.Floor != nil {
			t.Errorf("%s: %+v", f.Name, f)
		}
		if f.Advantage != nil && *f.Advantage != 0 {
			t.Errorf("%s: a history against itself has advantage %v", f.Name, *f.Advantage)
		}
	}
	if _, err := observe.Analyze(observe.AnalyzeInput{A: h, B: h, FloorA: h, Windows: observe.DefaultWindowConfig()}); err == nil {
		t.Error("one floor history accepted")
	}
}

// TestPercentile: linear interpolation between the sorted values, the
// rule docs/cli.md states for the population floor.
func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		p    float64
		want float64
	}{
		{[]float64{0.4}, 95, 0.4},
		{[]float64{0.3, 0.1}, 50, 0.2},
		{[]float64{0.3, 0.1, 0.2}, 50, 0.2},
		{[]float64{0.3, 0.1, 0.2}, 95, 0.29}, // h = 1.9: 0.2 + 0.9·0.1
		{[]float64{0.3, 0.1, 0.2}, 100, 0.3},
		{[]float64{0.3, 0.1, 0.2}, 0, 0.1},
		{[]float64{0.3, 0.1, 0.2}, 150, 0.3}, // clamped
		{[]float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, 50, 0.35},
		// 15 pairs, as a population of 6 gives: h = 13.3
		{[]float64{15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 95, 14.3},
	} {
		v := slices.Clone(tc.v)
		if got := observe.Percentile(v, tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.v, tc.p, got, tc.want)
		}
		if !slices.Equal(v, tc.v) {
			t.Errorf("Percentile modified its input: %v", v)
		}
	}
}

// TestAnalyzePopulation: with three or more floor histories the floor of a
// feature is the 95th percentile of the advantages between every pair,
// reported with their median and largest; a known difference (gateways
// from 80 peers against 20) stays outside it, another history of the same
// generator falls within it; a population of two is exactly the floor of
// two histories.
func TestAnalyzePopulation(t *testing.T) {
	c := observe.DefaultWindowConfig()
	twenty := synth(t, observetest.Synth{Seed: 1, Pool: 20, Tunnels: 5, Hours: 12})
	eighty := synth(t, observetest.Synth{Seed: 2, Pool: 80, Tunnels: 5, Hours: 12})
	other := synth(t, observetest.Synth{Seed: 7, Pool: 20, Tunnels: 5, Hours: 12})
	var pop []*observe.History
	for s := range uint64(4) {
		pop = append(pop, synth(t, observetest.Synth{Seed: 3 + s, Pool: 20, Tunnels: 5, Hours: 12}))
	}
	names := []string{"p1.json", "p2.json", "p3.json", "p4.json"}

	r, err := observe.Analyze(observe.AnalyzeInput{A: eighty, B: twenty, Population: pop, PopulationNames: names, Windows: c})
	if err != nil {
		t.Fatal(err)
	}
	if r.Floor.Source != observe.FloorPopulation || r.Floor.Pairs != 6 || len(r.Floor.Histories) != 4 ||
		r.Floor.Histories[2].Name != "p3.json" || r.Floor.A != nil || r.Floor.B != nil {
		t.Fatalf("floor %+v", r.Floor)
	}
	// the pairwise advantages, by hand
	samples := make([][]observe.Sample, len(pop))
	for i, h := range pop {
		if samples[i], err = observe.Extract(h, c); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range r.Features {
		var pairs []float64
		for j := range pop {
			for k := j + 1; k < len(pop); k++ {
				if adv, ok := observe.Advantage(samples[j][i].Values, samples[k][i].Values); ok {
					pairs = append(pairs, adv)
				}
			}
		}
		if got := observe.PairwiseAdvantages(samples, i); !slices.Equal(got, pairs) {
			t.Fatalf("%s: pairwise %v, want %v", f.Name, got, pairs)
		}
		if f.FloorPairs != len(pairs) || f.FloorP95 == nil || f.Floor != f.FloorP95 ||
			*f.FloorP95 != observe.Percentile(pairs, 95) || *f.FloorMedian != observe.Percentile(pairs, 50) || *f.FloorMax != slices.Max(pairs) {
			t.Fatalf("%s: %+v, pairs %v", f.Name, f, pairs)
		}
		if !(*f.FloorMedian <= *f.FloorP95 && *f.FloorP95 <= *f.FloorMax) {
			t.Errorf("%s: median %v, p95 %v, max %v out of order", f.Name, *f.FloorMedian, *f.FloorP95, *f.FloorMax)
		}
		want := observe.VerdictOutside
		if *f.Advantage <= *f.Floor {
			want = observe.VerdictWithin
		}
		if f.Verdict != want {
			t.Errorf("%s: verdict %q with advantage %v and floor %v", f.Name, f.Verdict, *f.Advantage, *f.Floor)
		}
		t.Logf("%s: advantage %.3f, pairs %v, p95 %.3f", f.Name, *f.Advantage, pairs, *f.Floor)
	}
	for _, name := range []string{"gateway_set", "gateway_churn"} {
		if f := featureByName(t, r, name); f.Verdict != observe.VerdictOutside {
			t.Errorf("20 vs 80 peers, %s: %+v, want outside the population floor", name, f)
		}
	}
	same, err := observe.Analyze(observe.AnalyzeInput{A: other, B: twenty, Population: pop, Windows: c})
	if err != nil {
		t.Fatal(err)
	}
	if same.Floor.Histories[0].Name != "synth" {
		t.Errorf("unnamed population history called %q, want the run's name", same.Floor.Histories[0].Name)
	}
	if f := featureByName(t, same, "gateway_set"); f.Verdict != observe.VerdictWithin {
		t.Errorf("same generator, gateway_set: %+v, want within the population floor", f)
	}

	// a population of two is the floor of two files, field for field
	two, err := observe.Analyze(observe.AnalyzeInput{A: eighty, B: twenty, Population: pop[:2], PopulationNames: names[:2], Windows: c})
	if err != nil {
		t.Fatal(err)
	}
	files, err := observe.Analyze(observe.AnalyzeInput{A: eighty, B: twenty, FloorA: pop[0], FloorB: pop[1], FloorNameA: names[0], FloorNameB: names[1], Windows: c})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(two, files) {
		t.Fatalf("a population of two differs from two floor files:\n%+v\n%+v", two, files)
	}
	js, err := json.Marshal(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"floor_median", "floor_p95", "floor_max", "floor_pairs", "histories", "pairs"} {
		if bytes.Contains(js, []byte(`"`+field+`"`)) {
			t.Errorf("two floor files: JSON has %q", field)
		}
	}

	for _, tc := range []struct {
		name string
		in   observe.AnalyzeInput
	}{
		{"one", observe.AnalyzeInput{A: eighty, B: twenty, Population: pop[:1], Windows: c}},
		{"and two files", observe.AnalyzeInput{A: eighty, B: twenty, Population: pop, FloorA: pop[0], FloorB: pop[1], Windows: c}},
		{"names", observe.AnalyzeInput{A: eighty, B: twenty, Population: pop, PopulationNames: names[:3], Windows: c}},
		{"nil", observe.AnalyzeInput{A: eighty, B: twenty, Population: []*observe.History{pop[0], nil, pop[1]}, Windows: c}},
		{"too short", observe.AnalyzeInput{A: eighty, B: twenty, Windows: c,
			Population: []*observe.History{pop[0], pop[1], synth(t, observetest.Synth{Seed: 9, Pool: 20, Tunnels: 5, Hours: 0.5})}}},
	} {
		if _, err := observe.Analyze(tc.in); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func featureByName(t *testing.T, r *observe.Report, name string) observe.FeatureResult {
	t.Helper()
	for _, f := range r.Features {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no feature %s", name)
	return observe.FeatureResult{}
}

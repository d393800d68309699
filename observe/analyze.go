package observe

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Advantage is the advantage of the best threshold distinguisher between
// samples a and b: the largest |TPR − FPR| over every threshold t, where
// TPR is the fraction of a above t and FPR the fraction of b above t (the
// other direction is the same absolute value). It equals the two-sample
// Kolmogorov–Smirnov statistic: 0 when the samples cannot be told apart by
// any threshold, 1 when one threshold separates them perfectly. It is
// computed exactly by sweeping the sorted union; ok is false when either
// sample is empty (nothing to compare). NaN values must not be present.
func Advantage(a, b []float64) (adv float64, ok bool) {
	if len(a) == 0 || len(b) == 0 {
		return 0, false
	}
	as, bs := slices.Clone(a), slices.Clone(b)
	slices.Sort(as)
	slices.Sort(bs)
	na, nb := float64(len(as)), float64(len(bs))
	// i, j count the values <= t; the fractions above t are 1 - i/na and
	// 1 - j/nb, so |TPR - FPR| = |i/na - j/nb|. Thresholds below every
	// value give 0; only the distinct values of the union matter.
	var i, j int
	for i < len(as) || j < len(bs) {
		var t float64
		switch {
		case j == len(bs) || i < len(as) && as[i] <= bs[j]:
			t = as[i]
		default:
			t = bs[j]
		}
		for i < len(as) && as[i] <= t {
			i++
		}
		for j < len(bs) && bs[j] <= t {
			j++
		}
		adv = max(adv, math.Abs(float64(i)/na-float64(j)/nb))
	}
	return adv, true
}

// Verdicts of a feature in a Report.
const (
	VerdictWithin  = "within floor"
	VerdictOutside = "outside"
	VerdictUnknown = "unknown"
)

// Floor sources in a Report: where the noise floor came from.
const (
	// FloorFiles: two single-router histories given by the caller.
	FloorFiles = "files"
	// FloorHalvesOfB: the two halves (by time) of history B, each half
	// as long; a rough floor, for when no pair of single-router runs is at
	// hand.
	FloorHalvesOfB = "halves_of_b"
	// FloorNone: no floor could be had (B too short to halve).
	FloorNone = "none"
	// FloorPopulation: three or more single-router histories given by the
	// caller; the floor of a feature is the 95th percentile of the
	// advantages between every pair of them (FloorPercentile).
	FloorPopulation = "population"
)

// FloorPercentile is the percentile of the pairwise advantages a
// population floor puts a feature's advantage against: "within floor"
// when the advantage is at most it.
const FloorPercentile = 95

// Report is the result of Analyze and, as JSON, what
// `imh leaseset analyze --json` prints (docs/cli.md).
type Report struct {
	WindowMs int64       `json:"window_ms"`
	StepMs   int64       `json:"step_ms"`
	A        HistoryInfo `json:"a"`
	B        HistoryInfo `json:"b"`
	Floor    FloorInfo   `json:"floor"`
	// Features are in the order of the package's Features list.
	Features []FeatureResult `json:"features"`
}

// HistoryInfo describes one history compared.
type HistoryInfo struct {
	// Name is the file (set by the caller) or the run's name.
	Name    string `json:"name"`
	Run     string `json:"run"`
	Stores  int    `json:"stores"`
	SpanMs  int64  `json:"span_ms"`
	Windows int    `json:"windows"`
}

// FloorInfo says where the noise floor came from.
type FloorInfo struct {
	Source string `json:"source"`
	// A and B are the floor's two histories; null for FloorNone and
	// FloorPopulation.
	A *HistoryInfo `json:"a"`
	B *HistoryInfo `json:"b"`
	// Note explains a floor of FloorNone.
	Note string `json:"note,omitempty"`
	// Histories, for FloorPopulation only, are the population's
	// histories in the order given; every pair of them is compared.
	Histories []HistoryInfo `json:"histories,omitempty"`
	// Pairs, for FloorPopulation only, is how many pairs that is:
	// n·(n−1)/2.
	Pairs int `json:"pairs,omitempty"`
}

// FeatureResult is one row of the table.
type FeatureResult struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	// Advantage of A versus B; null when either has no value.
	Advantage *float64 `json:"advantage"`
	// Floor is the same measure between the floor's two histories; null
	// when unknown. With a population floor it is the FloorPercentile-th
	// percentile of the pairwise advantages (FloorP95), so that the
	// verdict is always "within floor" exactly when Advantage <= Floor.
	Floor   *float64 `json:"floor"`
	Verdict string   `json:"verdict"`
	// FloorMedian, FloorP95 and FloorMax, with a population floor only,
	// describe the advantages between every pair of its histories that
	// both have values (FloorPairs of them; percentiles interpolate
	// linearly between the sorted advantages, see Percentile).
	FloorMedian *float64 `json:"floor_median,omitempty"`
	FloorP95    *float64 `json:"floor_p95,omitempty"`
	FloorMax    *float64 `json:"floor_max,omitempty"`
	FloorPairs  int      `json:"floor_pairs,omitempty"`
	// NA and NB are how many window values each sample has.
	NA int `json:"n_a"`
	NB int `json:"n_b"`
	// Critical is the advantage that two samples of one distribution
	// exceed only 5% of the time (KS, 1.36·sqrt((n+m)/(n·m))), with n and
	// m the samples' sizes in independent windows: overlapping windows
	// count as window/step times fewer. An approximation, to show what
	// the histories' length can resolve; null without values.
	Critical *float64 `json:"critical"`
	// MeanA and MeanB show which way a difference goes.
	MeanA *float64 `json:"mean_a"`
	MeanB *float64 `json:"mean_b"`
}

// AnalyzeInput is what Analyze compares.
type AnalyzeInput struct {
	A, B *History
	// NameA and NameB name A and B in the report (e.g. their files);
	// empty means the run's name.
	NameA, NameB string
	// FloorA and FloorB, both or neither, are two single-router histories
	// of about the length of A and B. Without them (and without a
	// Population) the floor is estimated from the two halves of B.
	FloorA, FloorB         *History
	FloorNameA, FloorNameB string
	// Population, instead of FloorA and FloorB, is three or more
	// single-router histories of about the length of A and B: the floor
	// of a feature is then the distribution of the advantages between
	// every pair of them, and A versus B is "within floor" when its
	// advantage is at most their FloorPercentile-th percentile. A
	// Population of two is FloorA and FloorB. PopulationNames, when not
	// empty, names each in the report.
	Population      []*History
	PopulationNames []string
	Windows         WindowConfig
}

// Analyze compares histories A and B feature by feature and puts each
// advantage against the noise floor: a feature is "within floor" when
// telling A from B is no easier than telling apart two runs of one router.
func Analyze(in AnalyzeInput) (*Report, error) {
	if err := in.Windows.Validate(); err != nil {
		return nil, err
	}
	if in.A == nil || in.B == nil {
		return nil, errors.New("analyze: two histories needed")
	}
	if (in.FloorA == nil) != (in.FloorB == nil) {
		return nil, errors.New("analyze: the floor needs two histories")
	}
	if len(in.Population) > 0 {
		switch {
		case in.FloorA != nil:
			return nil, errors.New("analyze: a floor of two histories and a population given")
		case len(in.Population) < 2:
			return nil, errors.New("analyze: a population floor needs at least two histories")
		case len(in.PopulationNames) != 0 && len(in.PopulationNames) != len(in.Population):
			return nil, fmt.Errorf("analyze: %d population names for %d histories", len(in.PopulationNames), len(in.Population))
		case slices.Contains(in.Population, nil):
			return nil, errors.New("analyze: a population history is missing")
		}
		if len(in.Population) == 2 {
			in.FloorA, in.FloorB = in.Population[0], in.Population[1]
			if len(in.PopulationNames) == 2 {
				in.FloorNameA, in.FloorNameB = in.PopulationNames[0], in.PopulationNames[1]
			}
			in.Population, in.PopulationNames = nil, nil
		}
	}
	r := &Report{WindowMs: in.Windows.Window.Milliseconds(), StepMs: in.Windows.Step.Milliseconds()}
	var err error
	var sa, sb, fa, fb []Sample
	var pop [][]Sample // the population's samples, FloorPopulation only
	if r.A, sa, err = describe(in.A, in.NameA, in.Windows); err != nil {
		return nil, fmt.Errorf("history a: %w", err)
	}
	if r.B, sb, err = describe(in.B, in.NameB, in.Windows); err != nil {
		return nil, fmt.Errorf("history b: %w", err)
	}
	switch {
	case len(in.Population) > 0:
		r.Floor.Source = FloorPopulation
		for i, h := range in.Population {
			var name string
			if len(in.PopulationNames) > 0 {
				name = in.PopulationNames[i]
			}
			info, s, err := describe(h, name, in.Windows)
			if err != nil {
				return nil, fmt.Errorf("floor history %d (%s): %w", i+1, info.Name, err)
			}
			r.Floor.Histories = append(r.Floor.Histories, info)
			pop = append(pop, s)
		}
		r.Floor.Pairs = len(pop) * (len(pop) - 1) / 2
	case in.FloorA != nil:
		r.Floor.Source = FloorFiles
		var ia, ib HistoryInfo
		if ia, fa, err = describe(in.FloorA, in.FloorNameA, in.Windows); err != nil {
			return nil, fmt.Errorf("floor history a: %w", err)
		}
		if ib, fb, err = describe(in.FloorB, in.FloorNameB, in.Windows); err != nil {
			return nil, fmt.Errorf("floor history b: %w", err)
		}
		r.Floor.A, r.Floor.B = &ia, &ib
	default:
		first, second := splitHalves(in.B)
		ia, sfa, errA := describe(first, r.B.Name+" (first half)", in.Windows)
		ib, sfb, errB := describe(second, r.B.Name+" (second half)", in.Windows)
		if err := errors.Join(errA, errB); err != nil {
			r.Floor.Source = FloorNone
			r.Floor.Note = fmt.Sprintf("no floor given and halves of b unusable: %v", err)
			break
		}
		r.Floor.Source = FloorHalvesOfB
		r.Floor.A, r.Floor.B = &ia, &ib
		fa, fb = sfa, sfb
	}
	for i, f := range Features {
		fr := FeatureResult{Name: f.Name, Unit: f.Unit, Verdict: VerdictUnknown,
			NA: len(sa[i].Values), NB: len(sb[i].Values),
			MeanA: mean(sa[i].Values), MeanB: mean(sb[i].Values)}
		if adv, ok := Advantage(sa[i].Values, sb[i].Values); ok {
			fr.Advantage = &adv
			c := critical(effective(fr.NA, in.Windows), effective(fr.NB, in.Windows))
			fr.Critical = &c
		}
		if fa != nil {
			if fl, ok := Advantage(fa[i].Values, fb[i].Values); ok {
				fr.Floor = &fl
			}
		}
		if pop != nil {
			pairs := PairwiseAdvantages(pop, i)
			if len(pairs) > 0 {
				med, p95 := Percentile(pairs, 50), Percentile(pairs, FloorPercentile)
				top := slices.Max(pairs)
				fr.FloorMedian, fr.FloorP95, fr.FloorMax, fr.FloorPairs = &med, &p95, &top, len(pairs)
				fr.Floor = &p95
			}
		}
		if fr.Advantage != nil && fr.Floor != nil {
			fr.Verdict = VerdictOutside
			if *fr.Advantage <= *fr.Floor {
				fr.Verdict = VerdictWithin
			}
		}
		r.Features = append(r.Features, fr)
	}
	return r, nil
}

// PairwiseAdvantages is, for feature i (an index into Features), the
// advantage between every pair of the histories' samples (pop[k] is one
// history's Extract), in the order (0,1), (0,2), ..., (1,2), ...; a pair
// in which either history has no value for the feature is left out.
func PairwiseAdvantages(pop [][]Sample, i int) []float64 {
	var out []float64
	for j := range pop {
		for k := j + 1; k < len(pop); k++ {
			if adv, ok := Advantage(pop[j][i].Values, pop[k][i].Values); ok {
				out = append(out, adv)
			}
		}
	}
	return out
}

// Percentile is the p-th percentile (0 ≤ p ≤ 100) of v, interpolated
// linearly between the sorted values: with v sorted ascending and
// h = (len(v)−1)·p/100, it is v[⌊h⌋] + (h−⌊h⌋)·(v[⌊h⌋+1] − v[⌊h⌋]) (so the
// 0th is the smallest, the 100th the largest, the 50th the median). v is
// not modified; it must not be empty.
func Percentile(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	h := float64(len(s)-1) * min(max(p, 0), 100) / 100
	lo := int(math.Floor(h))
	if lo+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// describe extracts h's features and says what h is.
func describe(h *History, name string, c WindowConfig) (HistoryInfo, []Sample, error) {
	if name == "" {
		name = h.Run
	}
	info := HistoryInfo{Name: name, Run: h.Run, Stores: len(h.Stores)}
	if n := len(h.Stores); n > 0 {
		info.SpanMs = h.Stores[n-1].AtMillis - h.Stores[0].AtMillis
	}
	s, err := Extract(h, c)
	if err != nil {
		return info, nil, err
	}
	wMs, stepMs := c.Window.Milliseconds(), c.Step.Milliseconds()
	info.Windows = int((info.SpanMs-wMs)/stepMs) + 1
	return info, s, nil
}

// splitHalves cuts h at the middle of its span: stores before the middle
// go to the first half, the others to the second.
func splitHalves(h *History) (first, second *History) {
	first = &History{Run: h.Run, Seed: h.Seed, Routers: h.Routers, Hours: h.Hours / 2}
	second = &History{Run: h.Run, Seed: h.Seed, Routers: h.Routers, Hours: h.Hours / 2}
	if len(h.Stores) == 0 {
		return first, second
	}
	mid := h.Stores[0].AtMillis + (h.Stores[len(h.Stores)-1].AtMillis-h.Stores[0].AtMillis)/2
	for _, s := range h.Stores {
		if s.AtMillis < mid {
			first.Stores = append(first.Stores, s)
		} else {
			second.Stores = append(second.Stores, s)
		}
	}
	return first, second
}

// effective is how many independent windows n overlapping ones are worth:
// a window shares all but step of its length with the next.
func effective(n int, c WindowConfig) float64 {
	return max(1, float64(n)*float64(c.Step)/float64(c.Window))
}

// critical is the two-sample KS critical value at the 5% level.
func critical(n, m float64) float64 {
	return min(1, 1.36*math.Sqrt((n+m)/(n*m)))
}

func mean(v []float64) *float64 {
	if len(v) == 0 {
		return nil
	}
	var s float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	return &m
}

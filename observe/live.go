package observe

import (
	"fmt"
	"time"

	"github.com/imh-project/imh/i2p"
)

// Range is where one feature's window values of a single stock router lie:
// the 5th percentile, the median and the 95th percentile. A live value
// between Low and High is one a single router shows 90% of the time.
type Range struct {
	Low    float64 `json:"low"`
	Median float64 `json:"median"`
	High   float64 `json:"high"`
}

// Contains reports whether v lies within the range (ends included).
func (r Range) Contains(v float64) bool { return v >= r.Low && v <= r.High }

// SingleRouterLeases is the lease count of the reference single router
// (sim.DefaultConfig: 12 inbound tunnels of 3 hops, i2pd's pool).
const SingleRouterLeases = 12

// SingleRouter is the reference an operator's live figures are put
// against: every feature's range over the 1 h windows (sliding by 10 min)
// of two 24 h simulated single-router runs (observe/sim, DefaultConfig,
// seed 1: single-a and single-b). It is a table rather than a run because
// an agent should not simulate a day to answer `imh status`;
// TestSingleRouterReference in observe/sim recomputes it and fails when the
// simulation and this table part, so it cannot go stale silently.
var SingleRouter = map[string]Range{
	"gateway_set":     {Low: 15, Median: 17, High: 20},
	"gateway_churn":   {Low: 0, Median: 2, High: 4},
	"lease_count":     {Low: 12, Median: 12, High: 12},
	"end_spread":      {Low: 245.5, Median: 404.8, High: 424},
	"lease_remaining": {Low: 356, Median: 386.8, High: 418.5},
	"expires_offset":  {Low: 591.7, Median: 594.4, High: 597},
	"lease_turnover":  {Low: 0.1667, Median: 0.2, High: 0.5},
	"lease_return":    {Low: 0, Median: 0, High: 0},
	"gateway_reuse":   {Low: 0.0812, Median: 0.1162, High: 0.244},
	"max_replaced":    {Low: 0.3333, Median: 0.5, High: 0.9167},
	"stores_per_10m":  {Low: 2.333, Median: 5.833, High: 7},
	"store_interval":  {Low: 20, Median: 20, High: 255.5},
	"max_gap":         {Low: 409, Median: 441, High: 491},
}

// Live verdicts of a Figure.
const (
	// LiveTypical: the value lies within one router's range.
	LiveTypical = "typical"
	// LiveAtypical: the value lies outside it; an observer watching this
	// feature would see something a single router rarely shows.
	LiveAtypical = "atypical"
	// LiveUnknown: no value yet (too little history, e.g. gateway_churn
	// needs a whole window before the current one).
	LiveUnknown = "unknown"
)

// Figure is one feature over the most recent window of a live history, put
// against what one router shows.
type Figure struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	// Value is null when the window gives none.
	Value *float64 `json:"value"`
	// Single is the single router's range (SingleRouter; lease_count is
	// the destination's own lease goal, see RecentInput.Leases).
	Single  Range  `json:"single_router"`
	Verdict string `json:"verdict"`
}

// RecentInput is what Recent measures.
type RecentInput struct {
	// Stores are the LeaseSets published, in time order (a bounded recent
	// history; older stores are not needed).
	Stores []Store
	// End is the end of the window (exclusive), normally now.
	End time.Time
	// Window is its length; the window is cut to the first store when the
	// history is shorter (the figures then say less, see Span).
	Window time.Duration
	// Leases is the lease count one router serving this destination would
	// publish (its LeaseSet goal); 0 takes SingleRouterLeases.
	Leases int
}

// RecentFigures is what Recent found.
type RecentFigures struct {
	// Span is the window actually measured: Window, or less while the
	// history is younger than Window.
	Span time.Duration
	// Stores is how many stores lie in the window.
	Stores  int
	Figures []Figure
	// Atypical counts the figures outside one router's range.
	Atypical int
}

// Recent computes every feature over the window that ends at in.End, so
// that an operator sees live what an observer of the netDB sees of the
// destination now, beside the range of a single router. It is pure: the
// caller owns the history and the clock.
func Recent(in RecentInput) (*RecentFigures, error) {
	if in.Window <= 0 || in.Window%time.Millisecond != 0 {
		return nil, fmt.Errorf("recent: window %s: must be a positive number of milliseconds", in.Window)
	}
	obs, err := observations(&History{Stores: in.Stores})
	if err != nil {
		return nil, fmt.Errorf("recent: %w", err)
	}
	endMs := in.End.UnixMilli()
	first := obs[0].atMs
	if endMs <= first {
		return nil, fmt.Errorf("recent: window ends at %d, before the first store at %d", endMs, first)
	}
	startMs := max(endMs-in.Window.Milliseconds(), first)
	gatewaysAt := func(s, e int64) map[i2p.Hash]bool { return gatewaySetOf(obs, s, e) }
	w := &window{obs: obs, startMs: startMs, endMs: endMs, firstMs: first, lengthMs: endMs - startMs, gatewaysAt: gatewaysAt}
	w.seen, w.stored, w.storedFrom = span(obs, w.startMs, w.endMs)
	out := &RecentFigures{Span: time.Duration(w.lengthMs) * time.Millisecond, Stores: len(w.stored)}
	leases := in.Leases
	if leases <= 0 {
		leases = SingleRouterLeases
	}
	for _, f := range Features {
		ref := SingleRouter[f.Name]
		if f.Name == "lease_count" {
			n := float64(leases)
			ref = Range{Low: n, Median: n, High: n}
		}
		fig := Figure{Name: f.Name, Unit: f.Unit, Single: ref, Verdict: LiveUnknown}
		if v, ok := f.value(w); ok {
			fig.Value = &v
			fig.Verdict = LiveTypical
			if !ref.Contains(v) {
				fig.Verdict = LiveAtypical
				out.Atypical++
			}
		}
		out.Figures = append(out.Figures, fig)
	}
	return out, nil
}

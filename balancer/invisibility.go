package balancer

import (
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/observe"
)

// The live invisibility figures (issue 20): what an observer of the netDB
// sees of a destination over the last InvisibilityWindow, computed by the
// observe package's own features from the LeaseSets this leader published,
// so that an operator sees in `imh status` whether the service looks like
// one router, not only the simulation. The history is leader-local (an
// observation, not a decision: nothing of it goes through Raft); a new
// leader starts it from the LeaseSet the fsm holds.
const (
	// InvisibilityWindow is the window of the live figures: the analysis's
	// default window, so live figures and `imh leaseset analyze` agree.
	InvisibilityWindow = time.Hour
	// historyKeep is how far back the history reaches: gateway_churn
	// compares the window with the one before it.
	historyKeep = 2 * InvisibilityWindow
	// maxHistory bounds the history whatever the cadence: 2 h at one
	// publication per 5 s; LeaseSets published faster than that are
	// themselves a figure out of range, and the oldest go first.
	maxHistory = 1440
	// invisibilityEvery paces the computation: the figures move with
	// publications (tens of seconds apart), not with each loop tick.
	invisibilityEvery = 10 * time.Second
)

// publishHistory is a destination's recent LeaseSets, oldest first, and
// the figures last computed from them.
type publishHistory struct {
	stores   []observe.Store
	figures  *status.Invisibility
	computed time.Time
	dirty    bool
}

// record appends a LeaseSet published at at and drops what no window
// needs any longer: stores older than historyKeep, except the last of
// them (it is still in force at the start of the oldest window), and the
// oldest beyond maxHistory.
func (h *publishHistory) record(at time.Time, raw []byte) {
	if n := len(h.stores); n > 0 && at.UnixMilli() < h.stores[n-1].AtMillis {
		// The wall clock stepped back: keep store order, as a floodfill
		// would see the stores.
		at = time.UnixMilli(h.stores[n-1].AtMillis)
	}
	h.stores = append(h.stores, observe.Store{AtMillis: at.UnixMilli(), LeaseSet: i2p.Base64.EncodeToString(raw)})
	cut := at.Add(-historyKeep).UnixMilli()
	drop := 0
	for drop+1 < len(h.stores) && h.stores[drop+1].AtMillis <= cut {
		drop++
	}
	drop = max(drop, len(h.stores)-maxHistory)
	if drop > 0 {
		// A new array: a computation may still read the old one.
		h.stores = append([]observe.Store(nil), h.stores[drop:]...)
	}
	h.dirty = true
}

// invisibility returns the destination's live figures at now, recomputed
// when a LeaseSet was published since or invisibilityEvery has passed;
// nil before the first LeaseSet. leases is the lease count one router
// serving the destination would publish (the LeaseSet's goal).
func (h *publishHistory) invisibility(now time.Time, leases int) *status.Invisibility {
	if len(h.stores) == 0 {
		return nil
	}
	if !h.dirty && h.figures != nil && now.Sub(h.computed) < invisibilityEvery {
		return h.figures
	}
	h.figures, h.computed, h.dirty = Invisibility(h.stores, now, leases), now, false
	return h.figures
}

// Invisibility computes the live figures of stores (a destination's
// published LeaseSets, in time order) over the InvisibilityWindow ending
// at now, against one router publishing leases leases. Pure; an error
// (a LeaseSet that does not parse, a clock gone backwards) is reported in
// the result rather than hiding the destination's status.
func Invisibility(stores []observe.Store, now time.Time, leases int) *status.Invisibility {
	out := &status.Invisibility{WindowMs: InvisibilityWindow.Milliseconds(), Features: []status.InvisibilityFigure{}}
	r, err := observe.Recent(observe.RecentInput{Stores: stores, End: now.Add(time.Millisecond), Window: InvisibilityWindow, Leases: leases})
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.SpanMs, out.Stores, out.Atypical = r.Span.Milliseconds(), r.Stores, r.Atypical
	for _, f := range r.Figures {
		out.Features = append(out.Features, status.InvisibilityFigure{
			Name: f.Name, Unit: f.Unit, Value: f.Value, Verdict: f.Verdict,
			SingleRouter: status.RouterRange{Low: f.Single.Low, Median: f.Single.Median, High: f.Single.High},
		})
	}
	return out
}

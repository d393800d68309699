package observe

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/imh-project/imh/i2p"
)

// ErrTooShort is returned when a history spans less than one window: it
// gives no sample at all.
var ErrTooShort = errors.New("history shorter than one window")

// ErrTooLong is returned when a history would need more than MaxWindows
// windows: a store time centuries off (found by FuzzDecodeHistory: one
// history took hours at a 1 s step) is refused instead of hanging.
var ErrTooLong = errors.New("history too long for the window step")

// MaxWindows bounds the windows one Extract slides over: eleven days at
// a 1 s step, far beyond the 24-hour runs it is meant for.
const MaxWindows = 1_000_000

// WindowConfig says how a history is cut into the sliding windows each
// feature gets one value from. Sliding windows overlap, so consecutive
// values are correlated; the step only sets how many are taken.
type WindowConfig struct {
	// Window is the length of one window. An hour holds six generations
	// of 10-minute tunnels, enough for the gateway set to mean something.
	Window time.Duration
	// Step is how far each window starts after the one before.
	Step time.Duration
}

// DefaultWindowConfig is 1 h windows sliding by 10 min (a tunnel lifetime).
func DefaultWindowConfig() WindowConfig {
	return WindowConfig{Window: time.Hour, Step: 10 * time.Minute}
}

// Validate checks the windows make sense: both positive, the step at most
// the window (a larger step would skip part of the history) and whole
// milliseconds (the resolution of store times).
func (c WindowConfig) Validate() error {
	switch {
	case c.Window <= 0 || c.Window%time.Millisecond != 0:
		return fmt.Errorf("window %s: must be a positive number of milliseconds", c.Window)
	case c.Step <= 0 || c.Step%time.Millisecond != 0:
		return fmt.Errorf("step %s: must be a positive number of milliseconds", c.Step)
	case c.Step > c.Window:
		return fmt.Errorf("step %s: longer than the window %s", c.Step, c.Window)
	}
	return nil
}

// Feature is one thing an observer of the netDB can measure about a
// destination's LeaseSets, one value per window.
type Feature struct {
	// Name is stable: it appears in `imh leaseset analyze --json`.
	Name string
	// Unit of the values, for the table.
	Unit string
	// Doc says what the value is.
	Doc string
	// value computes the feature for one window; false when the window
	// gives no value (e.g. no store in it for a per-store feature).
	value func(w *window) (float64, bool)
}

// Features lists every feature analyzed, in report order. A window "sees"
// the LeaseSet in force when it starts and every one stored inside it: an
// observer looking the destination up at any moment of the window would get
// one of those.
var Features = []Feature{
	{Name: "gateway_set", Unit: "gateways", Doc: "distinct inbound gateways in the LeaseSets the window sees", value: gatewaySet},
	{Name: "gateway_churn", Unit: "gateways/h", Doc: "gateways the window sees that the window just before it (same length, adjacent) did not, per hour", value: gatewayChurn},
	{Name: "lease_count", Unit: "leases", Doc: "mean number of leases per LeaseSet the window sees", value: perSeen(func(o *observation) float64 { return float64(len(o.ls.Leases)) })},
	{Name: "end_spread", Unit: "s", Doc: "mean spread of lease end times within a LeaseSet (latest end minus earliest), over the LeaseSets the window sees", value: perSeen(endSpread)},
	{Name: "lease_remaining", Unit: "s", Doc: "mean time its leases still had to run when a LeaseSet was published (lease end minus published), over the LeaseSets the window sees", value: perSeen(leaseRemaining)},
	{Name: "expires_offset", Unit: "s", Doc: "mean LeaseSet expires-minus-published offset, over the LeaseSets the window sees", value: perSeen(func(o *observation) float64 { return float64(o.ls.Expires) })},
	{Name: "lease_turnover", Unit: "fraction", Doc: "mean fraction of a stored LeaseSet's leases (gateway and tunnel id) that the LeaseSet stored before it did not have, over the stores in the window", value: perStored(func(o *observation) float64 { return o.turnover })},
	{Name: "lease_return", Unit: "fraction", Doc: "mean fraction of a stored LeaseSet's leases that had left an earlier LeaseSet and come back (flapping between routers' views), over the stores in the window", value: perStored(func(o *observation) float64 { return o.returned })},
	{Name: "gateway_reuse", Unit: "fraction", Doc: "mean fraction of a stored LeaseSet's leases that are new tunnels through a gateway the LeaseSet stored before it already had, over the stores in the window", value: perStored(func(o *observation) float64 { return o.reused })},
	{Name: "max_replaced", Unit: "fraction", Doc: "largest fraction of leases replaced by one store in the window (a router's death replaces all of its leases at once)", value: maxReplaced},
	{Name: "stores_per_10m", Unit: "stores", Doc: "stores in the window per 10 minutes (publish cadence)", value: storesPer10m},
	{Name: "store_interval", Unit: "s", Doc: "median time between a store in the window and the store before it", value: storeInterval},
	{Name: "max_gap", Unit: "s", Doc: "longest time in the window without a store (window edges count as stores)", value: maxGap},
}

// Sample is the values of one feature over the windows of one history.
type Sample struct {
	Feature string
	Values  []float64
}

// observation is one store, parsed, with what depends on the stores
// before it.
type observation struct {
	atMs int64
	ls   *i2p.LeaseSet2
	// turnover is the fraction of leases not in the previous store;
	// returned the fraction that were not in the previous store but were
	// in an earlier one; reused the fraction that were not in the
	// previous store but whose gateway was. All are meaningless for the
	// first store (hasPrev false).
	turnover, returned, reused float64
	hasPrev                    bool
}

// leaseKey identifies a lease across LeaseSets: the same tunnel keeps its
// gateway and id (its end may be republished unchanged).
type leaseKey struct {
	gw     i2p.Hash
	tunnel uint32
}

// observations parses every store and computes the per-store comparisons.
// It checks structure only: ReadHistory has verified the signatures of a
// history read from a file.
func observations(h *History) ([]observation, error) {
	if len(h.Stores) == 0 {
		return nil, ErrEmptyHistory
	}
	obs := make([]observation, len(h.Stores))
	everSeen := map[leaseKey]bool{}
	var prev map[leaseKey]bool
	var prevGateways map[i2p.Hash]bool
	for i, s := range h.Stores {
		if i > 0 && s.AtMillis < h.Stores[i-1].AtMillis {
			return nil, fmt.Errorf("store %d: at %d before the store before it", i, s.AtMillis)
		}
		b, err := i2p.Base64.DecodeString(s.LeaseSet)
		if err != nil {
			return nil, fmt.Errorf("store %d: leaseset base64: %w", i, err)
		}
		ls, err := i2p.ParseLeaseSet2(b)
		if err != nil {
			return nil, fmt.Errorf("store %d: %w", i, err)
		}
		o := observation{atMs: s.AtMillis, ls: ls, hasPrev: prev != nil}
		cur := make(map[leaseKey]bool, len(ls.Leases))
		gateways := make(map[i2p.Hash]bool, len(ls.Leases))
		var fresh, back, reused int
		for _, l := range ls.Leases {
			k := leaseKey{l.Gateway, l.TunnelID}
			cur[k], gateways[l.Gateway] = true, true
			if prev != nil && !prev[k] {
				fresh++
				if everSeen[k] {
					back++
				}
				if prevGateways[l.Gateway] {
					reused++
				}
			}
		}
		if n := len(ls.Leases); n > 0 {
			o.turnover = float64(fresh) / float64(n)
			o.returned = float64(back) / float64(n)
			o.reused = float64(reused) / float64(n)
		} else if len(prev) > 0 {
			o.turnover = 1 // every lease left
		}
		for k := range cur {
			everSeen[k] = true
		}
		prev, prevGateways = cur, gateways
		obs[i] = o
	}
	return obs, nil
}

// window is the view one feature value is computed from.
type window struct {
	obs        []observation // the whole history
	startMs    int64
	endMs      int64 // exclusive
	seen       []observation
	stored     []observation // stored in [start, end)
	storedFrom int           // index of stored[0] in obs
	firstMs    int64         // the history's first store
	lengthMs   int64
	gatewaysAt func(startMs, endMs int64) map[i2p.Hash]bool
}

// span returns the stores a window [startMs, endMs) sees: the one in force
// at startMs (the last stored at or before it) and those stored after it
// and before endMs; and separately those stored within the window, which
// start at index storedFrom of obs.
func span(obs []observation, startMs, endMs int64) (seen, stored []observation, storedFrom int) {
	// first index stored at or after startMs / endMs
	lo, _ := slices.BinarySearchFunc(obs, startMs, func(o observation, t int64) int { return cmp.Compare(o.atMs, t) })
	hi, _ := slices.BinarySearchFunc(obs, endMs, func(o observation, t int64) int { return cmp.Compare(o.atMs, t) })
	// tie: several stores at startMs; the one in force is the last of them
	inForce := lo - 1
	for j := lo; j < hi && obs[j].atMs == startMs; j++ {
		inForce = j
	}
	return obs[max(inForce, 0):hi], obs[lo:hi], lo
}

// Extract computes every feature of h over the windows of c. The first
// window starts at the first store; the last ends at or before the last
// store (a history gives no information after it). A feature may have
// fewer values than there are windows (gateway_churn needs a whole window
// before its own; per-store features need a store in the window).
func Extract(h *History, c WindowConfig) ([]Sample, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	obs, err := observations(h)
	if err != nil {
		return nil, err
	}
	return extract(obs, c)
}

func extract(obs []observation, c WindowConfig) ([]Sample, error) {
	first, last := obs[0].atMs, obs[len(obs)-1].atMs
	wMs, stepMs := c.Window.Milliseconds(), c.Step.Milliseconds()
	if last-first < wMs {
		return nil, fmt.Errorf("%w: spans %s, window %s", ErrTooShort,
			time.Duration(last-first)*time.Millisecond, c.Window)
	}
	if n := (last-first-wMs)/stepMs + 1; n > MaxWindows {
		return nil, fmt.Errorf("%w: spans %s, %d windows of %s at a step of %s (at most %d)", ErrTooLong,
			time.Duration(last-first)*time.Millisecond, n, c.Window, c.Step, MaxWindows)
	}
	gatewaysAt := func(startMs, endMs int64) map[i2p.Hash]bool { return gatewaySetOf(obs, startMs, endMs) }
	out := make([]Sample, len(Features))
	for i, f := range Features {
		out[i] = Sample{Feature: f.Name, Values: []float64{}}
	}
	for start := first; start+wMs <= last; start += stepMs {
		w := &window{obs: obs, startMs: start, endMs: start + wMs, firstMs: first, lengthMs: wMs, gatewaysAt: gatewaysAt}
		w.seen, w.stored, w.storedFrom = span(obs, w.startMs, w.endMs)
		for i, f := range Features {
			if v, ok := f.value(w); ok {
				out[i].Values = append(out[i].Values, v)
			}
		}
	}
	return out, nil
}

// gatewaySetOf is the set of gateways in the LeaseSets a window
// [startMs, endMs) sees.
func gatewaySetOf(obs []observation, startMs, endMs int64) map[i2p.Hash]bool {
	seen, _, _ := span(obs, startMs, endMs)
	set := map[i2p.Hash]bool{}
	for _, o := range seen {
		for _, l := range o.ls.Leases {
			set[l.Gateway] = true
		}
	}
	return set
}

func gatewaySet(w *window) (float64, bool) {
	return float64(len(w.gatewaysAt(w.startMs, w.endMs))), true
}

func gatewayChurn(w *window) (float64, bool) {
	if w.startMs-w.lengthMs < w.firstMs {
		return 0, false
	}
	before := w.gatewaysAt(w.startMs-w.lengthMs, w.startMs)
	var fresh int
	for g := range w.gatewaysAt(w.startMs, w.endMs) {
		if !before[g] {
			fresh++
		}
	}
	return float64(fresh) / (float64(w.lengthMs) / float64(time.Hour.Milliseconds())), true
}

// perSeen averages f over the LeaseSets the window sees.
func perSeen(f func(*observation) float64) func(*window) (float64, bool) {
	return func(w *window) (float64, bool) {
		if len(w.seen) == 0 {
			return 0, false
		}
		var sum float64
		for i := range w.seen {
			sum += f(&w.seen[i])
		}
		return sum / float64(len(w.seen)), true
	}
}

// perStored averages f over the stores in the window that have a store
// before them.
func perStored(f func(*observation) float64) func(*window) (float64, bool) {
	return func(w *window) (float64, bool) {
		var sum float64
		var n int
		for i := range w.stored {
			if w.stored[i].hasPrev {
				sum += f(&w.stored[i])
				n++
			}
		}
		if n == 0 {
			return 0, false
		}
		return sum / float64(n), true
	}
}

func endSpread(o *observation) float64 {
	if len(o.ls.Leases) == 0 {
		return 0
	}
	lo, hi := o.ls.Leases[0].End, o.ls.Leases[0].End
	for _, l := range o.ls.Leases[1:] {
		lo, hi = min(lo, l.End), max(hi, l.End)
	}
	return float64(hi - lo)
}

func leaseRemaining(o *observation) float64 {
	if len(o.ls.Leases) == 0 {
		return 0
	}
	var sum float64
	for _, l := range o.ls.Leases {
		sum += float64(int64(l.End) - int64(o.ls.Published))
	}
	return sum / float64(len(o.ls.Leases))
}

func maxReplaced(w *window) (float64, bool) {
	m, ok := 0.0, false
	for _, o := range w.stored {
		if o.hasPrev {
			m, ok = max(m, o.turnover), true
		}
	}
	return m, ok
}

func storesPer10m(w *window) (float64, bool) {
	return float64(len(w.stored)) / (float64(w.lengthMs) / float64((10 * time.Minute).Milliseconds())), true
}

func storeInterval(w *window) (float64, bool) {
	if len(w.stored) == 0 {
		return 0, false
	}
	var gaps []float64
	for i := w.storedFrom; i < w.storedFrom+len(w.stored); i++ {
		if i > 0 {
			gaps = append(gaps, float64(w.obs[i].atMs-w.obs[i-1].atMs)/1000)
		}
	}
	if len(gaps) == 0 {
		return 0, false
	}
	return median(gaps), true
}

func maxGap(w *window) (float64, bool) {
	prev, m := w.startMs, int64(0)
	for _, o := range w.stored {
		m = max(m, o.atMs-prev)
		prev = o.atMs
	}
	m = max(m, w.endMs-prev)
	return float64(m) / 1000, true
}

// median of a non-empty sample (sorted in place).
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Package growth judges whether the resources of a long-running process
// (resident memory, open file descriptors, goroutines) grew over its
// lifetime, from samples taken at intervals. The soak test
// (integration/soak_test.go, docs/reliability.md) samples every process it
// started and fails when one of them grew.
//
// A leak shows as a level that keeps rising while the workload stays the
// same. Start-up does not: a process fills its caches, opens its
// connections and starts its workers in its first minutes. Single samples
// do not either: the Go heap swings up to twice its live size between
// collections, and connections come and go. So a lifetime's samples are
// cut in quarters, the first quarter (warm-up) is ignored, and the median
// of the last quarter is compared with the median of the second; medians
// ignore spikes that last less than half a quarter.
//
// A process restarted by a fault is a new lifetime: samples carry the pid,
// and each run of samples with one pid is judged on its own, so a restart
// neither hides a leak (the old lifetime is still judged) nor looks like
// one (the new lifetime's warm-up is its own).
//
// A process whose load depends on a role it changes (an agent leads, then
// follows) is compared like with like: samples carry the role, and within
// the second and the last quarter each role's samples are compared with
// the same role's. A leader runs the balancer (router connections, tunnel
// builds in flight) and a follower does not, so a lifetime that led more
// in its last quarter than in its second would otherwise look as if it
// grew. What a role frees when it ends (a term's in-flight requests) is
// not a leak; what leaks grows in every role.
package growth

import (
	"fmt"
	"slices"
	"time"
)

// Sample is one measurement of one process. A negative value is unknown
// (the process did not answer in time, e.g. while stopped).
type Sample struct {
	At  time.Time `json:"at"`
	PID int       `json:"pid"`
	// Role is what the process was doing ("leader", "follower"; "" when
	// it has no roles or did not say).
	Role       string  `json:"role,omitempty"`
	RSS        float64 `json:"rss_bytes"`
	FDs        float64 `json:"fds"`
	Goroutines float64 `json:"goroutines"`
}

// Bound is the growth a metric may show: the larger of Abs (in the
// metric's unit) and Rel times the baseline.
type Bound struct {
	Abs float64 `json:"abs"`
	Rel float64 `json:"rel"`
}

// Allowed is the growth allowed over baseline base.
func (b Bound) Allowed(base float64) float64 { return max(b.Abs, b.Rel*base) }

// Limits are the bounds of each metric and how much of a lifetime is
// needed to judge it at all.
type Limits struct {
	RSS        Bound `json:"rss"`
	FDs        Bound `json:"fds"`
	Goroutines Bound `json:"goroutines"`
	// MinSamples and MinSpan: a lifetime with fewer known samples of a
	// metric, or shorter than MinSpan, is reported but not judged; its
	// quarters would be too short to tell warm-up from growth.
	MinSamples int           `json:"min_samples"`
	MinSpan    time.Duration `json:"min_span"`
}

// DefaultLimits are the soak test's bounds (docs/reliability.md).
//
//   - Goroutines, max(10, 20 %): a daemon runs a few goroutines per open
//     connection, and the test's clients, monitors and the nemesis's
//     partitions open and close a handful of connections at any time; 10
//     covers that churn on a small daemon, 20 % on a large one. A real
//     leak (one goroutine per request, per fault or per reconnect) adds
//     hundreds over an hour.
//   - File descriptors, max(10, 20 %): most of a daemon's descriptors are
//     those same sockets, so the same reasoning.
//   - RSS, max(16 MiB, 50 %): with GOGC=100 the heap may grow to twice the
//     live data before a collection, and the runtime returns freed pages to
//     the OS lazily, so a steady process's RSS swings widely; bbolt's
//     memory map also grows with the raft log until a snapshot compacts
//     it. Below 16 MiB those swings dominate a small process.
var DefaultLimits = Limits{
	RSS:        Bound{Abs: 16 << 20, Rel: 0.5},
	FDs:        Bound{Abs: 10, Rel: 0.2},
	Goroutines: Bound{Abs: 10, Rel: 0.2},
	MinSamples: 20,
	MinSpan:    time.Minute,
}

// Verdict is the judgement of one metric over one lifetime.
type Verdict struct {
	Judged  bool    `json:"judged"`
	Role    string  `json:"role,omitempty"` // whose samples Base and Last are
	Base    float64 `json:"base"`           // median of the second quarter
	Last    float64 `json:"last"`           // median of the last quarter
	Allowed float64 `json:"allowed"`        // growth allowed over Base
	Grew    bool    `json:"grew"`
	Note    string  `json:"note,omitempty"` // why it was not judged
}

func (v Verdict) String() string {
	switch {
	case !v.Judged:
		return "not judged (" + v.Note + ")"
	case v.Grew:
		return fmt.Sprintf("grew from %.0f to %.0f%s (more than the %.0f allowed)", v.Base, v.Last, v.as(), v.Allowed)
	}
	return fmt.Sprintf("%.0f -> %.0f%s (allowed +%.0f)", v.Base, v.Last, v.as(), v.Allowed)
}

func (v Verdict) as() string {
	if v.Role == "" {
		return ""
	}
	return " as " + v.Role
}

// Lifetime is one run of samples with the same pid and its verdicts.
type Lifetime struct {
	PID        int       `json:"pid"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Samples    int       `json:"samples"`
	First      Sample    `json:"first"`
	Last       Sample    `json:"last"`
	RSS        Verdict   `json:"rss"`
	FDs        Verdict   `json:"fds"`
	Goroutines Verdict   `json:"goroutines"`
}

// Grew reports whether any metric of the lifetime grew past its bound.
func (l Lifetime) Grew() bool { return l.RSS.Grew || l.FDs.Grew || l.Goroutines.Grew }

// Judge splits samples (one process, in time order) into lifetimes, a new
// one whenever the pid changes, and judges each metric of each.
func Judge(samples []Sample, lim Limits) []Lifetime {
	var out []Lifetime
	for start := 0; start < len(samples); {
		end := start + 1
		for end < len(samples) && samples[end].PID == samples[start].PID {
			end++
		}
		out = append(out, judgeLifetime(samples[start:end], lim))
		start = end
	}
	return out
}

func judgeLifetime(s []Sample, lim Limits) Lifetime {
	l := Lifetime{PID: s[0].PID, Start: s[0].At, End: s[len(s)-1].At, Samples: len(s), First: s[0], Last: s[len(s)-1]}
	l.RSS = judgeMetric(s, func(x Sample) float64 { return x.RSS }, lim.RSS, lim)
	l.FDs = judgeMetric(s, func(x Sample) float64 { return x.FDs }, lim.FDs, lim)
	l.Goroutines = judgeMetric(s, func(x Sample) float64 { return x.Goroutines }, lim.Goroutines, lim)
	return l
}

// judgeMetric compares, for each role, the median of the role's known
// values in the last quarter of the lifetime with their median in the
// second quarter, and reports the role that grew most. A role needs a
// quarter of MinSamples in both quarters to be compared.
func judgeMetric(s []Sample, get func(Sample) float64, b Bound, lim Limits) Verdict {
	var known []Sample
	for _, x := range s {
		if get(x) >= 0 {
			known = append(known, x)
		}
	}
	n, need := len(known), max(lim.MinSamples, 4)
	if n < need {
		return Verdict{Note: fmt.Sprintf("%d samples, need %d", n, need)}
	}
	if span := known[n-1].At.Sub(known[0].At); span < lim.MinSpan {
		return Verdict{Note: fmt.Sprintf("lived %v, need %v", span.Round(time.Second), lim.MinSpan)}
	}
	byRole := func(q []Sample) map[string][]float64 {
		m := map[string][]float64{}
		for _, x := range q {
			m[x.Role] = append(m[x.Role], get(x))
		}
		return m
	}
	second, last := byRole(known[n/4:n/2]), byRole(known[3*n/4:])
	var roles []string
	for r := range second {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	perRole := max(need/4, 1)
	var v Verdict
	for _, r := range roles {
		if len(second[r]) < perRole || len(last[r]) < perRole {
			continue
		}
		c := Verdict{Judged: true, Role: r, Base: median(second[r]), Last: median(last[r])}
		c.Allowed = b.Allowed(c.Base)
		c.Grew = c.Last-c.Base > c.Allowed
		if !v.Judged || c.Last-c.Base-c.Allowed > v.Last-v.Base-v.Allowed {
			v = c
		}
	}
	if !v.Judged {
		v.Note = fmt.Sprintf("no role with %d samples in both the second and the last quarter", perRole)
	}
	return v
}

// median of vs (not empty); vs is not modified.
func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

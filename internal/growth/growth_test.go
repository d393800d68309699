package growth

import (
	"math"
	"strings"
	"testing"
	"time"
)

// series builds n samples one second apart (from t0 plus offset seconds)
// of pid, each metric from its function of the sample's index.
func series(pid, offset, n int, rss, fds, gor func(i int) float64) []Sample {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]Sample, n)
	for i := range n {
		out[i] = Sample{At: t0.Add(time.Duration(offset+i) * time.Second), PID: pid, RSS: rss(i), FDs: fds(i), Goroutines: gor(i)}
	}
	return out
}

func flat(v float64) func(int) float64 { return func(int) float64 { return v } }

// noisy swings around v by up to ±amp with a period of 7 samples.
func noisy(v, amp float64) func(int) float64 {
	return func(i int) float64 { return v + amp*math.Sin(float64(i)*2*math.Pi/7) }
}

// ramp rises by step per sample from v.
func ramp(v, step float64) func(int) float64 {
	return func(i int) float64 { return v + step*float64(i) }
}

// warm rises from v0 to v over the first k samples, then stays at v.
func warm(v0, v float64, k int) func(int) float64 {
	return func(i int) float64 {
		if i >= k {
			return v
		}
		return v0 + (v-v0)*float64(i)/float64(k)
	}
}

// sawtooth is a GC cycle: from v to 2v over period samples, then back.
func sawtooth(v float64, period int) func(int) float64 {
	return func(i int) float64 { return v + v*float64(i%period)/float64(period) }
}

// spike is v with a burst to peak in samples [from, to).
func spike(v, peak float64, from, to int) func(int) float64 {
	return func(i int) float64 {
		if i >= from && i < to {
			return peak
		}
		return v
	}
}

const mib = 1 << 20

func TestJudge(t *testing.T) {
	// Each case's want is, per lifetime, which metrics grew ("" for
	// none) or "-" for a lifetime that is not judged at all.
	for _, tt := range []struct {
		name    string
		samples []Sample
		want    []string
	}{
		{"flat", series(1, 0, 300, flat(40*mib), flat(30), flat(80)), []string{""}},
		{"flat with noise", series(1, 0, 300, noisy(40*mib, 10*mib), noisy(30, 6), noisy(80, 9)), []string{""}},
		{"GC sawtooth", series(1, 0, 300, sawtooth(40*mib, 37), flat(30), flat(80)), []string{""}},
		{"slow goroutine leak", series(1, 0, 600, flat(40*mib), flat(30), ramp(80, 0.2)), []string{"goroutines"}},
		{"slow fd leak", series(1, 0, 600, flat(40*mib), ramp(30, 0.1), flat(80)), []string{"fds"}},
		{"slow memory leak", series(1, 0, 600, ramp(40*mib, 0.2*mib), flat(30), flat(80)), []string{"rss"}},
		{"leak of everything", series(1, 0, 600, ramp(40*mib, 0.2*mib), ramp(30, 0.1), ramp(80, 0.2)), []string{"rss fds goroutines"}},
		// Growth within the bounds: +8 goroutines on 30 is under the
		// absolute 10; +15 % fds on 200 under 20 %; RSS +40 %.
		{"small steady growth", series(1, 0, 400, warm(50*mib, 70*mib, 300), warm(200, 230, 300), warm(30, 38, 300)), []string{""}},
		{"warm-up then flat", series(1, 0, 300, warm(10*mib, 60*mib, 60), warm(8, 40, 60), warm(5, 120, 60)), []string{""}},
		{"warm-up spike then flat", series(1, 0, 300, spike(40*mib, 400*mib, 0, 50), spike(30, 300, 5, 40), spike(80, 900, 0, 60)), []string{""}},
		{"short spike late", series(1, 0, 300, spike(40*mib, 400*mib, 250, 260), spike(30, 300, 250, 260), spike(80, 900, 250, 260)), []string{""}},
		{"too short to judge", series(1, 0, 15, ramp(40*mib, 10*mib), ramp(30, 10), ramp(80, 10)), []string{"-"}},
		{"too brief to judge", series(1, 0, 50, ramp(40*mib, 10*mib), ramp(30, 10), ramp(80, 10)), []string{"-"}},
		// Restart mid-run: the first lifetime leaked and was killed; the
		// second warms up from scratch and is flat. Judged as one series,
		// the warm-up after the restart would hide the first leak.
		{"restart after a leak", append(series(1, 0, 200, flat(40*mib), flat(30), ramp(80, 0.5)),
			series(2, 200, 200, warm(10*mib, 40*mib, 20), warm(5, 30, 20), warm(5, 80, 20))...), []string{"goroutines", ""}},
		// A restart in the middle of a flat run: the new process starts
		// low and climbs back to the old level, which as one series
		// would look like growth from the low point.
		{"restart, both flat", append(series(1, 0, 100, flat(40*mib), flat(30), flat(80)),
			series(2, 100, 300, warm(10*mib, 40*mib, 30), warm(5, 30, 30), warm(5, 80, 30))...), []string{"", ""}},
		{"restart soon after start", append(series(1, 0, 10, flat(40*mib), flat(30), flat(80)),
			series(2, 10, 300, flat(40*mib), flat(30), ramp(80, 0.5))...), []string{"-", "goroutines"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Judge(tt.samples, DefaultLimits)
			if len(got) != len(tt.want) {
				t.Fatalf("%d lifetimes, want %d", len(got), len(tt.want))
			}
			for i, l := range got {
				if s := grewString(l); s != tt.want[i] {
					t.Errorf("lifetime %d (pid %d): %q, want %q; rss %v, fds %v, goroutines %v", i, l.PID, s, tt.want[i], l.RSS, l.FDs, l.Goroutines)
				}
			}
		})
	}
}

func grewString(l Lifetime) string {
	if !l.RSS.Judged && !l.FDs.Judged && !l.Goroutines.Judged {
		return "-"
	}
	var grew []string
	for _, m := range []struct {
		name string
		v    Verdict
	}{{"rss", l.RSS}, {"fds", l.FDs}, {"goroutines", l.Goroutines}} {
		if m.v.Grew {
			grew = append(grew, m.name)
		}
	}
	return strings.Join(grew, " ")
}

// agent is an agent's lifetime of n samples that leads in the samples
// where leads(i) holds: as a follower 40 goroutines (plus leak*i), as a
// leader 40 more and a backlog of in-flight requests that builds up over
// the first 15 s of a term (150 more, freed at the step-down).
func agent(n int, leads func(i int) bool, leak float64) []Sample {
	s := series(1, 0, n, flat(40*mib), flat(30), flat(0))
	term := 0
	for i := range s {
		s[i].Role, s[i].Goroutines = "follower", 40+leak*float64(i)
		if !leads(i) {
			term = 0
			continue
		}
		term++
		s[i].Role = "leader"
		s[i].Goroutines += 40 + min(150, 10*float64(term))
		s[i].RSS += 8 * mib
	}
	return s
}

// TestJudgeRoles: a role change is not growth; a leak in every role is.
func TestJudgeRoles(t *testing.T) {
	// Leads 30 % of the time in the first half (one 30 s term in every
	// 100 s), 70 % in the second (two 35 s terms in every 100 s): as one
	// series the median would more than double.
	more := func(i int) bool {
		if i < 300 {
			return i%100 < 30
		}
		return i%50 < 35
	}
	for _, tt := range []struct {
		name   string
		s      []Sample
		judged bool
		grew   bool
	}{
		{"leads more later", agent(600, more, 0), true, false},
		{"leads more later, leaks", agent(600, more, 0.1), true, true},
		{"never leads, leaks", agent(600, func(int) bool { return false }, 0.1), true, true},
		{"follows, then leads only", agent(600, func(i int) bool { return i >= 300 }, 0), false, false},
	} {
		l := Judge(tt.s, DefaultLimits)[0]
		if l.Goroutines.Judged != tt.judged || l.Goroutines.Grew != tt.grew {
			t.Errorf("%s: goroutines %v (judged %v), want judged %v, grew %v", tt.name, l.Goroutines, l.Goroutines.Judged, tt.judged, tt.grew)
		}
		if l.RSS.Grew {
			t.Errorf("%s: rss %v", tt.name, l.RSS)
		}
	}
}

// TestJudgeUnknown: samples where a metric is unknown (a stopped process
// did not answer its /metrics) are left out of that metric only.
func TestJudgeUnknown(t *testing.T) {
	s := series(1, 0, 300, flat(40*mib), flat(30), ramp(80, 0.5))
	for i := range s {
		if i%3 == 0 {
			s[i].Goroutines = -1
		}
	}
	l := Judge(s, DefaultLimits)[0]
	if !l.Goroutines.Judged || !l.Goroutines.Grew || l.FDs.Grew || l.RSS.Grew {
		t.Fatalf("goroutines %v, fds %v, rss %v; want only the goroutines grown", l.Goroutines, l.FDs, l.RSS)
	}
	for i := range s {
		s[i].Goroutines = -1
	}
	if l := Judge(s, DefaultLimits)[0]; l.Goroutines.Judged || !strings.Contains(l.Goroutines.Note, "0 samples") {
		t.Fatalf("no goroutine samples: %v", l.Goroutines)
	}
}

// TestBoundAllowed: the absolute floor for small bases, the fraction for
// large ones.
func TestBoundAllowed(t *testing.T) {
	b := DefaultLimits.Goroutines
	for _, tt := range []struct{ base, want float64 }{{0, 10}, {30, 10}, {50, 10}, {100, 20}, {1000, 200}} {
		if got := b.Allowed(tt.base); got != tt.want {
			t.Errorf("Allowed(%v) = %v, want %v", tt.base, got, tt.want)
		}
	}
}

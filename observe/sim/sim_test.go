package sim

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/balancer"
	"github.com/imh-project/imh/observe"
)

func shortConfig(hours float64) Config {
	c := DefaultConfig()
	c.Hours = hours
	return c
}

// TestDeterministic: the same seed gives the same stores, byte for byte,
// for the runs of Runs and for a further single (single-c).
func TestDeterministic(t *testing.T) {
	c := shortConfig(1.5)
	for _, name := range []string{RunSingleA, RunIMHSpread, SingleRun(2)} {
		a, err := Run(c, name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Run(c, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Stores) == 0 || !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: two runs of one seed differ (%d and %d stores)", name, len(a.Stores), len(b.Stores))
		}
	}
}

// TestRunSeeds: every run of a seed, with all MaxSingles singles, derives
// a seed of its own, and no run of seeds 0 to 9 shares one with another
// seed's (a population over several seeds has no router twice); the runs
// of Runs keep their seeds (c.Seed·6 + index), so existing files do not
// change.
func TestRunSeeds(t *testing.T) {
	runs, err := RunsWithSingles(MaxSingles)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != MaxSingles+len(Runs)-2 || runs[0] != RunSingleA || runs[1] != RunSingleB || runs[2] != "single-c" || runs[MaxSingles-1] != "single-z" || runs[MaxSingles] != RunIMHSpread {
		t.Fatalf("runs %v", runs)
	}
	if two, err := RunsWithSingles(2); err != nil || !slices.Equal(two, Runs) {
		t.Fatalf("two singles: %v, %v; want Runs", two, err)
	}
	for _, n := range []int{-1, 0, 1, MaxSingles + 1} {
		if _, err := RunsWithSingles(n); err == nil {
			t.Errorf("%d singles accepted", n)
		}
	}
	seen := map[uint64]string{}
	for s := range uint64(10) {
		c := DefaultConfig()
		c.Seed = s
		for _, name := range runs {
			d, ok := runSeed(c, name)
			if !ok {
				t.Fatalf("no seed for %s", name)
			}
			if idx := slices.Index(Runs, name); idx >= 0 && d != s*6+uint64(idx) {
				t.Errorf("seed %d, %s: derived %d, want %d as before", s, name, d, s*6+uint64(idx))
			}
			key := fmt.Sprintf("seed %d %s", s, name)
			if other, dup := seen[d]; dup {
				t.Errorf("%s and %s share the derived seed %d", key, other, d)
			}
			seen[d] = key
		}
	}
	if _, ok := runSeed(DefaultConfig(), "single-0"); ok {
		t.Error("unknown run given a seed")
	}
	if _, err := Run(shortConfig(1), "single-0"); err == nil {
		t.Error("unknown run made")
	}
}

// TestInvisibility guards the tuned features: over a few simulated hours,
// imh spread's advantage against one router stays within the noise floor
// (two single-router seeds) plus a margin, where the lost tuning showed.
// So that the guard cannot pass vacuously, each tuning issue 20 made is
// undone in turn (the balancer's configuration as it was before) and the
// guard must then fail on the feature that tuning fixed.
func TestInvisibility(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated hours")
	}
	base := shortConfig(4)
	a, err := Run(base, RunSingleA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(base, RunSingleB)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		// untune undoes one tuning; nil keeps balancer.DefaultConfig.
		untune func(*balancer.Config)
		// want is the feature the guard must complain of; "" none.
		want string
	}{
		{name: "tuned (balancer.DefaultConfig)"},
		// Distinct gateways per LeaseSet (a tuning of issue 20) is not
		// undone here: since each router also keeps a spare (BuildShare),
		// 16 tunnels share a set of about 19 gateways and a distinct draw
		// has to reuse them too (gateway_reuse 0.16 against the tuned
		// 0.19 and one router's 0.27, seed 4, 4 h): the guard cannot
		// tell it apart any more, nor could an observer.
		// Nor is the replacement jitter (ReplaceJitter): what it fixes is
		// a drift over the hours of a day (docs/privacy.md, five seeds of
		// 24 h); in the first 4 h single routers are still in step from
		// their start too (without it: max_replaced 0.72 against a floor
		// of 0.67, seed 4).
		{name: "no minimum publish interval", want: "store_interval",
			untune: func(c *balancer.Config) { c.MinPublishInterval = 0 }},
		{name: "a gateway rotated every 10 minutes", want: "gateway_churn",
			untune: func(c *balancer.Config) { c.Gateways.RotateEvery, c.Gateways.RotateCount = 10*time.Minute, 1 }},
		// The spares keep the lease count whole here; what still shows is
		// the LeaseSets' older leases.
		{name: "leases kept to 30 s before their end", want: "expires_offset",
			untune: func(c *balancer.Config) { c.ReplaceBefore, c.MinLeaseRemaining = 30*time.Second, 30*time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			if tc.untune != nil {
				tc.untune(&c.Balancer)
			}
			h, err := Run(c, RunIMHSpread)
			if err != nil {
				t.Fatal(err)
			}
			complaints, err := invisibilityGuard(h, a, b)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("guard: %q", complaints)
			switch {
			case tc.want == "" && len(complaints) > 0:
				t.Errorf("the tuned policy fails the guard:\n%s", strings.Join(complaints, "\n"))
			case tc.want != "" && !slices.ContainsFunc(complaints, func(s string) bool { return strings.HasPrefix(s, tc.want+":") }):
				t.Errorf("the guard does not see the untuned %s (complaints: %q)", tc.want, complaints)
			}
		})
	}
}

// invisibilityGuard lists what gives imh history h away against the
// single-router history a, with a and b (two single-router seeds) as the
// noise floor; each line starts with the feature's name.
func invisibilityGuard(h, a, b *observe.History) ([]string, error) {
	rep, err := observe.Analyze(observe.AnalyzeInput{A: h, B: a, FloorA: a, FloorB: b, Windows: observe.DefaultWindowConfig()})
	if err != nil {
		return nil, err
	}
	var out []string
	// Margins above the floor: what the 24 h tuning reached plus the
	// noise of 4 h samples; before tuning these were 0.7..1.0.
	margin := map[string]float64{"gateway_churn": 0.45, "store_interval": 0.45, "lease_count": 0.2}
	// Means where 4 h of windows are too few for the advantage to be
	// stable: expires_offset was 70 s short of one router's before the
	// leases were retired at their replacement; leases kept to 30 s
	// before their end are 9.2 s short (16.8 s with the 6 s jitter of
	// before), the tuned balancer 0.1 s over.
	meanGap := map[string]float64{"expires_offset": 5}
	for _, f := range rep.Features {
		if f.MeanA == nil || f.MeanB == nil {
			continue
		}

		ma, mb := *f.MeanA, *f.MeanB
		if g, ok := meanGap[f.Name]; ok && math.Abs(ma-mb) > g {
			out = append(out, fmt.Sprintf("%s: mean %.1f against one router's %.1f", f.Name, ma, mb))
		}
		switch f.Name {
		case "gateway_reuse":
			// Distinct gateways per LeaseSet reuse a gateway a third as
			// often as one router (0.05..0.08 against 0.17..0.27 over
			// seeds 1..5); the tuned draw 0.18..0.23.
			if ma < mb/2 {
				out = append(out, fmt.Sprintf("%s: mean %.2f, under half of one router's %.2f", f.Name, ma, mb))
			}
		case "gateway_churn":
			// A rotation of one member per 10 min gave 6..9 new gateways
			// an hour against one router's 1.7..2.2; tuned 1.5..2.7.
			if ma > 2*mb+1 {
				out = append(out, fmt.Sprintf("%s: mean %.2f/h, over twice one router's %.2f/h plus one", f.Name, ma, mb))
			}
		}
		if m, ok := margin[f.Name]; ok && f.Advantage != nil && f.Floor != nil && *f.Advantage > *f.Floor+m {
			out = append(out, fmt.Sprintf("%s: advantage %.2f, floor %.2f: more than %.2f above it", f.Name, *f.Advantage, *f.Floor, m))
		}
	}
	// A single router never publishes two LeaseSets within its minimum
	// interval (20 s, i2pd); without MinPublishInterval imh did so for 70%
	// of its stores, which the windows' median interval shows only by
	// chance over 4 h.
	if sh, sa := shortIntervals(h), shortIntervals(a); sh > sa+0.05 {
		out = append(out, fmt.Sprintf("store_interval: %.0f%% of stores within 19 s of the one before, one router %.0f%%", 100*sh, 100*sa))
	}
	return out, nil
}

// shortIntervals is the fraction of h's stores that follow the one
// before by less than 19 s (a single router's minimum is 20 s).
func shortIntervals(h *observe.History) float64 {
	if len(h.Stores) < 2 {
		return 0
	}
	n := 0
	for i := 1; i < len(h.Stores); i++ {
		if h.Stores[i].AtMillis-h.Stores[i-1].AtMillis < 19_000 {
			n++
		}
	}
	return float64(n) / float64(len(h.Stores)-1)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no routers", func(c *Config) { c.Routers = 0 }},
		{"no hours", func(c *Config) { c.Hours = 0 }},
		{"bad policy", func(c *Config) { c.ChurnPolicy = "nope" }},
		{"too many leases", func(c *Config) { c.Leases = 17 }},
		{"negative jitter", func(c *Config) { c.Balancer.ReplaceJitter = -time.Second }},
		{"jitter past the replacement", func(c *Config) { c.Balancer.ReplaceJitter = c.Balancer.ReplaceBefore }},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := Run(DefaultConfig(), "other"); err == nil {
		t.Error("unknown run accepted")
	}
}

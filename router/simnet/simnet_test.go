package simnet_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router/simnet"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*simnet.Config)
		ok   bool
	}{
		{"default", func(*simnet.Config) {}, true},
		{"few peers", func(c *simnet.Config) { c.Peers = 5 }, false},
		{"no floodfills", func(c *simnet.Config) { c.Floodfills = 0 }, false},
		{"more floodfills than peers", func(c *simnet.Config) { c.Floodfills = c.Peers + 1 }, false},
		{"redundancy", func(c *simnet.Config) { c.StoreRedundancy = 0 }, false},
		{"no classes", func(c *simnet.Config) { c.Classes = nil }, false},
		{"bad reliability", func(c *simnet.Config) { c.Classes[0].Reliability = 1.5 }, false},
		{"zero lifetime", func(c *simnet.Config) { c.TunnelLifetime = 0 }, false},
		{"drop share", func(c *simnet.Config) { c.DropShare = 2 }, false},
		{"churn", func(c *simnet.Config) { c.FastTierChurn = c.FastTierSize + 1 }, false},
		{"relookup after no failure", func(c *simnet.Config) { c.RelookupFailures = 0 }, false},
		{"negative relookup interval", func(c *simnet.Config) { c.RelookupInterval = -time.Second }, false},
		{"relookup without a limit", func(c *simnet.Config) { c.RelookupInterval = 0 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := simnet.DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, simnet.ErrBadConfig) {
				t.Fatalf("error %v does not wrap ErrBadConfig", err)
			}
		})
	}
}

func TestPeerPopulation(t *testing.T) {
	n := newNetwork(t, testConfig(1))
	peers := n.Peers()
	if len(peers) != 2000 {
		t.Fatalf("%d peers, want 2000", len(peers))
	}
	ff, unreachable := 0, 0
	classes := map[byte]int{}
	for _, p := range peers {
		classes[p.BandwidthClass]++
		if p.Floodfill {
			ff++
			if !p.Reachable {
				t.Errorf("floodfill %s unreachable", p.Hash)
			}
		}
		if !p.Reachable {
			unreachable++
		}
		if p.Reliability <= 0 || p.Reliability >= 1 || p.Latency <= 0 {
			t.Errorf("peer %s: reliability %v latency %v", p.Hash, p.Reliability, p.Latency)
		}
		if p.Caps[0] != p.BandwidthClass {
			t.Errorf("caps %q for class %c", p.Caps, p.BandwidthClass)
		}
	}
	if ff != 100 {
		t.Errorf("%d floodfills, want 100", ff)
	}
	if unreachable < 140 || unreachable > 260 {
		t.Errorf("%d unreachable peers, want about 200", unreachable)
	}
	for _, c := range simnet.DefaultClasses() {
		want := c.Share * 2000
		if got := float64(classes[c.Letter]); math.Abs(got-want) > 5*math.Sqrt(want)+5 {
			t.Errorf("class %c: %v peers, want about %v", c.Letter, got, want)
		}
	}
}

// TestBuildStatistics builds many tunnels through fixed explicit hops and
// checks the success rate against the product of the hops' reliabilities,
// the latency of successful builds against RouterLatency plus the hops' mean
// latencies, and the share of failures that time out against DropShare.
func TestBuildStatistics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		cfg := testConfig(11)
		n := newNetwork(t, cfg)
		l, err := n.Attach("stats")
		if err != nil {
			t.Fatal(err)
		}
		var hops []simnet.Peer
		for _, p := range n.Peers() { // three peers of different classes
			if len(hops) < 3 && p.Reliability < 0.9 && !slices.ContainsFunc(hops, func(q simnet.Peer) bool { return q.BandwidthClass == p.BandwidthClass }) {
				hops = append(hops, p)
			}
		}
		wantP, wantLat := 1.0, cfg.RouterLatency
		req := simnet.BuildRequest{Inbound: true}
		for _, h := range hops {
			wantP *= h.Reliability
			wantLat += h.Latency
			req.Hops = append(req.Hops, h.Hash)
		}
		const builds = 4000
		ok, timeouts, failed := 0, 0, 0
		var okLat time.Duration
		for range builds {
			start := time.Now()
			tun, err := l.BuildTunnel(ctx, req)
			took := time.Since(start)
			switch {
			case err == nil:
				ok++
				okLat += took
				if !slices.Equal(tun.Hops, req.Hops) || tun.Gateway != req.Hops[0] {
					t.Fatalf("explicit hops not honoured: %v", tun.Hops)
				}
				if tun.Expires.Sub(tun.Created) != 10*time.Minute {
					t.Fatalf("tunnel lifetime %v", tun.Expires.Sub(tun.Created))
				}
			case errors.Is(err, simnet.ErrBuildFailed):
				failed++
				if took == cfg.BuildTimeout {
					timeouts++
				}
			default:
				t.Fatal(err)
			}
		}
		rate := float64(ok) / builds
		sigma := math.Sqrt(wantP * (1 - wantP) / builds)
		meanLat := okLat / time.Duration(ok)
		t.Logf("3 explicit hops (%c %.3f, %c %.3f, %c %.3f): success %.4f, model %.4f (sigma %.4f); mean latency %v, model %v; timeouts %d of %d failures (model share %.2f)",
			hops[0].BandwidthClass, hops[0].Reliability, hops[1].BandwidthClass, hops[1].Reliability, hops[2].BandwidthClass, hops[2].Reliability,
			rate, wantP, sigma, meanLat, wantLat, timeouts, failed, cfg.DropShare)
		if math.Abs(rate-wantP) > 4*sigma {
			t.Errorf("success rate %.4f, model %.4f +/- %.4f", rate, wantP, 4*sigma)
		}
		if d := math.Abs(float64(meanLat-wantLat)) / float64(wantLat); d > 0.03 {
			t.Errorf("mean latency %v, model %v (off by %.1f%%)", meanLat, wantLat, 100*d)
		}
		share := float64(timeouts) / float64(failed)
		if s := math.Sqrt(cfg.DropShare * (1 - cfg.DropShare) / float64(failed)); math.Abs(share-cfg.DropShare) > 4*s {
			t.Errorf("timeout share %.3f, model %.2f", share, cfg.DropShare)
		}
		st := n.Stats()["stats"]
		if st.BuildsOK != ok || st.BuildsFailed != failed {
			t.Errorf("stats %+v, counted %d ok %d failed", st, ok, failed)
		}
	})
}

func TestBuildRequestErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		n := newNetwork(t, testConfig(2))
		l, _ := n.Attach("r")
		p := n.Peers()
		for _, tc := range []struct {
			name string
			req  simnet.BuildRequest
			want error
		}{
			{"too long", simnet.BuildRequest{HopCount: 8}, simnet.ErrBadRequest},
			{"negative", simnet.BuildRequest{HopCount: -1}, simnet.ErrBadRequest},
			{"count disagrees", simnet.BuildRequest{HopCount: 2, Hops: []i2p.Hash{p[0].Hash}}, simnet.ErrBadRequest},
			{"unknown peer", simnet.BuildRequest{Hops: []i2p.Hash{{1, 2, 3}}}, simnet.ErrUnknownPeer},
			{"repeated hop", simnet.BuildRequest{Hops: []i2p.Hash{p[0].Hash, p[0].Hash}}, simnet.ErrBadRequest},
		} {
			if _, err := l.BuildTunnel(ctx, tc.req); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		tun, err := l.BuildTunnel(ctx, simnet.BuildRequest{Inbound: true, HopCount: 0})
		if err != nil || tun.Gateway != l.Hash() || len(tun.Hops) != 0 {
			t.Fatalf("0-hop inbound: %+v %v, want gateway = router", tun, err)
		}
		if _, err := n.Attach("r"); !errors.Is(err, simnet.ErrNameInUse) {
			t.Fatalf("second attach of r: %v, want ErrNameInUse", err)
		}
		l.Close()
		if _, err := l.BuildTunnel(ctx, simnet.BuildRequest{}); !errors.Is(err, simnet.ErrClosed) {
			t.Fatalf("build after close: %v, want ErrClosed", err)
		}
		if _, err := n.Attach("r"); err != nil {
			t.Fatalf("re-attach after close: %v", err)
		}
	})
}

// TestGatewaySlice checks that router-chosen inbound gateways come from the
// pool's slice of the fast tier: the whole tier at 1 hop, about half at 2,
// about a quarter at 3+, different per pool.
func TestGatewaySlice(t *testing.T) {
	for _, tc := range []struct {
		hops     int
		min, max int // size of the slice of a 75-peer tier
	}{
		{1, 75, 75}, {2, 25, 50}, {3, 8, 30}, {5, 8, 30},
	} {
		t.Run("hops="+string(rune('0'+tc.hops)), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				n := newNetwork(t, testConfig(5))
				l, _ := n.Attach("r1")
				tier, err := l.FastTier(ctx)
				if err != nil || len(tier) != 75 {
					t.Fatalf("fast tier: %d peers, %v", len(tier), err)
				}
				slices := map[string]map[i2p.Hash]bool{}
				for _, pool := range []string{"dest-a", "dest-b"} {
					slice := simnet.GatewaySlice(tier, pool, tc.hops)
					if len(slice) < tc.min || len(slice) > tc.max {
						t.Fatalf("pool %s: slice of %d peers, want %d..%d", pool, len(slice), tc.min, tc.max)
					}
					in := map[i2p.Hash]bool{}
					for _, p := range slice {
						in[p.Hash] = true
					}
					slices[pool] = in
					used := map[i2p.Hash]bool{}
					for range 300 {
						// Builds take time and the tier churns: check each
						// gateway against the slice of the tier it was
						// chosen from.
						now, _ := l.FastTier(ctx)
						in := map[i2p.Hash]bool{}
						for _, p := range simnet.GatewaySlice(now, pool, tc.hops) {
							in[p.Hash] = true
						}
						tun, err := l.BuildTunnel(ctx, simnet.BuildRequest{Inbound: true, HopCount: tc.hops, Pool: pool})
						if errors.Is(err, simnet.ErrBuildFailed) {
							continue
						}
						if err != nil {
							t.Fatal(err)
						}
						if len(tun.Hops) != tc.hops || tun.Gateway != tun.Hops[0] {
							t.Fatalf("tunnel %+v", tun)
						}
						if !in[tun.Gateway] {
							t.Fatalf("pool %s, %d hops: gateway %s outside the slice", pool, tc.hops, tun.Gateway)
						}
						used[tun.Gateway] = true
					}
					t.Logf("pool %s, %d hops: slice %d of %d, %d gateways used", pool, tc.hops, len(slice), len(tier), len(used))
				}
				if tc.hops > 1 && mapsEqual(slices["dest-a"], slices["dest-b"]) {
					t.Fatalf("pools share one slice")
				}
			})
		})
	}
}

func mapsEqual(a, b map[i2p.Hash]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func TestFastTierChurnsSlowly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		cfg := testConfig(3)
		n := newNetwork(t, cfg)
		l, _ := n.Attach("r1")
		other, _ := n.Attach("r2")
		t0, _ := l.FastTier(ctx)
		o0, _ := other.FastTier(ctx)
		if common := overlap(t0, o0); common == len(t0) || common < 20 {
			t.Fatalf("r1 and r2 tiers share %d of %d peers, want similar but not equal views", common, len(t0))
		}
		time.Sleep(cfg.ChurnInterval)
		t1, _ := l.FastTier(ctx)
		if changed := len(t0) - overlap(t0, t1); changed < 1 || changed > cfg.FastTierChurn {
			t.Fatalf("after one churn interval %d peers changed, want 1..%d", changed, cfg.FastTierChurn)
		}
		time.Sleep(24 * time.Hour)
		t2, _ := l.FastTier(ctx)
		if changed := len(t0) - overlap(t0, t2); changed < 20 {
			t.Fatalf("after a day only %d peers changed", changed)
		}
		t.Logf("tiers of r1 and r2 share %d of 75; r1 changed %d after 10 min, %d after a day", overlap(t0, o0), len(t0)-overlap(t0, t1), len(t0)-overlap(t0, t2))
	})
}

func overlap(a, b []simnet.Peer) int {
	n := 0
	for _, p := range a {
		if slices.ContainsFunc(b, func(q simnet.Peer) bool { return q.Hash == p.Hash }) {
			n++
		}
	}
	return n
}

// TestDeterminism: the same seed gives the same peers, fast tiers and
// sequence of builds; another seed does not.
func TestDeterminism(t *testing.T) {
	type trace struct {
		peers []simnet.Peer
		tier  []simnet.Peer
		hash  i2p.Hash
		steps []string
	}
	run := func(seed int64) trace {
		var tr trace
		synctest.Test(t, func(t *testing.T) {
			ctx := context.Background()
			n := newNetwork(t, testConfig(seed))
			l, _ := n.Attach("r1")
			tr.peers = n.Peers()
			tr.tier, _ = l.FastTier(ctx)
			tr.hash = l.Hash()
			for i := range 40 {
				tun, err := l.BuildTunnel(ctx, simnet.BuildRequest{Inbound: i%2 == 0, HopCount: 1 + i%3, Pool: "p"})
				step := time.Now().Format(time.RFC3339Nano)
				if err != nil {
					step += " " + err.Error()
				} else {
					step += " " + tun.Gateway.String() + " " + string(rune(tun.ID))
					for _, h := range tun.Hops {
						step += " " + h.String()
					}
				}
				tr.steps = append(tr.steps, step)
			}
		})
		return tr
	}
	a, b, c := run(42), run(42), run(43)
	if !slices.Equal(a.peers, b.peers) || !slices.Equal(a.tier, b.tier) || a.hash != b.hash || !slices.Equal(a.steps, b.steps) {
		t.Fatal("two networks with seed 42 differ")
	}
	if slices.Equal(a.peers, c.peers) || slices.Equal(a.steps, c.steps) || a.hash == c.hash {
		t.Fatal("seeds 42 and 43 give the same network")
	}
}

// TestFloodfills: only verified, time-valid, strictly newer LeaseSets are
// stored; lookups and stores are counted with the history.
func TestFloodfills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		n := newNetwork(t, testConfig(9))
		r := attachFake(t, n, "r1")
		d := newTestDest(t, 2)
		tuns := r.buildInbound(ctx, 2, 1, "p")
		now := time.Now()
		first := d.leaseSet(t, now, 10*time.Minute, tuns)
		badSig := slices.Clone(first)
		badSig[len(badSig)-1] ^= 1
		other := newTestDest(t, 3)
		// A LeaseSet of d signed with other's keys: parse d's, re-sign as other.
		forged := forge(t, d.leaseSet(t, now.Add(5*time.Second), 10*time.Minute, tuns), other)

		if _, err := r.link.Lookup(ctx, d.hash()); !errors.Is(err, simnet.ErrNotFound) {
			t.Fatalf("lookup before publish: %v, want ErrNotFound", err)
		}
		steps := []struct {
			name string
			ls   []byte
			ok   bool
		}{
			{"first", first, true},
			{"same published", d.leaseSet(t, now, 10*time.Minute, tuns[:1]), false},
			{"bad signature", badSig, false},
			{"signed by another key", forged, false},
			{"garbage", []byte("not a leaseset"), false},
			{"newer", d.leaseSet(t, now.Add(time.Second), 10*time.Minute, tuns[:1]), true},
			{"older again", d.leaseSet(t, now.Add(-time.Second), 10*time.Minute, tuns), false},
			{"expired", d.leaseSet(t, now.Add(-20*time.Minute), 10*time.Minute, tuns), false},
			{"too far ahead", d.leaseSet(t, now.Add(2*time.Second), 15*time.Minute, tuns), false},
		}
		stored := 0
		for _, s := range steps {
			err := r.link.Publish(ctx, s.ls)
			if s.ok != (err == nil) {
				t.Fatalf("%s: publish = %v, want ok=%v", s.name, err, s.ok)
			}
			if err != nil && !errors.Is(err, simnet.ErrLeaseSetRejected) {
				t.Fatalf("%s: %v does not wrap ErrLeaseSetRejected", s.name, err)
			}
			if err == nil {
				stored++
				got, err := r.link.Lookup(ctx, d.hash())
				if err != nil || !slices.Equal(got, s.ls) {
					t.Fatalf("%s: lookup after store: %v", s.name, err)
				}
			}
		}
		st := n.DestStatus(d.hash())
		if st.Stores != stored || st.Rejected != len(steps)-stored-2 || st.Lookups != stored+1 || len(st.History) != stored || len(st.Floodfills) != 3 {
			t.Fatalf("status %+v, want %d stores, %d rejected (garbage and the forgery count elsewhere), %d lookups", st, stored, len(steps)-stored-2, stored+1)
		}
		if st.History[0].LeaseSet != i2p.Base64.EncodeToString(first) || st.History[0].StoredAt != now.Unix()+0 && st.History[0].StoredAt != now.Add(100*time.Millisecond).Unix() {
			t.Fatalf("history[0] = %+v", st.History[0])
		}
		time.Sleep(11 * time.Minute)
		if _, err := r.link.Lookup(ctx, d.hash()); !errors.Is(err, simnet.ErrNotFound) {
			t.Fatalf("lookup of an expired leaseset: %v, want ErrNotFound", err)
		}
	})
}

// forge replaces the destination of a signed LeaseSet2 by another's and
// keeps the original signature bytes, so it parses but does not verify.
func forge(t *testing.T, ls []byte, other *testDest) []byte {
	t.Helper()
	parsed, err := i2p.ParseLeaseSet2(ls)
	if err != nil {
		t.Fatal(err)
	}
	sig := parsed.Signature
	parsed.Destination = other.keys.Destination()
	if err := parsed.Sign(other.keys); err != nil {
		t.Fatal(err)
	}
	parsed.Signature = sig
	b, err := parsed.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

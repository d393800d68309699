package balancer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/routerproto"
)

// termCluster lets two balancers share one fsm with different terms (an old
// and a new leader).
type termCluster struct {
	*fakeCluster
	term uint64
}

func (c termCluster) LeadershipTerm() (uint64, bool) { return c.term, c.term != 0 }

type harness struct {
	t       *testing.T
	cl      *fakeCluster
	net     *fakeNet
	routers []*fakeRouter
	keys    *i2p.PrivateKeys
	ek      *i2p.LeaseSetKey
	tune    func(*Config) // if set, adjusts the config start uses
}

type running struct {
	b      *Balancer
	cancel context.CancelFunc
	done   chan error
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() && os.Getenv("BALANCER_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newHarness makes n fake routers with caps, registers them and one
// destination "web" with settings s.
func newHarness(t *testing.T, n int, caps []string, s fsm.Settings) *harness {
	h := &harness{t: t, cl: newFakeCluster(5), net: newFakeNet(400)}
	for i := range n {
		name := "r" + string(rune('1'+i))
		r := h.net.addRouter(name, i, caps)
		h.routers = append(h.routers, r)
		h.cl.mustApply(t, &fsm.RouterPut{Name: name, Addr: r.addr})
	}
	h.keys, h.ek = h.cl.addDest(t, "web", 7, s)
	return h
}

func (h *harness) start(term uint64, seed uint64) *running {
	h.t.Helper()
	cfg := DefaultConfig()
	cfg.Cluster = termCluster{h.cl, term}
	cfg.Dial = h.net.dial
	cfg.Logger = testLogger(h.t)
	cfg.Rand = newRand(seed)
	if h.tune != nil {
		h.tune(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{b: b, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Run(ctx) }()
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// current returns the LeaseSet the fsm holds, parsed and verified.
func (h *harness) current() (*i2p.LeaseSet2, []string) {
	h.t.Helper()
	d, ok := h.cl.State().Destination("web")
	if !ok || d.LeaseSet == nil {
		return nil, nil
	}
	ls, err := i2p.ParseLeaseSet2(d.LeaseSet.Bytes)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := ls.Verify(); err != nil {
		h.t.Fatalf("stored leaseset does not verify: %v", err)
	}
	return ls, d.LeaseSet.Routers
}

func countBy(routers []string) map[string]int {
	m := map[string]int{}
	for _, r := range routers {
		m[r]++
	}
	return m
}

func (h *harness) router(name string) *fakeRouter {
	for _, r := range h.routers {
		if r.name == name {
			return r
		}
	}
	h.t.Fatalf("no router %s", name)
	return nil
}

var allCaps = routerproto.AllCapabilities

func TestLoopOneLeaseSetFromFourRouters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 4, allCaps, fsm.DefaultSettings())
		run := h.start(5, 1)
		defer run.stop(t)
		time.Sleep(time.Minute)

		ls, routers := h.current()
		if ls == nil || len(ls.Leases) != 12 {
			t.Fatalf("leaseset %v", ls)
		}
		if c := countBy(routers); len(c) != 4 || c["r1"] != 3 || c["r2"] != 3 || c["r3"] != 3 || c["r4"] != 3 {
			t.Fatalf("leases by router %v", c)
		}
		if ls.TimeStatus(time.Now()) != i2p.TimeOK || len(ls.Keys) != 1 || ls.Keys[0].Type != i2p.EncX25519 {
			t.Fatalf("time %s keys %v", ls.TimeStatus(time.Now()), ls.Keys)
		}
		view, ok := run.b.Destination("web")
		if !ok || !view.GatewayPolicyEnforced {
			t.Fatalf("view %+v", view)
		}
		// The gateway set is exactly the destination's keyed slice of the
		// first router's fast tier (a quarter at 3 hops, of binomial size).
		if want := keyedSlice(t, h.keys, h.router("r1").tier, 3); !slices.Equal(view.GatewaySet, want) {
			t.Fatalf("gateway set %d %v, want the keyed slice of r1's tier %d %v", len(view.GatewaySet), view.GatewaySet, len(want), want)
		}
		// The live invisibility figures come from what was published.
		if inv := view.Invisibility; inv == nil || inv.Error != "" || inv.Stores < 1 || liveFigure(inv, "lease_count") <= 0 || liveFigure(inv, "gateway_set") < 1 {
			t.Fatalf("invisibility %+v", inv)
		}
		// Gateways are drawn at random from the set, repeats allowed,
		// as a single router draws them (GatewayConfig.Distinct).
		for i, l := range ls.Leases {
			if !slices.Contains(view.GatewaySet, l.Gateway.String()) {
				t.Fatalf("gateway %s outside the gateway set", l.Gateway)
			}
			if !slices.ContainsFunc(h.router(routers[i]).live(), func(ti routerproto.TunnelInfo) bool {
				return ti.Direction == routerproto.Inbound && ti.TunnelID == l.TunnelID && len(ti.Hops) == 3 && ti.Hops[0] == l.Gateway
			}) {
				t.Fatalf("lease %d is not the first hop of a live tunnel of %s", i, routers[i])
			}
		}
		for _, r := range h.routers {
			in, out := 0, 0
			for _, ti := range r.live() {
				if ti.Direction == routerproto.Inbound {
					in++
				} else {
					out++
				}
			}
			// 3 leases each and a spare (BuildShare): 4 inbound.
			if in != BuildShare(PolicySpread, 3, 4, 0) || out != 2 {
				t.Fatalf("%s: %d inbound, %d outbound", r.name, in, out)
			}
			if _, _, explicit, _ := r.counters(); explicit == 0 {
				t.Fatalf("%s: no explicit-hop builds", r.name)
			}
			rv, ok := run.b.Router(r.name)
			if !ok || rv.State != status.RouterUp || !slices.Contains(rv.Capabilities, routerproto.CapExplicitHops) {
				t.Fatalf("%s view %+v", r.name, rv)
			}
		}
		if n := len(h.cl.State().Tunnels("web")); n != 24 {
			t.Fatalf("fsm records %d tunnels, want 24", n)
		}
		// The last LeaseSet went to PublishFanout (2) routers.
		handed := 0
		for _, r := range h.routers {
			r.mu.Lock()
			if n := len(r.leaseSets); n > 0 && r.leaseSets[n-1].LeaseSet.Published == ls.Published {
				handed++
			}
			r.mu.Unlock()
		}
		if handed != 2 {
			t.Fatalf("latest leaseset handed to %d routers, want 2", handed)
		}
	})
}

// Over an hour of tunnel replacements: the LeaseSet always holds 12 live
// leases, `published` only grows, still-valid leases survive republishes,
// replacements coalesce into few publications, and the gateways seen stay
// close to one router's slice.
func TestLoopSteadyStateOverAnHour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 4, allCaps, fsm.DefaultSettings())
		run := h.start(5, 2)
		defer run.stop(t)
		time.Sleep(time.Minute)
		start := len(h.cl.published())
		gateways := map[i2p.Hash]bool{}
		for range 360 {
			time.Sleep(10 * time.Second)
			ls, routers := h.current()
			now := time.Now()
			if len(ls.Leases) != 12 || ls.TimeStatus(now) != i2p.TimeOK {
				t.Fatalf("at %s: %d leases, %s", now.Format(time.TimeOnly), len(ls.Leases), ls.TimeStatus(now))
			}
			if c := countBy(routers); c["r1"] != 3 || c["r2"] != 3 || c["r3"] != 3 || c["r4"] != 3 {
				t.Fatalf("by router %v", c)
			}
			for _, l := range ls.Leases {
				gateways[l.Gateway] = true
				if int64(l.End) <= now.Unix() {
					t.Fatalf("dead lease in the stored leaseset")
				}
			}
		}
		pubs := h.cl.published()
		var prev *i2p.LeaseSet2
		for _, p := range pubs {
			ls, err := i2p.ParseLeaseSet2(p.LeaseSet)
			if err != nil {
				t.Fatal(err)
			}
			if prev != nil {
				if ls.Published <= prev.Published {
					t.Fatalf("published went from %d to %d", prev.Published, ls.Published)
				}
				for _, l := range prev.Leases {
					// A lease retires when its replacement is built, started
					// up to ReplaceJitter before ReplaceBefore (ReplaceLead).
					if int64(l.End)-int64(ls.Published) > int64((DefaultConfig().ReplaceBefore+DefaultConfig().ReplaceJitter)/time.Second)+1 && !slices.Contains(ls.Leases, l) {
						t.Fatalf("lease with %ds left dropped at %d", int64(l.End)-int64(ls.Published), ls.Published)
					}
				}
			}
			prev = ls
		}
		perTen := float64(len(pubs)-start) / 6
		t.Logf("%d leasesets in an hour (%.1f per 10 min), %d distinct gateways", len(pubs)-start, perTen, len(gateways))
		if perTen > 4 {
			t.Fatalf("%.1f publications per 10 minutes: replacements do not coalesce", perTen)
		}
		if len(gateways) > 19+7 {
			t.Fatalf("%d distinct gateways in an hour", len(gateways))
		}
		// The live figures over the same hour say what the test counted.
		view, _ := run.b.Destination("web")
		inv := view.Invisibility
		if inv == nil || inv.SpanMs != time.Hour.Milliseconds() {
			t.Fatalf("invisibility %+v", inv)
		}
		gs, per := liveFigure(inv, "gateway_set"), liveFigure(inv, "stores_per_10m")
		t.Logf("live: gateway_set %.0f, stores_per_10m %.2f, %d of %d figures atypical", gs, per, inv.Atypical, len(inv.Features))
		if math.Abs(gs-float64(len(gateways))) > 2 || math.Abs(per-perTen) > 0.5 {
			t.Fatalf("live gateway_set %.0f, stores_per_10m %.2f; counted %d and %.2f", gs, per, len(gateways), perTen)
		}
	})
}

func TestLoopBuildBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 4, allCaps, fsm.DefaultSettings())
		r1 := h.router("r1")
		r1.setFailing(true)
		run := h.start(5, 3)
		defer run.stop(t)
		time.Sleep(3 * time.Minute)
		builds, ok, _, _ := r1.counters()
		b2, _, _, _ := h.router("r2").counters()
		t.Logf("r1: %d failed builds in 3 minutes; r2: %d builds", builds, b2)
		if ok != 0 || builds < 6 || builds > 40 { // without backoff: about 450
			t.Fatalf("r1: %d builds (%d ok) in 3 minutes of failures", builds, ok)
		}
		ls, routers := h.current()
		if len(ls.Leases) != 9 || countBy(routers)["r1"] != 0 {
			t.Fatalf("while r1 fails: %v", countBy(routers))
		}
		r1.setFailing(false)
		time.Sleep(90 * time.Second)
		ls, routers = h.current()
		if len(ls.Leases) != 12 || countBy(routers)["r1"] != 3 {
			t.Fatalf("after r1 recovered: %v", countBy(routers))
		}
	})
}

func TestLoopRouterDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 4, allCaps, fsm.DefaultSettings())
		run := h.start(5, 4)
		defer run.stop(t)
		time.Sleep(time.Minute)
		r2 := h.router("r2")
		r2.kill()
		killed := time.Now()
		for {
			time.Sleep(100 * time.Millisecond)
			if _, routers := h.current(); countBy(routers)["r2"] == 0 {
				break
			}
			if time.Since(killed) > 5*time.Second {
				t.Fatal("r2's leases still published 5 s after it died")
			}
		}
		t.Logf("leases of the dead router left the leaseset after %s", time.Since(killed))
		if v, _ := run.b.Router("r2"); v.State != status.RouterDown {
			t.Fatalf("r2 view %+v", v)
		}
		// The other routers cover r2's share: the lease count recovers.
		time.Sleep(30 * time.Second)
		ls, routers := h.current()
		if c := countBy(routers); len(ls.Leases) != 12 || c["r1"] != 4 || c["r3"] != 4 || c["r4"] != 4 {
			t.Fatalf("without r2: %d leases, %v", len(ls.Leases), c)
		}
		r2.restart()
		// Back to 3 each once the extra tunnels are retired (they are not
		// replaced) and r2 has built its own.
		time.Sleep(11 * time.Minute)
		if _, routers := h.current(); fmt.Sprint(countBy(routers)) != "map[r1:3 r2:3 r3:3 r4:3]" {
			t.Fatalf("after restart: %v", countBy(routers))
		}
		if v, _ := run.b.Router("r2"); v.State != status.RouterUp {
			t.Fatalf("r2 view after restart %+v", v)
		}
		// r2's tunnels, built when it came back, and the others' grown
		// share, built when it died, were out of step with the main wave;
		// the wave took them along (StepPlan), so a generation later every
		// lease falls due in one wave again.
		time.Sleep(10 * time.Minute)
		ls, _ = h.current()
		var ends []time.Time
		for _, l := range ls.Leases {
			ends = append(ends, time.Unix(int64(l.End), 0))
		}
		span := WaveSpan(ends, DefaultConfig().ReplaceBefore)
		if span > 2*StepGap {
			t.Fatalf("lease ends spread over %s of a generation, want one wave", span)
		}
		t.Logf("a generation after r2 came back its lease ends spread over %s", span)
	})
}

// A new leader re-attaches with its term, adopts the tunnels, rebuilds
// nothing and publishes nothing new; the old term is refused afterwards.
func TestLoopFailoverAdopts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 4, allCaps, fsm.DefaultSettings())
		old := h.start(5, 5)
		time.Sleep(time.Minute)
		old.stop(t)
		before := map[string][2]int{}
		ids := map[string]map[i2p.Hash]uint16{}
		for _, r := range h.routers {
			b, ok, _, _ := r.counters()
			before[r.name] = [2]int{b, ok}
			ids[r.name] = r.sessionIDs()
		}
		pubs := len(h.cl.published())
		ls0, _ := h.current()

		next := h.start(6, 6)
		defer next.stop(t)
		time.Sleep(20 * time.Second)
		for _, r := range h.routers {
			if b, ok, _, _ := r.counters(); b != before[r.name][0] || ok != before[r.name][1] {
				t.Fatalf("%s rebuilt after the failover: builds %d -> %d", r.name, before[r.name][0], b)
			}
			if got := r.sessionIDs(); !mapsEqual(got, ids[r.name]) {
				t.Fatalf("%s session ids changed: %v -> %v", r.name, ids[r.name], got)
			}
		}
		if n := len(h.cl.published()); n != pubs {
			t.Fatalf("new leader published %d leasesets though nothing changed", n-pubs)
		}
		if ls, _ := h.current(); ls.Published != ls0.Published {
			t.Fatal("leaseset changed")
		}
		view, _ := next.b.Destination("web")
		// The new leader's history starts from the fsm's LeaseSet.
		if inv := view.Invisibility; inv == nil || inv.Error != "" || inv.Stores != 1 || liveFigure(inv, "lease_count") != float64(len(ls0.Leases)) {
			t.Fatalf("new leader's invisibility %+v", inv)
		}
		for _, l := range ls0.Leases {
			if !slices.Contains(view.GatewaySet, l.Gateway.String()) {
				t.Fatalf("new leader's gateway set lacks the published gateway %s", l.Gateway)
			}
		}
		// The deposed leader cannot take the sessions back.
		stale := h.start(5, 7)
		time.Sleep(5 * time.Second)
		stale.cancel()
		<-stale.done
		refused := 0
		for _, r := range h.routers {
			r.mu.Lock()
			refused += r.staleRefuse
			r.mu.Unlock()
		}
		if refused == 0 {
			t.Fatal("no router refused the stale term")
		}
		// The new leader keeps the plan going past the adopted tunnels' lives.
		time.Sleep(12 * time.Minute)
		ls, routers := h.current()
		if len(ls.Leases) != 12 || ls.Published == ls0.Published || countBy(routers)["r3"] != 3 {
			t.Fatalf("after 12 minutes under the new leader: %v", countBy(routers))
		}
	})
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestLoopRouterChoosesHops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		caps := []string{routerproto.CapManagedSessions, routerproto.CapCreateTunnel, routerproto.CapTunnelPool}
		h := newHarness(t, 2, caps, fsm.DefaultSettings())
		run := h.start(5, 8)
		defer run.stop(t)
		time.Sleep(time.Minute)
		ls, _ := h.current()
		if ls == nil || len(ls.Leases) != 6 {
			t.Fatalf("leaseset %v", ls)
		}
		for _, r := range h.routers {
			if _, _, explicit, _ := r.counters(); explicit != 0 {
				t.Fatalf("%s got %d explicit-hop builds without the capability", r.name, explicit)
			}
		}
		if v, _ := run.b.Destination("web"); v.GatewayPolicyEnforced {
			t.Fatal("gateway policy reported enforced on routers that choose their hops")
		}
	})
}

func TestLoopEchoAndCount(t *testing.T) {
	for _, svc := range []fsm.Service{fsm.ServiceEcho, fsm.ServiceNone} {
		t.Run(svc.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := fsm.DefaultSettings()
				s.Service = svc
				h := newHarness(t, 4, allCaps, s)
				run := h.start(5, 9)
				defer run.stop(t)
				time.Sleep(time.Minute)
				r3 := h.router("r3")
				sender, _ := i2p.NewPrivateKeys(newRandReader(42))
				dg, _ := i2p.NewRepliableDatagram(sender, []byte("ping 7"))
				body, _ := dg.MarshalBinary()
				repliable, _ := i2p.Payload{Protocol: i2p.ProtoRepliableDatagram, SrcPort: 1234, DstPort: 80, Data: body}.MarshalBinary()
				raw, _ := i2p.Payload{Protocol: i2p.ProtoRawDatagram, Data: []byte("one way")}.MarshalBinary()
				sid := r3.sessionIDs()[h.keys.Destination().Hash()]
				r3.mu.Lock()
				ctrl := r3.sessions[h.keys.Destination().Hash()].ctrl
				r3.mu.Unlock()
				ctrl.push(&routerproto.PayloadFrom{SessionID: sid, MessageID: 1})
				ctrl.push(&routerproto.MessagePayload{SessionID: sid, MessageID: 1, Payload: repliable})
				ctrl.push(&routerproto.MessagePayload{SessionID: sid, MessageID: 2, Payload: raw})
				time.Sleep(2 * time.Second)
				v, _ := run.b.Destination("web")
				if v.PayloadsByRouter["r3"] != 2 || len(v.PayloadsByRouter) != 1 {
					t.Fatalf("payloads by router %v", v.PayloadsByRouter)
				}
				r3.mu.Lock()
				sent := slices.Clone(r3.sent)
				r3.mu.Unlock()
				if svc == fsm.ServiceNone {
					if len(sent) != 0 {
						t.Fatalf("service none answered %d", len(sent))
					}
					return
				}
				if len(sent) != 1 {
					t.Fatalf("echo sent %d replies, want 1", len(sent))
				}
				m := sent[0]
				if m.SessionID != sid || !m.Destination.Equal(sender.Destination()) {
					t.Fatal("reply not addressed to the sender through its session")
				}
				p, err := i2p.ParsePayload(m.Payload)
				if err != nil || p.Protocol != i2p.ProtoRepliableDatagram || p.SrcPort != 80 || p.DstPort != 1234 {
					t.Fatalf("reply payload %+v %v", p, err)
				}
				reply, err := i2p.ParseRepliableDatagram(p.Data)
				if err != nil || reply.Verify() != nil || !reply.From.Equal(h.keys.Destination()) || string(reply.Data) != "ping 7" {
					t.Fatalf("reply datagram %v", err)
				}
				for _, r := range h.routers {
					if r != r3 && len(r.sent) != 0 {
						t.Fatalf("%s sent a reply", r.name)
					}
				}
			})
		})
	}
}

// TestLoopFailoverKeepsQueuedPayloads: a payload a router queued while no
// leader was attached reaches the new leader right behind the re-attach's
// SessionStatus, before the loop has the session's id; it must still be
// answered (it was dropped once, losing round trips over every failover).
func TestLoopFailoverKeepsQueuedPayloads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := fsm.DefaultSettings()
		s.Service = fsm.ServiceEcho
		h := newHarness(t, 4, allCaps, s)
		old := h.start(5, 5)
		time.Sleep(time.Minute)
		old.stop(t)

		r3 := h.router("r3")
		sender, _ := i2p.NewPrivateKeys(newRandReader(43))
		dg, _ := i2p.NewRepliableDatagram(sender, []byte("ping across the failover"))
		body, _ := dg.MarshalBinary()
		repliable, _ := i2p.Payload{Protocol: i2p.ProtoRepliableDatagram, SrcPort: 1, DstPort: 2, Data: body}.MarshalBinary()
		sid := r3.sessionIDs()[h.keys.Destination().Hash()]
		r3.mu.Lock()
		r3.sessions[h.keys.Destination().Hash()].queued = []routerproto.Message{
			&routerproto.PayloadFrom{SessionID: sid, MessageID: 1},
			&routerproto.MessagePayload{SessionID: sid, MessageID: 1, Payload: repliable},
		}
		r3.mu.Unlock()

		next := h.start(6, 6)
		defer next.stop(t)
		time.Sleep(20 * time.Second)
		v, _ := next.b.Destination("web")
		if v.PayloadsByRouter["r3"] != 1 {
			t.Fatalf("payloads by router %v, want r3: 1", v.PayloadsByRouter)
		}
		r3.mu.Lock()
		sent := slices.Clone(r3.sent)
		r3.mu.Unlock()
		if len(sent) != 1 || sent[0].SessionID != sid || !sent[0].Destination.Equal(sender.Destination()) {
			t.Fatalf("echo replies through r3: %d, want 1 to the sender", len(sent))
		}
	})
}

func TestLoopNeedLeaseSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 4, allCaps, fsm.DefaultSettings())
		run := h.start(5, 10)
		defer run.stop(t)
		time.Sleep(time.Minute)
		ls, _ := h.current()
		for _, tc := range []struct {
			name      string
			min       uint32
			newer     bool
			published func(uint32) bool
		}{
			{"current is new enough", ls.Published - 1, false, func(p uint32) bool { return p == ls.Published }},
			{"a newer one is needed", ls.Published, true, func(p uint32) bool { return p > ls.Published }},
		} {
			pubs := len(h.cl.published())
			r4 := h.router("r4")
			_, _, _, got0 := r4.counters()
			sid := r4.sessionIDs()[h.keys.Destination().Hash()]
			r4.mu.Lock()
			ctrl := r4.sessions[h.keys.Destination().Hash()].ctrl
			r4.mu.Unlock()
			ctrl.push(&routerproto.NeedLeaseSet{SessionID: sid, Reason: routerproto.NeedNotStored, MinPublished: tc.min})
			time.Sleep(3 * time.Second)
			r4.mu.Lock()
			got := r4.leaseSets[got0:]
			r4.mu.Unlock()
			if len(got) == 0 || !tc.published(got[len(got)-1].LeaseSet.Published) {
				t.Fatalf("%s: r4 got %d leasesets", tc.name, len(got))
			}
			if newer := len(h.cl.published()) > pubs; newer != tc.newer {
				t.Fatalf("%s: new leaseset published: %t", tc.name, newer)
			}
			ls, _ = h.current()
		}
	})
}

func TestRunGuards(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, allCaps, fsm.DefaultSettings())
		cfg := DefaultConfig()
		cfg.Cluster, cfg.Dial = termCluster{h.cl, 0}, h.net.dial
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Run(context.Background()); !errors.Is(err, ErrNotLeading) {
			t.Fatalf("not leading: %v", err)
		}
		run := h.start(5, 11)
		time.Sleep(time.Second)
		if err := run.b.Run(context.Background()); !errors.Is(err, ErrRunning) {
			t.Fatalf("second run: %v", err)
		}
		run.stop(t)
		if _, ok := run.b.Router("r1"); ok {
			t.Fatal("live view outlives the loop")
		}
		if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
			t.Fatalf("empty config: %v", err)
		}
	})
}

// newRandReader is a deterministic io.Reader for key generation.
type randReader struct{ r interface{ Uint64() uint64 } }

func newRandReader(seed uint64) *randReader { return &randReader{newRand(seed)} }

func (r *randReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(r.r.Uint64())
	}
	return len(b), nil
}

// A router in front of a stock router builds its own tunnels: the balancer
// takes the ones it reports, answers its NeedLeaseSet with a LeaseSet
// carrying them, and drops a tunnel reported broken.
func TestLoopUpstreamTunnels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		caps := []string{routerproto.CapManagedSessions, routerproto.CapLeaseSetStatus, routerproto.CapNeedLeaseSet, routerproto.CapPayloadFrom}
		h := newHarness(t, 2, caps, fsm.DefaultSettings())
		run := h.start(5, 12)
		defer run.stop(t)
		time.Sleep(5 * time.Second)
		dh := h.keys.Destination().Hash()
		var tuns []routerproto.TunnelInfo
		for i, r := range []*fakeRouter{h.router("r2"), h.router("r1")} {
			if i == 1 {
				// r1's tunnels after r2's: the LeaseSet r1 then asks for
				// must carry them (not the one already published).
				time.Sleep(100 * time.Millisecond)
			}
			for j := range 3 {
				ti := routerproto.TunnelInfo{Direction: routerproto.Inbound, TunnelID: uint32(100*i + j + 1),
					Gateway: h.net.peers[10*i+j], Hops: []i2p.Hash{h.net.peers[10*i+j]}, Expires: uint32(time.Now().Add(10 * time.Minute).Unix())}
				r.report(dh, ti, routerproto.ResultOK)
				tuns = append(tuns, ti)
			}
		}
		r1 := h.router("r1")
		sid := r1.sessionIDs()[dh]
		r1.mu.Lock()
		ctrl := r1.sessions[dh].ctrl
		r1.mu.Unlock()
		ctrl.push(&routerproto.NeedLeaseSet{SessionID: sid, Reason: routerproto.NeedRequested, DeadlineMs: 10000})
		time.Sleep(2 * time.Second) // LeaseSets are at least a second apart
		ls, routers := h.current()
		if ls == nil || len(ls.Leases) != 6 || countBy(routers)["r1"] != 3 {
			t.Fatalf("leaseset after the upstream's tunnels: %v", countBy(routers))
		}
		r1.mu.Lock()
		got := len(r1.leaseSets)
		r1.mu.Unlock()
		if got == 0 {
			t.Fatal("the router that asked got no leaseset")
		}
		if _, _, explicit, _ := r1.counters(); explicit != 0 {
			t.Fatal("builds asked of a router without create-tunnel")
		}
		if v, _ := run.b.Destination("web"); v.GatewayPolicyEnforced {
			t.Fatal("gateway policy reported enforced on an upstream router")
		}
		h.router("r2").report(dh, tuns[0], routerproto.ResultBroken)
		time.Sleep(2 * time.Second)
		if ls, routers := h.current(); len(ls.Leases) != 5 || countBy(routers)["r2"] != 2 {
			t.Fatalf("after a broken tunnel: %v", countBy(routers))
		}
	})
}

// Under the failover policy the LeaseSet carries the active router's leases
// only, the others stay hot, and the death of the active router switches
// the LeaseSet to another one within seconds (and not back when it returns).
func TestLoopFailoverPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := fsm.DefaultSettings()
		s.Policy = fsm.PolicyFailover
		h := newHarness(t, 4, allCaps, s)
		run := h.start(5, 13)
		defer run.stop(t)
		time.Sleep(time.Minute)
		ls, routers := h.current()
		by := countBy(routers)
		view, _ := run.b.Destination("web")
		if len(ls.Leases) != 3 || len(by) != 1 || by[view.ActiveRouter] != 3 || len(view.StandbyRouters) != 3 || view.Switches != 0 {
			t.Fatalf("leases by router %v, view %+v", by, view)
		}
		for _, r := range h.routers {
			in := 0
			for _, ti := range r.live() {
				if ti.Direction == routerproto.Inbound {
					in++
				}
			}
			if in != 3 {
				t.Fatalf("standby %s is not hot: %d inbound tunnels", r.name, in)
			}
		}
		first := view.ActiveRouter
		h.router(first).kill()
		killed := time.Now()
		for {
			time.Sleep(100 * time.Millisecond)
			if _, routers := h.current(); countBy(routers)[first] == 0 {
				break
			}
			if time.Since(killed) > 5*time.Second {
				t.Fatal("no switch within 5 s")
			}
		}
		ls, routers = h.current()
		view, _ = run.b.Destination("web")
		if by := countBy(routers); len(ls.Leases) != 3 || len(by) != 1 || view.ActiveRouter == first || by[view.ActiveRouter] != 3 || view.Switches != 1 {
			t.Fatalf("after the switch: %v, view %+v", by, view)
		}
		second := view.ActiveRouter
		switchedPub := ls.Published
		time.Sleep(30 * time.Second)
		ls, _ = h.current()
		if len(ls.Leases) != 3 {
			t.Fatalf("%d leases on the new active router", len(ls.Leases))
		}
		// While the switch settles, fresh LeaseSets go out every SettleEvery
		// (10 s) although nothing changed: new tries for a stock router.
		if got := ls.Published - switchedPub; got < 20 {
			t.Fatalf("published advanced %d s in the 30 s after the switch, want >= 20 (settling republishes)", got)
		}
		h.router(first).restart()
		time.Sleep(2 * time.Minute)
		if view, _ := run.b.Destination("web"); view.ActiveRouter != second || view.Switches != 1 || len(view.StandbyRouters) != 3 {
			t.Fatalf("after the old active router returned: %+v", view)
		}
	})
}

// Removing a destination ends its sessions on the routers.
func TestLoopDestinationRemoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2, allCaps, fsm.DefaultSettings())
		run := h.start(5, 14)
		defer run.stop(t)
		time.Sleep(30 * time.Second)
		for _, r := range h.routers {
			if len(r.sessionIDs()) != 1 {
				t.Fatalf("%s: %d sessions", r.name, len(r.sessionIDs()))
			}
		}
		h.cl.mustApply(t, &fsm.DestinationRemove{Name: "web"})
		time.Sleep(2 * time.Second)
		for _, r := range h.routers {
			if n := len(r.sessionIDs()); n != 0 {
				t.Fatalf("%s keeps %d sessions of a removed destination", r.name, n)
			}
		}
		if _, ok := run.b.Destination("web"); ok {
			t.Fatal("live view keeps a removed destination")
		}
	})
}

// Removing a destination ends its tunnel builds in flight at once, even
// when the routers never answer them (a router that drops the builds of a
// session it destroyed): found by the soak, where a new leader's
// goroutines climbed to about 200 waiting in CreateTunnel for OpTimeout
// (docs/reliability.md, "A leader's tunnel builds in flight").
func TestLoopDestinationRemovedEndsBuilds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2, allCaps, fsm.DefaultSettings())
		for _, r := range h.routers {
			r.buildTime = time.Hour // never answered before OpTimeout
		}
		run := h.start(5, 14)
		defer run.stop(t)
		time.Sleep(10 * time.Second)
		for _, r := range h.routers {
			if n := r.buildsInFlight(); n == 0 {
				t.Fatalf("%s: no build in flight", r.name)
			}
		}
		h.cl.mustApply(t, &fsm.DestinationRemove{Name: "web"})
		time.Sleep(time.Second)
		synctest.Wait()
		for _, r := range h.routers {
			if n := r.buildsInFlight(); n != 0 {
				t.Fatalf("%s: %d builds of a removed destination still in flight", r.name, n)
			}
		}
	})
}

// A destination removed and created again under the same name with other
// keys (found by the chaos harness): the loop must drop the old keys and
// publish for the new destination, not sign LeaseSets with the old keys
// that the fsm refuses forever. Note: here the loop usually reconciles
// between the two commands, so this test passes without the fix too; it
// guards the behaviour, it does not yet reproduce the race.
func TestLoopDestinationReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2, allCaps, fsm.DefaultSettings())
		run := h.start(5, 14)
		defer run.stop(t)
		time.Sleep(30 * time.Second)
		h.cl.mustApply(t, &fsm.DestinationRemove{Name: "web"})
		keys, _ := h.cl.addDest(t, "web", 99, fsm.DefaultSettings())
		time.Sleep(60 * time.Second)
		ls, _ := h.current()
		if ls == nil || ls.Destination.Hash() != keys.Destination().Hash() {
			t.Fatalf("no LeaseSet of the new web a minute after it replaced the old one: %v", ls)
		}
	})
}

// Removing a router (imh router remove) makes it release the cluster's
// sessions at once: the leader destroys them before it lets go of the
// router, instead of leaving them for the grace period (issue 18, trap 5).
func TestLoopRouterRemovedReleasesSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2, allCaps, fsm.DefaultSettings())
		run := h.start(5, 14)
		defer run.stop(t)
		time.Sleep(30 * time.Second)
		for _, r := range h.routers {
			if len(r.sessionIDs()) != 1 {
				t.Fatalf("%s: %d sessions", r.name, len(r.sessionIDs()))
			}
		}
		gone, kept := h.routers[0], h.routers[1]
		h.cl.mustApply(t, &fsm.RouterRemove{Name: gone.name})
		time.Sleep(2 * time.Second)
		if n := len(gone.sessionIDs()); n != 0 {
			t.Fatalf("removed router %s keeps %d sessions of the cluster", gone.name, n)
		}
		if n := len(kept.sessionIDs()); n != 1 {
			t.Fatalf("router %s: %d sessions, want its 1", kept.name, n)
		}
	})
}

// liveFigure is the value of a live invisibility figure, -1 when absent.
func liveFigure(inv *status.Invisibility, name string) float64 {
	for _, f := range inv.Features {
		if f.Name == name && f.Value != nil {
			return *f.Value
		}
	}
	return -1
}

// keyedSlice is the sorted hex of the tier's peers in the destination's
// gateway slice for hops.
func keyedSlice(t *testing.T, keys *i2p.PrivateKeys, tier []i2p.Hash, hops int) []string {
	t.Helper()
	key, err := GatewaySliceKey(keys)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range tier {
		if inSlice(key, h, hops) {
			out = append(out, h.String())
		}
	}
	slices.Sort(out)
	return out
}

//go:build integration

package integration

import (
	"net/http"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/internal/tooltest"
)

// samples is one scrape: series ("name{l1="v1",...}", labels sorted) -> value.
type samples map[string]float64

// scrape GETs url's /metrics text and parses it.
func scrape(t *testing.T, url string) (string, samples, error) {
	t.Helper()
	text, err := httpGetText(url)
	if err != nil {
		return "", nil, err
	}
	s, err := parseMetrics(text)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return text, s, nil
}

// parseMetrics parses a Prometheus text exposition into samples.
func parseMetrics(text string) (samples, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	out := samples{}
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(ls)
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Untyped != nil:
				out[key] = m.Untyped.GetValue()
			case m.Summary != nil:
				out[key+"_count"] = float64(m.Summary.GetSampleCount())
			}
		}
	}
	return out, nil
}

// mustScrape scrapes and checks the exposition with promtool.
func mustScrape(t *testing.T, url string) samples {
	t.Helper()
	text, s, err := scrape(t, url)
	if err != nil {
		t.Fatal(err)
	}
	tooltest.CheckMetrics(t, text)
	return s
}

// scrapeAgent scrapes an agent's /metrics, nil on error.
func scrapeAgent(t *testing.T, a *clusterAgent) samples {
	_, s, err := scrape(t, agentURL(a.httpAddr, "/metrics"))
	if err != nil {
		return nil
	}
	return s
}

// activeRouter is the router imh_balancer_active_router names for web.
func activeRouter(s samples) string {
	for k, v := range s {
		if v == 1 && strings.HasPrefix(k, `imh_balancer_active_router{dest="web",router="`) {
			return strings.TrimSuffix(strings.TrimPrefix(k, `imh_balancer_active_router{dest="web",router="`), `"}`)
		}
	}
	return ""
}

// TestMetricsScenario (issue 22): 3 agents, 4 simnet routers, destination
// web under the failover policy. The active router is killed, then the
// leader; after each step the leader's /metrics shows what happened, and
// every exposition (agents, a router, simnet) passes promtool check metrics.
func TestMetricsScenario(t *testing.T) {
	clusterPool.join(t)
	e := startBalancerEnv(t, "--policy", "failover")
	leader := e.tc.waitLeader(30 * time.Second)
	var s samples
	eventually.True(t, 90*time.Second, "leader metrics: 3 leases of the goal 3, 4 routers up", func() bool {
		s = scrapeAgent(t, leader)
		return s != nil && s[`imh_balancer_leases{dest="web"}`] == 3 && s[`imh_balancer_lease_goal{dest="web"}`] == 3 &&
			s[`imh_balancer_router_up{router="r1"}`]+s[`imh_balancer_router_up{router="r2"}`]+
				s[`imh_balancer_router_up{router="r3"}`]+s[`imh_balancer_router_up{router="r4"}`] == 4 &&
			activeRouter(s) != ""
	})
	s = mustScrape(t, agentURL(leader.httpAddr, "/metrics"))
	active := activeRouter(s)
	want := map[string]float64{
		`imh_balancer_leading`:                                           1,
		`imh_cluster_leader`:                                             1,
		`imh_cluster_voters`:                                             3,
		`imh_balancer_failover_switches_total{dest="web"}`:               0,
		`imh_balancer_router_leases{dest="web",router="` + active + `"}`: 3,
		`imh_balancer_tunnels{dest="web",direction="inbound",router="` + active + `"}`: 3,
	}
	checkSamples(t, "leader before the kills", s, want)
	if s[`imh_balancer_leaseset_publishes_total{dest="web"}`] < 1 || s[`imh_balancer_gateway_set_size{dest="web"}`] < 1 ||
		s[`imh_balancer_leaseset_age_seconds{dest="web"}`] > 700 || s[`imh_raft_state_leader_total`] < 1 {
		t.Fatalf("leader before the kills: %v", pick(s, "imh_balancer_leaseset", "imh_balancer_gateway", "imh_raft_state"))
	}
	for _, f := range e.tc.agents {
		if f != leader {
			fs := mustScrape(t, agentURL(f.httpAddr, "/metrics"))
			checkSamples(t, "follower "+f.name, fs, map[string]float64{`imh_balancer_leading`: 0, `imh_cluster_leader`: 0, `imh_cluster_known_leader`: 1})
			break
		}
	}
	if !plaintext { // the operator rule: a router's certificate may not scrape an agent
		resp, err := clientAs(t, pki.RoleRouter, "r1").Get(agentURL(leader.httpAddr, "/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("/metrics with a router certificate: %s", resp.Status)
		}
	}
	r := e.router(active)
	rs := mustScrape(t, "http://"+r.http+"/metrics")
	st := r.status(t)
	checkSamples(t, "router "+active, rs, map[string]float64{
		`imh_router_tunnel_builds_total{result="ok"}`: float64(st.Builds.OK),
		`imh_router_refused_connections_total`:        0,
	})
	if rs[`imh_router_tunnels{direction="inbound"}`] < 3 {
		t.Fatalf("router %s: %v", active, pick(rs, "imh_router_tunnels"))
	}
	mustScrape(t, "http://"+e.n.simHTTP+"/metrics")

	// The active router dies: the leader switches to a standby.
	r.p.Kill()
	eventually.True(t, 60*time.Second, "the leader sees "+active+" down and switches", func() bool {
		s = scrapeAgent(t, leader)
		return s != nil && s[`imh_balancer_router_up{router="`+active+`"}`] == 0 &&
			activeRouter(s) != "" && activeRouter(s) != active && s[`imh_balancer_leases{dest="web"}`] == 3
	})
	s = mustScrape(t, agentURL(leader.httpAddr, "/metrics"))
	checkSamples(t, "leader after the router kill", s, map[string]float64{
		`imh_balancer_router_downs_total{router="` + active + `"}`:       1,
		`imh_balancer_failover_switches_total{dest="web"}`:               1,
		`imh_balancer_router_leases{dest="web",router="` + active + `"}`: 0,
		`imh_balancer_lease_goal{dest="web"}`:                            3,
	})
	eventually.True(t, 30*time.Second, "simnet counts 3 routers", func() bool {
		_, ss, err := scrape(t, "http://"+e.n.simHTTP+"/metrics")
		return err == nil && ss[`imh_simnet_routers`] == 3
	})
	term := s[`imh_cluster_term`]

	// The leader dies: another agent takes over and reports the same
	// LeaseSet, the dead router down, a higher term.
	if err := leader.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var next *clusterAgent
	eventually.True(t, 60*time.Second, "a new leader's metrics show the LeaseSet", func() bool {
		for _, a := range e.tc.agents {
			if a == leader {
				continue
			}
			if ns := scrapeAgent(t, a); ns != nil && ns[`imh_balancer_leading`] == 1 && ns[`imh_balancer_leases{dest="web"}`] == 3 &&
				activeRouter(ns) != "" {
				next, s = a, ns
				return true
			}
		}
		return false
	})
	s = mustScrape(t, agentURL(next.httpAddr, "/metrics"))
	checkSamples(t, "new leader "+next.name, s, map[string]float64{
		`imh_cluster_leader`:                              1,
		`imh_raft_state_leader_total`:                     1,
		`imh_balancer_router_up{router="` + active + `"}`: 0,
		`imh_balancer_lease_goal{dest="web"}`:             3,
	})
	if s[`imh_cluster_term`] <= term || s[`imh_balancer_router_downs_total{router="`+active+`"}`] < 1 ||
		s[`imh_raft_state_candidate_total`] < 1 || activeRouter(s) == active {
		t.Fatalf("new leader: %v", pick(s, "imh_cluster_term", "imh_balancer_router", "imh_raft_state", "imh_balancer_active"))
	}
	t.Logf("new leader %s at term %v (was %v); active router %s", next.name, s[`imh_cluster_term`], term, activeRouter(s))
}

func checkSamples(t *testing.T, what string, s samples, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		got, ok := s[k]
		if !ok || got != v {
			t.Errorf("%s: %s = %v (present %v), want %v", what, k, got, ok, v)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// pick returns the samples whose series starts with one of prefixes.
func pick(s samples, prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}

// Package packaging holds no Go code: its tests check the operator kit
// (systemd units, Prometheus rules, example configs, Grafana dashboard)
// with the tools an operator would use.
package packaging

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/imh-project/imh/internal/tooltest"
)

// TestSystemdUnits runs systemd-analyze verify on the units, the templates
// as instances. /usr/bin/imh is replaced by this test's own executable so
// that the check does not depend on an installed imh.
func TestSystemdUnits(t *testing.T) {
	analyze := tooltest.Need(t, "systemd-analyze", "systemd")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var units []string
	for file, instance := range map[string]string{"imh-agent.service": "imh-agent.service",
		"imh-router@.service": "imh-router@r1.service", "imh-frontend@.service": "imh-frontend@f-r1.service"} {
		raw, err := os.ReadFile(filepath.Join("systemd", file))
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=", "DynamicUser=yes", "CapabilityBoundingSet="} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: no %s", file, want)
			}
		}
		text = strings.ReplaceAll(text, "/usr/bin/imh ", self+" ")
		p := filepath.Join(dir, instance)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	cmd := exec.Command(analyze, append([]string{"verify", "--man=no"}, units...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestAlertRules(t *testing.T) {
	promtool := tooltest.Need(t, "promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "rules", filepath.Join("prometheus", "alerts.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, alert := range []string{"ImhNoLeader", "ImhRouterDown", "ImhLeaseSetStale", "ImhLeasesBelowGoal"} {
		if !strings.Contains(string(raw), "alert: "+alert) {
			t.Errorf("alerts.yml has no %s", alert)
		}
	}
	out, err = exec.Command(promtool, "check", "config", "--syntax-only", filepath.Join("examples", "prometheus.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}

// TestExamples: the agent YAML files parse and use only agent flags; the
// env files name only IMH_ variables.
func TestExamples(t *testing.T) {
	agentKeys := map[string]bool{"node-name": true, "raft-bind": true, "gossip-bind": true, "http-bind": true,
		"bootstrap-expect": true, "join": true, "raft-multiplier": true, "log-level": true, "dead-member-cleanup": true,
		"ca-file": true, "cert-file": true, "key-file": true}
	for i := 1; i <= 3; i++ {
		var m map[string]any
		raw, err := os.ReadFile(filepath.Join("examples", "n"+string(rune('0'+i))+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &m); err != nil {
			t.Fatalf("n%d.yaml: %v", i, err)
		}
		for k := range m {
			if !agentKeys[k] {
				t.Errorf("n%d.yaml: unknown key %s", i, k)
			}
		}
	}
	envs, _ := filepath.Glob(filepath.Join("examples", "*.env"))
	if len(envs) != 6 {
		t.Fatalf("env files %v", envs)
	}
	for _, f := range envs {
		raw, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(raw), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "IMH_") {
				t.Errorf("%s: %q", f, line)
			}
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("grafana", "imh-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil || d.Title == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard: %v, %d panels", err, len(d.Panels))
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, "imh_") {
				t.Errorf("panel query without an imh metric: %s", tg.Expr)
			}
		}
	}
}

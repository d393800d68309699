package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imh-project/imh/cluster"
)

// agentTestConfig parses args the way `imh agent` does and returns the
// resulting config, without starting anything.
func agentTestConfig(t *testing.T, args ...string) (cluster.Config, error) {
	t.Helper()
	cmd := newAgentCmd()
	if err := cmd.ParseFlags(args); err != nil {
		return cluster.Config{}, err
	}
	return agentConfig(cmd)
}

func clearAgentEnv(t *testing.T) {
	for _, k := range []string{"IMH_SECRET", "IMH_SECRET_FILE", "IMH_RAFT_BIND", "IMH_JOIN", "IMH_CONFIG", "IMH_NODE_NAME", "IMH_DATA_DIR", "IMH_RAFT_MULTIPLIER", "IMH_BOOTSTRAP_EXPECT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func TestAgentConfigPrecedence(t *testing.T) {
	clearAgentEnv(t)
	secret, _ := cluster.NewSecret()
	t.Setenv("IMH_SECRET", secret.Encode())
	dir := t.TempDir()
	yaml := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(yaml, []byte("raft-bind: 127.0.0.1:1001\ngossip-bind: 127.0.0.1:2001\nhttp-bind: 127.0.0.1:3001\nbootstrap-expect: 3\njoin: [127.0.0.1:2001, 127.0.0.1:2002]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--node-name", "n1", "--data-dir", dir, "--config", yaml}

	cfg, err := agentTestConfig(t, base...)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RaftBind != "127.0.0.1:1001" || cfg.BootstrapExpect != 3 || cfg.HTTPBind != "127.0.0.1:3001" ||
		!slices.Equal(cfg.Join, []string{"127.0.0.1:2001", "127.0.0.1:2002"}) || cfg.RaftMultiplier != 1 || cfg.Secret != secret {
		t.Fatalf("config file layer: %+v", cfg)
	}

	t.Setenv("IMH_RAFT_BIND", "127.0.0.1:1002")
	t.Setenv("IMH_JOIN", "127.0.0.1:5001,127.0.0.1:5002")
	if cfg, err = agentTestConfig(t, base...); err != nil {
		t.Fatal(err)
	}
	if cfg.RaftBind != "127.0.0.1:1002" || !slices.Equal(cfg.Join, []string{"127.0.0.1:5001", "127.0.0.1:5002"}) {
		t.Fatalf("env must beat the config file: raft %s join %v", cfg.RaftBind, cfg.Join)
	}

	if cfg, err = agentTestConfig(t, append(base, "--raft-bind", "127.0.0.1:1003", "--join", "127.0.0.1:6001")...); err != nil {
		t.Fatal(err)
	}
	if cfg.RaftBind != "127.0.0.1:1003" || !slices.Equal(cfg.Join, []string{"127.0.0.1:6001"}) {
		t.Fatalf("flag must beat env: raft %s join %v", cfg.RaftBind, cfg.Join)
	}

	cfg, err = agentTestConfig(t, "--node-name", "n1", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GossipBind != "127.0.0.1:7701" || cfg.HTTPBind != "127.0.0.1:7702" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestAgentConfigRefusals(t *testing.T) {
	clearAgentEnv(t)
	dir := t.TempDir()
	secret, _ := cluster.NewSecret()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte(secret.Encode()+"\n"), 0o600)
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("raft-bnd: 127.0.0.1:1\n"), 0o600)
	ok := []string{"--node-name", "n1", "--data-dir", dir}

	cfg, err := agentTestConfig(t, append(ok, "--secret-file", secretFile)...)
	if err != nil || cfg.Secret != secret {
		t.Fatalf("secret file: %v", err)
	}
	t.Setenv("IMH_SECRET_FILE", secretFile)
	if cfg, err = agentTestConfig(t, ok...); err != nil || cfg.Secret != secret {
		t.Fatalf("IMH_SECRET_FILE: %v", err)
	}
	os.Unsetenv("IMH_SECRET_FILE")

	for _, tt := range []struct {
		name string
		env  string // IMH_SECRET
		args []string
	}{
		{"no secret", "", ok},
		{"bad secret", "c2hvcnQ=", ok},
		{"missing secret file", "", append(ok, "--secret-file", filepath.Join(dir, "none"))},
		{"no data dir", secret.Encode(), []string{"--node-name", "n1"}},
		{"bad node name", secret.Encode(), []string{"--node-name", "a b", "--data-dir", dir}},
		{"unknown config key", secret.Encode(), append(ok, "--config", badYAML)},
		{"missing config", secret.Encode(), append(ok, "--config", filepath.Join(dir, "none.yaml"))},
		{"bad multiplier", secret.Encode(), append(ok, "--raft-multiplier", "0")},
		{"bad log level", secret.Encode(), append(ok, "--log-level", "loud")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IMH_SECRET", tt.env)
			_, err := agentTestConfig(t, tt.args...)
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a usage error (exit 2)", err)
			}
		})
	}
}

// TestAgentConfigTypes: a value of the wrong type, from the YAML file or the
// environment, is a usage error naming the key; well-typed values of every
// spelling pass.
func TestAgentConfigTypes(t *testing.T) {
	clearAgentEnv(t)
	dir := t.TempDir()
	secret, _ := cluster.NewSecret()
	t.Setenv("IMH_SECRET", secret.Encode())
	ok := []string{"--node-name", "n1", "--data-dir", dir}
	for _, tt := range []struct {
		name, yaml, env, key string // key "" = accepted
	}{
		{"bootstrap-expect word", "bootstrap-expect: three\n", "", "bootstrap-expect"},
		{"raft-multiplier word", "raft-multiplier: two\n", "", "raft-multiplier"},
		{"raft-multiplier fraction", "raft-multiplier: 1.5\n", "", "raft-multiplier"},
		{"list for a string", "raft-bind: [127.0.0.1:1, 127.0.0.1:2]\n", "", "raft-bind"},
		{"map for a string", "node-name: {a: b}\n", "", "node-name"},
		{"join of maps", "join: [{a: b}]\n", "", "join"},
		{"bool word", "insecure-plaintext: maybe\n", "", "insecure-plaintext"},
		{"env int word", "", "IMH_BOOTSTRAP_EXPECT=three", "bootstrap-expect"},
		{"env multiplier word", "", "IMH_RAFT_MULTIPLIER=two", "raft-multiplier"},
		{"ints", "bootstrap-expect: 3\nraft-multiplier: 2\n", "", ""},
		{"env ints", "", "IMH_BOOTSTRAP_EXPECT=3", ""},
		{"join as one string", "join: 127.0.0.1:1,127.0.0.1:2\n", "", ""},
		{"duration", "dead-member-cleanup: 30m\n", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := ok
			if tt.yaml != "" {
				f := filepath.Join(t.TempDir(), "agent.yaml")
				if err := os.WriteFile(f, []byte(tt.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(slices.Clone(ok), "--config", f)
			}
			if k, v, found := strings.Cut(tt.env, "="); found {
				t.Setenv(k, v)
			}
			_, err := agentTestConfig(t, args...)
			var ue *usageError
			switch {
			case tt.key == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tt.key != "" && (!errors.As(err, &ue) || !strings.Contains(err.Error(), tt.key)):
				t.Fatalf("err = %v, want a usage error (exit 2) naming %s", err, tt.key)
			}
		})
	}
}

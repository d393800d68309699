package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/routerd"
	"github.com/imh-project/imh/router/simnet"
)

// validator is a daemon's config struct: decoded by loadConfig, checked by
// its Validate.
type validator interface{ Validate() error }

// configCommand is one command on the shared configuration path: its
// constructor, the name loadConfig prefixes errors with, and a fresh
// pointer to its config struct.
type configCommand struct {
	name   string
	newCmd func() *cobra.Command
	newCfg func() validator
	file   bool // takes --config
}

var configCommands = []configCommand{
	{"agent", newAgentCmd, func() validator { return new(agentSettings) }, true},
	{"router serve", newRouterServeCmd, func() validator { return new(routerServeConfig) }, true},
	{"frontend serve", newFrontendServeCmd, func() validator { return new(frontendServeConfig) }, true},
	{"simnet serve", newSimnetServeCmd, func() validator { return new(simnetServeConfig) }, true},
	{"simnet send", newSimnetSendCmd, func() validator { return new(sendSettings) }, false},
	{"simnet baseline", newSimnetBaselineCmd, func() validator { return new(baselineSettings) }, false},
}

// sendSettings and baselineSettings are what simnet send and baseline
// decode, whose Config methods check them (router/simnet's tests); for
// this test they accept anything.
type (
	sendSettings struct {
		simnet.SendSettings `mapstructure:",squash"`
	}
	baselineSettings struct {
		simnet.BaselineSettings `mapstructure:",squash"`
	}
)

func (sendSettings) Validate() error     { return nil }
func (baselineSettings) Validate() error { return nil }

func configCommandNamed(t *testing.T, name string) configCommand {
	t.Helper()
	for _, c := range configCommands {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no command %q", name)
	return configCommand{}
}

// clearIMHEnv empties every IMH_ variable of cmd's flags, and IMH_CONFIG,
// for the test (an empty variable counts as unset).
func clearIMHEnv(t *testing.T, cmd *cobra.Command) {
	t.Helper()
	t.Setenv(envName(configFileFlag), "")
	for k := range settingFlags(cmd) {
		t.Setenv(envName(k), "")
	}
}

// loadTestConfig runs the shared path for c: yaml, when not empty, is
// written to a file given with --config; env is NAME=VALUE pairs.
func loadTestConfig(t *testing.T, c configCommand, yaml string, env []string, args ...string) (validator, error) {
	t.Helper()
	clearIMHEnv(t, c.newCmd())
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if yaml != "" {
		f := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(slices.Clone(args), "--config", f)
	}
	cmd := c.newCmd()
	if err := cmd.ParseFlags(args); err != nil {
		return nil, err
	}
	cfg := c.newCfg()
	err := loadConfig(cmd, c.name, cfg)
	return cfg, err
}

// settingTags are the mapstructure tags of a config struct, squashed
// structs included, mapped to the field's value.
func settingTags(v reflect.Value) map[string]any {
	out := map[string]any{}
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		tag := sf.Tag.Get("mapstructure")
		switch {
		case tag == ",squash":
			for k, x := range settingTags(v.Field(i)) {
				out[k] = x
			}
		case tag != "" && tag != "-":
			out[tag] = v.Field(i).Interface()
		}
	}
	return out
}

// TestConfigFlagsAndFields: every setting flag of every command on the
// path has a type the checks know and a field of the same name in the
// command's struct, and no field names a flag that does not exist; with
// nothing set, every command decodes its defaults.
func TestConfigFlagsAndFields(t *testing.T) {
	for _, c := range configCommands {
		t.Run(c.name, func(t *testing.T) {
			flags := settingFlags(c.newCmd())
			tags := settingTags(reflect.ValueOf(c.newCfg()))
			for name, f := range flags {
				if want := checkString(f.Value.Type(), ""); strings.Contains(want, "cannot check") {
					t.Errorf("--%s: %s", name, want)
				}
				if _, ok := tags[name]; !ok {
					t.Errorf("--%s has no field in the config struct", name)
				}
			}
			for tag := range tags {
				if _, ok := flags[tag]; !ok {
					t.Errorf("field %s names no flag", tag)
				}
			}
			if (c.newCmd().Flags().Lookup(configFileFlag) != nil) != c.file {
				t.Errorf("--config: want %v", c.file)
			}
			if _, err := loadTestConfig(t, c, "", nil); err != nil {
				t.Fatalf("defaults: %v", err)
			}
		})
	}
}

// TestConfigPrecedence: flag > IMH_ environment > --config file > the
// flag's default, for one setting of each command.
func TestConfigPrecedence(t *testing.T) {
	for _, tt := range []struct {
		cmd, key              string
		def, file, env, flagV string
	}{
		{"agent", "raft-bind", cluster.DefaultConfig().RaftBind, "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"},
		{"agent", "bootstrap-expect", "0", "3", "4", "5"},
		{"agent", "join", "[]", "[a b]", "[c d]", "[e]"},
		{"agent", "dead-member-cleanup", "0s", "2m0s", "3m0s", "4m0s"},
		{"agent", "insecure-plaintext", "false", "true", "false", "true"},
		{"router serve", "grace-period", router.DefaultConfig().GracePeriod.String(), "1m0s", "2m0s", "3m0s"},
		{"router serve", "max-conns", fmt.Sprint(routerd.DefaultMaxConns), "1", "2", "3"},
		{"router serve", "ca-file", "", "a.pem", "b.pem", "c.pem"},
		{"frontend serve", "router", "", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"},
		{"simnet serve", "peers", "2000", "300", "400", "500"},
		{"simnet serve", "time-scale", "1", "2.5", "3", "4"},
		{"simnet serve", "seed", "1", "7", "8", "9"},
		{"simnet send", "count", "100", "", "7", "8"},
		{"simnet baseline", "hops", "3", "", "2", "1"},
	} {
		t.Run(tt.cmd+" "+tt.key, func(t *testing.T) {
			c := configCommandNamed(t, tt.cmd)
			yaml := ""
			if tt.file != "" {
				yaml = tt.key + ": " + tt.file + "\n"
				if tt.key == "join" {
					yaml = "join: [a, b]\n"
				}
			}
			envVal := strings.NewReplacer("[", "", "]", "", " ", ",").Replace(tt.env)
			flagVal := strings.Trim(tt.flagV, "[]")
			layers := []struct {
				name, want string
				yaml       string
				env        []string
				args       []string
			}{
				{"default", tt.def, "", nil, nil},
				{"file", tt.file, yaml, nil, nil},
				{"env", tt.env, yaml, []string{envName(tt.key) + "=" + envVal}, nil},
				{"flag", tt.flagV, yaml, []string{envName(tt.key) + "=" + envVal}, []string{"--" + tt.key + "=" + flagVal}},
			}
			for _, l := range layers {
				if l.name == "file" && tt.file == "" {
					continue
				}
				cfg, err := loadTestConfig(t, c, l.yaml, l.env, l.args...)
				if err != nil {
					t.Fatalf("%s: %v", l.name, err)
				}
				if got := fmt.Sprint(settingTags(reflect.ValueOf(cfg))[tt.key]); got != l.want {
					t.Errorf("%s layer: %s = %s, want %s", l.name, tt.key, got, l.want)
				}
			}
		})
	}
}

// TestConfigRefusals: an unknown key in the file, a value of the wrong
// type from the file or the environment, and a setting Validate refuses
// are usage errors (exit 2) whose message names the key (and the
// variable, for the environment).
func TestConfigRefusals(t *testing.T) {
	agentOK := []string{"--node-name", "n1", "--data-dir", "d"}
	for _, tt := range []struct {
		cmd, name string
		yaml      string
		env       []string
		args      []string
		want      []string // in the message; none: accepted
	}{
		{"agent", "unknown key", "raft-bnd: 127.0.0.1:1\n", nil, nil, []string{"unknown key", `"raft-bnd"`}},
		{"agent", "word for an int", "bootstrap-expect: three\n", nil, nil, []string{"bootstrap-expect", "integer"}},
		{"agent", "fraction for an int", "raft-multiplier: 1.5\n", nil, nil, []string{"raft-multiplier"}},
		{"agent", "list for a string", "raft-bind: [127.0.0.1:1, 127.0.0.1:2]\n", nil, nil, []string{"raft-bind", "single value"}},
		{"agent", "map for a string", "node-name: {a: b}\n", nil, nil, []string{"node-name", "single value"}},
		{"agent", "bad duration", "dead-member-cleanup: 5\n", nil, nil, []string{"dead-member-cleanup", "duration"}},
		{"agent", "env word for an int", "", []string{"IMH_BOOTSTRAP_EXPECT=three"}, nil, []string{"IMH_BOOTSTRAP_EXPECT", "bootstrap-expect"}},
		{"agent", "env beats a bad file value", "bootstrap-expect: three\n", []string{"IMH_BOOTSTRAP_EXPECT=3"}, agentOK, nil},
		{"agent", "flag beats a bad env value", "", []string{"IMH_RAFT_MULTIPLIER=two"}, append([]string{"--raft-multiplier", "2"}, agentOK...), nil},
		{"agent", "whole float is an int", "bootstrap-expect: 3.0\n", nil, agentOK, nil},
		{"agent", "IMH_CONFIG names the file", "", []string{"IMH_CONFIG=/nonexistent/imh.yaml"}, nil, []string{"/nonexistent/imh.yaml"}},
		{"agent", "missing data dir", "", nil, []string{"--node-name", "n1"}, []string{"--data-dir"}},
		{"agent", "bad log level", "", nil, []string{"--node-name", "n1", "--data-dir", "d", "--log-level", "loud"}, []string{"loud"}},
		{"router serve", "unknown key", "listen: 127.0.0.1:0\nport: 1\n", nil, nil, []string{"unknown key", `"port"`}},
		{"router serve", "env word for an int", "", []string{"IMH_MAX_SESSIONS=many"}, nil, []string{"IMH_MAX_SESSIONS", "max-sessions"}},
		{"router serve", "env bad duration", "", []string{"IMH_GRACE_PERIOD=5"}, nil, []string{"IMH_GRACE_PERIOD", "grace-period"}},
		{"router serve", "bool word", "insecure-plaintext: maybe\n", nil, nil, []string{"insecure-plaintext"}},
		{"router serve", "no listen", "", nil, []string{"--name", "r1", "--network", "simnet://127.0.0.1:1"}, []string{"--listen is required"}},
		{"router serve", "both backends", "", nil, []string{"--listen", "127.0.0.1:0", "--name", "r1", "--network", "simnet://127.0.0.1:1", "--upstream", "i2cp://127.0.0.1:2"}, []string{"exclusive"}},
		{"router serve", "max sessions 0 from the file", "listen: 127.0.0.1:0\nname: r1\nnetwork: simnet://127.0.0.1:1\nmax-sessions: 0\n", nil, nil, []string{"--max-sessions 0"}},
		{"router serve", "valid", "listen: 127.0.0.1:0\nname: r1\nnetwork: simnet://127.0.0.1:1\n", nil, nil, nil},
		{"frontend serve", "unknown key", "nmae: f1\n", nil, nil, []string{"unknown key", `"nmae"`}},
		{"frontend serve", "list for a string", "router: [a, b]\n", nil, nil, []string{"router"}},
		{"frontend serve", "bad router", "", []string{"IMH_NAME=f1", "IMH_LISTEN=127.0.0.1:0", "IMH_ROUTER=nowhere"}, nil, []string{"--router"}},
		{"frontend serve", "bad name", "name: a b\nlisten: 127.0.0.1:0\nrouter: 127.0.0.1:1\n", nil, nil, []string{"--name"}},
		{"simnet serve", "env word for an int", "", []string{"IMH_PEERS=many"}, []string{"--listen", "127.0.0.1:0"}, []string{"IMH_PEERS", "peers"}},
		{"simnet serve", "env word for a float", "", []string{"IMH_TIME_SCALE=fast"}, []string{"--listen", "127.0.0.1:0"}, []string{"IMH_TIME_SCALE", "time-scale"}},
		{"simnet serve", "unknown key", "listen: 127.0.0.1:0\nspeed: 2\n", nil, nil, []string{"unknown key", `"speed"`}},
		{"simnet serve", "time scale 0", "listen: 127.0.0.1:0\ntime-scale: 0\n", nil, nil, []string{"--time-scale"}},
		{"simnet serve", "no listen", "", nil, nil, []string{"--listen is required"}},
		{"simnet send", "env word for an int", "", []string{"IMH_COUNT=lots"}, nil, []string{"IMH_COUNT", "count"}},
		{"simnet send", "no file: IMH_CONFIG ignored", "", []string{"IMH_CONFIG=/nonexistent/imh.yaml"}, nil, nil},
	} {
		t.Run(tt.cmd+" "+tt.name, func(t *testing.T) {
			c := configCommandNamed(t, tt.cmd)
			cfg, err := loadTestConfig(t, c, tt.yaml, tt.env, tt.args...)
			if err == nil {
				err = cfg.Validate()
			}
			var ue *usageError
			switch {
			case len(tt.want) == 0 && err != nil:
				t.Fatalf("err = %v, want none", err)
			case len(tt.want) == 0:
			case !errors.As(err, &ue):
				t.Fatalf("err = %v, want a usage error (exit 2)", err)
			case !strings.HasPrefix(err.Error(), tt.cmd+": "):
				t.Errorf("err = %q, want it to start with %q", err, tt.cmd+": ")
			default:
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %q, want it to name %s", err, w)
					}
				}
			}
		})
	}
}

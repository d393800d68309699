package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/logging"
	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/internal/pki"
)

func init() { register(newAgentCmd) }

// agentExtensions let other files (the balancer's wiring) plug into `imh
// agent` from their init. Each is called once the cluster is built and may
// install a live view (c.SetLiveView) and return leader work: that function
// then runs on the leader only, started after a Barrier and cancelled when
// leadership is lost (see cluster.Config.LeaderWork). Several extensions'
// works run side by side. reg takes the extension's metrics collectors
// (GET /metrics).
var agentExtensions []func(c *cluster.Cluster, reg prometheus.Registerer, logger *slog.Logger) (leaderWork func(context.Context) error, err error)

// agentFlagDefaults lists every agent flag with its default; the keys are
// also the keys of the --config YAML file and, upper-cased with IMH_, the
// environment variables.
var agentFlagDefaults = map[string]any{
	"node-name":        "",
	"data-dir":         "",
	"raft-bind":        cluster.DefaultConfig().RaftBind,
	"gossip-bind":      cluster.DefaultConfig().GossipBind,
	"http-bind":        cluster.DefaultConfig().HTTPBind,
	"raft-advertise":   "",
	"gossip-advertise": "",
	"http-advertise":   "",
	"bootstrap-expect": 0,
	"join":             []string{},
	"secret-file":      "",

	"previous-secret-file": "",
	"raft-multiplier":      cluster.DefaultRaftMultiplier,
	"log-level":            "info",

	"dead-member-cleanup": "0",

	"ca-file":            "",
	"cert-file":          "",
	"key-file":           "",
	"insecure-plaintext": false,
}

func newAgentCmd() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a balancer replica: raft node, gossip member and HTTP API",
		Long: "Run one replica of the balancer cluster. Configuration: flag > IMH_<FLAG> environment >\n" +
			"--config YAML (keys = flag names) > default. The cluster secret comes from\n" +
			"--secret-file, IMH_SECRET_FILE or IMH_SECRET; the agent refuses to start without one.\n" +
			"During a rotation --previous-secret-file names the old one (docs/security.md).\n" +
			"Start N agents with --bootstrap-expect N and --join naming the others (or all,\n" +
			"itself included); a restarted agent with state never bootstraps again.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := agentViper(cmd, configFile)
			if err != nil {
				return err
			}
			cfg, err := agentConfig(v)
			if err != nil {
				return err
			}
			return runAgent(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.String("node-name", "", "unique name of this agent (default: the host name)")
	f.String("data-dir", "", "directory for the raft log and snapshots (required)")
	f.String("raft-bind", cluster.DefaultConfig().RaftBind, "raft TCP listen address")
	f.String("gossip-bind", cluster.DefaultConfig().GossipBind, "gossip (memberlist) listen address, UDP and TCP")
	f.String("http-bind", cluster.DefaultConfig().HTTPBind, "HTTP API listen address; followers forward writes to the leader's (--http-advertise), so across hosts bind a routable address, with TLS")
	f.String("raft-advertise", "", "raft address other agents dial (default: --raft-bind)")
	f.String("gossip-advertise", "", "gossip address other agents dial (default: --gossip-bind)")
	f.String("http-advertise", "", "API address other agents forward writes to (default: --http-bind)")
	f.Int("bootstrap-expect", 0, "bootstrap once this many agents have found each other (only on first start)")
	f.StringSlice("join", nil, "gossip address of another agent; repeatable, may name this agent and agents not up yet")
	f.String("secret-file", "", "file holding the cluster secret (imh keygen); env IMH_SECRET_FILE, or IMH_SECRET")
	f.String("previous-secret-file", "", "during a rotation only: the secret the cluster used before --secret-file (docs/security.md)")
	f.StringVar(&configFile, "config", "", "YAML config file (keys = flag names)")
	f.Int("raft-multiplier", cluster.DefaultRaftMultiplier, "scale raft timings (1 = fastest failover; raise on slow hosts)")
	f.String("log-level", "info", "log level: debug, info, warn, error")
	f.String("ca-file", "", "cluster CA bundle (PEM, imh tls ca create); with --cert-file and --key-file: mutual TLS on raft and the API")
	f.String("cert-file", "", "this agent's certificate (imh tls cert create --agent NAME)")
	f.String("key-file", "", "its private key")
	f.Bool("insecure-plaintext", false, "INSECURE: allow raft and the API in plaintext on non-loopback addresses (no TLS files)")
	f.Duration("dead-member-cleanup", 0, "on the leader, remove a voter gone from gossip this long (0 = never; at least 1m; never below 3 voters)")
	return cmd
}

// agentViper layers flag > environment > config file > default.
func agentViper(cmd *cobra.Command, configFile string) (*viper.Viper, error) {
	v := viper.New()
	for k, d := range agentFlagDefaults {
		v.SetDefault(k, d)
	}
	v.SetEnvPrefix("IMH")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return nil, fmt.Errorf("agent flags: %w", err)
	}
	if configFile == "" {
		configFile = os.Getenv("IMH_CONFIG")
	}
	if configFile == "" {
		return v, nil
	}
	fileV := viper.New()
	fileV.SetConfigFile(configFile)
	fileV.SetConfigType("yaml")
	if err := fileV.ReadInConfig(); err != nil {
		return nil, usageErrorf("config %s: %v", configFile, err)
	}
	for _, k := range fileV.AllKeys() {
		if _, ok := agentFlagDefaults[k]; !ok {
			return nil, usageErrorf("config %s: unknown key %q (keys are the agent's flag names)", configFile, k)
		}
	}
	if err := v.MergeConfigMap(fileV.AllSettings()); err != nil {
		return nil, usageErrorf("config %s: %v", configFile, err)
	}
	return v, nil
}

// agentConfig turns the layered settings into a cluster.Config; any bad
// value is a usage error (exit 2).
func agentConfig(v *viper.Viper) (cluster.Config, error) {
	cfg := cluster.DefaultConfig()
	if err := agentCheckTypes(v); err != nil {
		return cfg, err
	}
	cfg.NodeName = v.GetString("node-name")
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, usageErrorf("agent: --node-name is required (host name unknown: %v)", err)
		}
		cfg.NodeName = h
	}
	cfg.DataDir = v.GetString("data-dir")
	if cfg.DataDir == "" {
		return cfg, usageErrorf("agent: --data-dir is required")
	}
	cfg.RaftBind = v.GetString("raft-bind")
	cfg.GossipBind = v.GetString("gossip-bind")
	cfg.HTTPBind = v.GetString("http-bind")
	cfg.RaftAdvertise = v.GetString("raft-advertise")
	cfg.GossipAdvertise = v.GetString("gossip-advertise")
	cfg.HTTPAdvertise = v.GetString("http-advertise")
	cfg.BootstrapExpect = v.GetInt("bootstrap-expect")
	cfg.RaftMultiplier = v.GetInt("raft-multiplier")
	cfg.Join = splitList(v.GetStringSlice("join"))
	cleanup, err := time.ParseDuration(v.GetString("dead-member-cleanup"))
	if err != nil {
		return cfg, usageErrorf("agent: --dead-member-cleanup: %v", err)
	}
	cfg.DeadMemberCleanup = cleanup
	level, err := logging.ParseLevel(v.GetString("log-level"))
	if err != nil {
		return cfg, usageErrorf("agent: %v", err)
	}
	cfg.Logger = logging.New(os.Stderr, level)
	if err := agentTLS(v, &cfg); err != nil {
		return cfg, err
	}
	secret, err := agentSecret(v.GetString("secret-file"))
	if err != nil {
		return cfg, err
	}
	cfg.Secret = secret
	if p := v.GetString("previous-secret-file"); p != "" {
		if cfg.PreviousSecret, err = readSecretFile(p); err != nil {
			return cfg, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, &usageError{err: err}
	}
	return cfg, nil
}

// agentCheckTypes checks the type of every setting, whichever layer gave
// it (flags are typed by pflag; the YAML file and the environment are not),
// so that viper's lenient getters never turn "three" into 0 or a list
// into a string. The error names the key; exit 2.
func agentCheckTypes(v *viper.Viper) error {
	for _, k := range slices.Sorted(maps.Keys(agentFlagDefaults)) {
		val := v.Get(k)
		var want string
		switch agentFlagDefaults[k].(type) {
		case int:
			if _, ok := configInt(val); !ok {
				want = "an integer"
			}
		case bool:
			if _, ok := configBool(val); !ok {
				want = "true or false"
			}
		case []string:
			if !configList(val) {
				want = "a list of strings (or one string, comma-separated)"
			}
		default: // strings and durations
			if !configScalar(val) {
				want = "a single value, not a list or a map"
			}
		}
		if want != "" {
			return usageErrorf("agent: setting %s: want %s, got %s", k, want, shortValue(val))
		}
	}
	return nil
}

// configInt accepts what an integer setting may hold: an integer of any
// Go type, a whole float (YAML 3.0), or a string of decimal digits (env).
func configInt(val any) (int, bool) {
	switch x := val.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case int32:
		return int(x), true
	case uint64:
		return int(x), x <= math.MaxInt32
	case float64:
		return int(x), x == math.Trunc(x) && math.Abs(x) <= math.MaxInt32
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil
	}
	return 0, false
}

func configBool(val any) (bool, bool) {
	switch x := val.(type) {
	case bool:
		return x, true
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		return b, err == nil
	}
	return false, false
}

func configScalar(val any) bool {
	switch val.(type) {
	case string, int, int32, int64, uint64, float64, bool:
		return true
	}
	return false
}

func configList(val any) bool {
	switch x := val.(type) {
	case string, []string:
		return true
	case []any:
		for _, e := range x {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// shortValue prints a setting's value for an error message, cut short:
// a value can be anything a YAML file holds.
func shortValue(val any) string {
	s := fmt.Sprintf("%q", fmt.Sprint(val))
	if _, ok := val.(string); !ok {
		s = fmt.Sprintf("%T %v", val, val)
	}
	const max = 60
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// agentTLS loads the agent's TLS files, or without them enforces the
// plaintext rule: loopback only, unless --insecure-plaintext.
func agentTLS(v *viper.Viper, cfg *cluster.Config) error {
	files := pki.Files{CA: v.GetString("ca-file"), Cert: v.GetString("cert-file"), Key: v.GetString("key-file")}
	store, err := loadTLS(files, pki.RoleAgent, cfg.Logger)
	if err != nil {
		return err
	}
	if store != nil {
		cfg.TLS = store
		return nil
	}
	return plaintextCheck(v.GetBool("insecure-plaintext"), cfg.Logger, cfg.RaftBind, cfg.HTTPBind)
}

// splitList accepts "a,b" and "a b" as well as repeated flags (IMH_JOIN).
func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// agentSecret reads the cluster secret: --secret-file / IMH_SECRET_FILE (a
// path), else IMH_SECRET (the value). Without one the agent refuses to start.
func agentSecret(path string) (cluster.Secret, error) {
	if path != "" {
		return readSecretFile(path)
	}
	text := os.Getenv("IMH_SECRET")
	if strings.TrimSpace(text) == "" {
		return cluster.Secret{}, usageErrorf("agent: no cluster secret: give --secret-file, IMH_SECRET_FILE or IMH_SECRET (make one with imh keygen)")
	}
	s, err := cluster.ParseSecret(text)
	if err != nil {
		return cluster.Secret{}, usageErrorf("secret from IMH_SECRET: %v", err)
	}
	return s, nil
}

// readSecretFile reads a secret file (imh keygen); any problem is a usage
// error (exit 2).
func readSecretFile(path string) (cluster.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return cluster.Secret{}, usageErrorf("secret file: %v", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return cluster.Secret{}, usageErrorf("secret file %s is empty (write a secret into it with imh keygen --out, or give IMH_SECRET)", path)
	}
	s, err := cluster.ParseSecret(string(b))
	if err != nil {
		return cluster.Secret{}, usageErrorf("secret from %s: %v", path, err)
	}
	return s, nil
}

// runAgent runs the agent until ctx ends (SIGTERM/SIGINT), then stops
// cleanly.
func runAgent(ctx context.Context, cfg cluster.Config) error {
	logger := cfg.Logger
	ready := make(chan struct{})
	var works []func(context.Context) error
	cfg.LeaderWork = func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return nil
		case <-ready:
		}
		return runLeaderWorks(ctx, works)
	}
	reg := metrics.NewRegistry()
	raftMetrics, err := metrics.Raft()
	if err != nil {
		logger.Warn("raft metrics unavailable", "err", err)
		raftMetrics = prometheus.Gatherers{}
	}
	cfg.Metrics = metricsHandler(reg, raftMetrics)
	c, err := cluster.New(cfg)
	if errors.Is(err, cluster.ErrCorrupt) {
		// The operator must act on the data dir: a usage error (exit 2), not a retryable failure.
		return usageErrorf("agent %s: %w", cfg.NodeName, err)
	}
	if err != nil {
		return fmt.Errorf("agent %s: %w", cfg.NodeName, err)
	}
	reg.MustRegister(clusterCollector(c))
	for _, ext := range agentExtensions {
		w, err := ext(c, reg, logger)
		if err != nil {
			close(ready)
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			_ = c.Run(cancelled)
			return fmt.Errorf("agent %s: %w", cfg.NodeName, err)
		}
		if w != nil {
			works = append(works, w)
		}
	}
	close(ready)
	watchTLS(ctx, cfg.TLS, logger)
	logger.Info("agent running", "node", cfg.NodeName, "http", c.HTTPAddr(), "raft", c.RaftAddr(), "gossip", c.GossipAddr(), "tls", cfg.TLS != nil)
	err = c.Run(ctx)
	if err != nil {
		return fmt.Errorf("agent %s: %w", cfg.NodeName, err)
	}
	return nil
}

// runLeaderWorks runs every extension's leader work until ctx ends or one
// fails (the cluster restarts them all after a pause).
func runLeaderWorks(ctx context.Context, works []func(context.Context) error) error {
	if len(works) == 0 {
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(works))
	for _, w := range works {
		go func() { errc <- w(ctx) }()
	}
	var first error
	for range works {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	if first == nil && ctx.Err() == nil {
		return errors.New("leader work returned")
	}
	return first
}

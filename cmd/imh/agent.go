package main

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/logging"
	"github.com/imh-project/imh/internal/pki"
)

// agentExtensions are the parts `imh agent` runs beside the cluster
// (cluster.Extension): the balancer (balancerwire.go).
func agentExtensions() []cluster.Extension { return []cluster.Extension{wireBalancer} }

// agentSettings is what `imh agent` reads through loadConfig: the
// cluster's Config, whose setting fields carry their flags' names (the
// keys of the --config file), and the files and switches agentConfig
// turns into the rest of it.
type agentSettings struct {
	Cluster            cluster.Config `mapstructure:",squash"`
	SecretFile         string         `mapstructure:"secret-file"`
	PreviousSecretFile string         `mapstructure:"previous-secret-file"`
	LogLevel           string         `mapstructure:"log-level"`
	TLS                tlsSettings    `mapstructure:",squash"`
	InsecurePlaintext  bool           `mapstructure:"insecure-plaintext"`
}

// Validate checks the settings that need no file and no network; the
// cluster's Config.Validate checks the rest once they are turned into one.
// Every error is a usage error (exit 2).
func (s agentSettings) Validate() error {
	switch {
	case s.Cluster.NodeName == "":
		return usageErrorf("agent: --node-name is required")
	case s.Cluster.DataDir == "":
		return usageErrorf("agent: --data-dir is required")
	}
	if _, err := logging.ParseLevel(s.LogLevel); err != nil {
		return usageErrorf("agent: %w", err)
	}
	return nil
}

func newAgentCmd() *cobra.Command {
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
			cfg, err := agentConfig(cmd)
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
	addConfigFileFlag(f)
	f.Int("raft-multiplier", cluster.DefaultRaftMultiplier, "scale raft timings (1 = fastest failover; raise on slow hosts)")
	f.String("log-level", "info", "log level: debug, info, warn, error")
	f.String("ca-file", "", "cluster CA bundle (PEM, imh tls ca create); with --cert-file and --key-file: mutual TLS on raft and the API")
	f.String("cert-file", "", "this agent's certificate (imh tls cert create --agent NAME)")
	f.String("key-file", "", "its private key")
	f.Bool("insecure-plaintext", false, "INSECURE: allow raft and the API in plaintext on non-loopback addresses (no TLS files)")
	f.Duration("dead-member-cleanup", 0, "on the leader, remove a voter gone from gossip this long (0 = never; at least 1m; never below 3 voters)")
	return cmd
}

// agentConfig reads the agent's settings (loadConfig), checks them and
// turns them into a cluster.Config: the node name defaults to the host
// name, the secret and the TLS files are read. Any bad value is a usage
// error (exit 2).
func agentConfig(cmd *cobra.Command) (cluster.Config, error) {
	var s agentSettings
	if err := loadConfig(cmd, "agent", &s); err != nil {
		return s.Cluster, err
	}
	if s.Cluster.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return s.Cluster, usageErrorf("agent: --node-name is required (host name unknown: %v)", err)
		}
		s.Cluster.NodeName = h
	}
	if err := s.Validate(); err != nil {
		return s.Cluster, err
	}
	cfg := s.Cluster
	cfg.Join = splitList(cfg.Join)
	level, _ := logging.ParseLevel(s.LogLevel) // checked by Validate
	cfg.Logger = logging.New(os.Stderr, level)
	var err error
	if cfg.TLS, err = usageOf(pki.LoadDaemon(s.TLS.files(), pki.RoleAgent, s.InsecurePlaintext, cfg.Logger, cfg.RaftBind, cfg.HTTPBind)); err != nil {
		return cfg, err
	}
	secret, err := agentSecret(s.SecretFile)
	if err != nil {
		return cfg, err
	}
	cfg.Secret = secret
	if p := s.PreviousSecretFile; p != "" {
		if cfg.PreviousSecret, err = usageOf(cluster.ReadSecretFile(p)); err != nil {
			return cfg, err
		}
	}
	return cfg, asUsage(cfg.Validate())
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
		return usageOf(cluster.ReadSecretFile(path))
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

// runAgent runs the agent until ctx ends (SIGTERM/SIGINT), then stops
// cleanly.
func runAgent(ctx context.Context, cfg cluster.Config) error {
	ctx, cancel := context.WithCancel(ctx) // the TLS watcher ends with the agent
	defer cancel()
	cfg.TLS.Follow(ctx, tlsFollowEvery)
	err := cluster.RunAgent(ctx, cfg, agentExtensions()...)
	if errors.Is(err, cluster.ErrCorrupt) {
		// The operator must act on the data dir: a usage error (exit 2), not a retryable failure.
		return &usageError{err: err}
	}
	return err
}

package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router/simnet"
)

// The client side of the simulated network: `imh simnet send` (remote
// clients sending to a destination) and `imh simnet baseline` (today's
// multihoming, for comparison); the daemon is in simnet.go.

// simnetSendConfig is what `imh simnet send` reads through loadConfig
// (flag > IMH_ environment > default; no file).
type simnetSendConfig struct {
	Network   string        `mapstructure:"network"`
	Dest      string        `mapstructure:"dest"`
	Count     int           `mapstructure:"count"`
	Clients   int           `mapstructure:"clients"`
	Interval  time.Duration `mapstructure:"interval"`
	Mode      string        `mapstructure:"mode"`
	Behaviour string        `mapstructure:"behaviour"`
	JSON      bool          `mapstructure:"json"`
	Messages  bool          `mapstructure:"messages"`
}

func newSimnetSendCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "send --network simnet://H:P --dest B32",
		Short: "send remote-client traffic to a destination; prints what was delivered and lost",
		Long: "send runs --clients remote clients in the simulated network, each sending --count messages\n" +
			"every --interval, and returns when every message is resolved. Messages are counted by the\n" +
			"network, as on the real one the sender is not told what was lost.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c simnetSendConfig
			if err := loadConfig(cmd, "simnet send", &c); err != nil {
				return err
			}
			return runSimnetSend(cmd, c)
		},
	}
	f := cmd.Flags()
	f.String("network", "", "the simnet daemon, simnet://H:P (required)")
	f.String("dest", "", "destination address, with or without .b32.i2p (required)")
	f.Int("count", 100, "messages per client")
	f.Int("clients", 1, "number of concurrent clients")
	f.Duration("interval", 0, "time between two messages of one client")
	f.String("mode", "oneway", "oneway or reqresp")
	f.String("behaviour", "i2pd", "lease choice of the clients: i2pd, java or mix")
	f.Bool("json", false, "print one JSON object")
	f.Bool("messages", false, "with --json, list every message's outcome under \"messages\" (client, seq, sent time, delivered, router or reason)")
	return cmd
}

func runSimnetSend(cmd *cobra.Command, o simnetSendConfig) error {
	if o.Network == "" || o.Dest == "" {
		return usageErrorf("simnet send: --network and --dest are required")
	}
	addr, err := simnet.ParseAddr(o.Network)
	if err != nil {
		return usageErrorf("simnet send: --network: %v", err)
	}
	dest, err := i2p.ParseB32(o.Dest)
	if err != nil {
		return usageErrorf("simnet send: --dest: %v", err)
	}
	mode, err := simnet.ParseMode(o.Mode)
	if err != nil {
		return usageErrorf("simnet send: --mode: %v", err)
	}
	behaviour, err := simnet.ParseBehaviour(o.Behaviour)
	if err != nil {
		return usageErrorf("simnet send: --behaviour: %v", err)
	}
	if o.Messages && !o.JSON {
		return usageErrorf("simnet send: --messages needs --json")
	}
	cfg := simnet.SendConfig{Dest: dest, Count: o.Count, Clients: o.Clients, Interval: o.Interval, Mode: mode, Behaviour: behaviour, Messages: o.Messages}
	if err := cfg.Validate(); err != nil {
		return usageErrorf("simnet send: %v", err)
	}
	res, err := simnet.RemoteSend(cmd.Context(), addr, cfg)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.JSON {
		return json.NewEncoder(out).Encode(res)
	}
	return res.WriteText(out)
}

// simnetBaselineConfig is what `imh simnet baseline` reads through
// loadConfig (flag > IMH_ environment > default; no file).
type simnetBaselineConfig struct {
	Network string `mapstructure:"network"`
	Keys    string `mapstructure:"keys"`
	Routers string `mapstructure:"routers"`
	Inbound int    `mapstructure:"inbound"`
	Hops    int    `mapstructure:"hops"`
	JSON    bool   `mapstructure:"json"`
}

func newSimnetBaselineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline --network simnet://H:P --keys FILE --routers r1,r2,...",
		Short: "today's multihoming: the same keys on several stock routers, each publishing its own LeaseSet",
		Long: "baseline attaches one simulated stock router per name in --routers to the network and runs an\n" +
			"unmanaged session with the keys on each: its own inbound tunnels, its own LeaseSet published\n" +
			"whenever they change (the last one stored wins). It runs until SIGTERM, then prints what each\n" +
			"router published and received.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c simnetBaselineConfig
			if err := loadConfig(cmd, "simnet baseline", &c); err != nil {
				return err
			}
			return runSimnetBaseline(cmd, c)
		},
	}
	f := cmd.Flags()
	f.String("network", "", "the simnet daemon, simnet://H:P (required)")
	f.String("keys", "", "private key file of the destination (required)")
	f.String("routers", "", "comma-separated names of the stock routers to attach (required)")
	f.Int("inbound", 3, "inbound tunnels per router")
	f.Int("hops", 3, "hops per inbound tunnel")
	f.Bool("json", false, "print the final counts as one JSON object")
	return cmd
}

func runSimnetBaseline(cmd *cobra.Command, o simnetBaselineConfig) error {
	if o.Network == "" || o.Keys == "" || o.Routers == "" {
		return usageErrorf("simnet baseline: --network, --keys and --routers are required")
	}
	addr, err := simnet.ParseAddr(o.Network)
	if err != nil {
		return usageErrorf("simnet baseline: --network: %v", err)
	}
	raw, err := os.ReadFile(o.Keys)
	if err != nil {
		return usageErrorf("simnet baseline: read keys: %v", err)
	}
	keys, err := i2p.ParsePrivateKeys(raw)
	if err != nil {
		return usageErrorf("simnet baseline: keys %s: %v", o.Keys, err)
	}
	cfg := simnet.DefaultBaselineConfig(keys)
	cfg.Inbound, cfg.Hops = o.Inbound, o.Hops
	var names []string
	for _, name := range strings.Split(o.Routers, ",") {
		if name = strings.TrimSpace(name); name == "" {
			return usageErrorf("simnet baseline: empty router name in --routers %q", o.Routers)
		}
		names = append(names, name)
	}
	if err := cfg.Validate(); err != nil {
		return usageErrorf("simnet baseline: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := simnet.RemoteBaseline(cmd.Context(), addr, names, cfg, logger)
	if err != nil {
		return fmt.Errorf("simnet baseline: %w", err)
	}
	out := cmd.OutOrStdout()
	if o.JSON {
		return json.NewEncoder(out).Encode(st)
	}
	return st.WriteText(out)
}

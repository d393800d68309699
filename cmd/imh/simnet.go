package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/daemon"
	"github.com/imh-project/imh/internal/metrics"
	"github.com/imh-project/imh/router/simnet"
)

func newSimnetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simnet",
		Short: "the simulated I2P network: serve it, send remote-client traffic through it",
	}
	cmd.AddCommand(newSimnetServeCmd(), newSimnetSendCmd(), newSimnetBaselineCmd(), newSimnetObserveCmd())
	return cmd
}

// simnetServeConfig is what `imh simnet serve` reads through loadConfig:
// one field per flag, tagged with the flag's name.
type simnetServeConfig struct {
	Listen    string  `mapstructure:"listen"`
	HTTP      string  `mapstructure:"http"`
	Seed      int64   `mapstructure:"seed"`
	Peers     int     `mapstructure:"peers"`
	TimeScale float64 `mapstructure:"time-scale"`
}

func newSimnetServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve --listen H:P [--http H:P] [--seed N] [--peers N] [--time-scale X] [--config F]",
		Short: "serve a simulated I2P network to router processes (stops on SIGTERM)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c simnetServeConfig
			if err := loadConfig(cmd, "simnet serve", &c); err != nil {
				return err
			}
			return runSimnetServe(cmd.Context(), c)
		},
	}
	f := cmd.Flags()
	f.String("listen", "", "address routers and senders connect to (required)")
	f.String("http", "", "address of the read-only HTTP status (GET /status)")
	f.Int64("seed", 1, "seed of every random choice of the network")
	f.Int("peers", 2000, "number of simulated peers")
	f.Float64("time-scale", 1, "simulated seconds per real second (1 when routers run in other processes)")
	addConfigFileFlag(f)
	return cmd
}

// netConfig is the simulated network the settings describe.
func (o simnetServeConfig) netConfig() simnet.Config {
	cfg := simnet.DefaultConfig()
	cfg.Seed, cfg.Peers = o.Seed, o.Peers
	cfg.Floodfills = min(cfg.Floodfills, max(cfg.StoreRedundancy, o.Peers/20))
	cfg.Clock = simnet.ScaledClock(o.TimeScale)
	return cfg
}

// Validate checks the settings before anything is started, as raft's
// ValidateConfig does; every error is a usage error (exit 2).
func (o simnetServeConfig) Validate() error {
	if o.Listen == "" {
		return usageErrorf("simnet serve: --listen is required")
	}
	if !(o.TimeScale > 0) {
		return usageErrorf("simnet serve: --time-scale %v must be positive", o.TimeScale)
	}
	if err := o.netConfig().Validate(); err != nil {
		return usageErrorf("simnet serve: %v", err)
	}
	return nil
}

func runSimnetServe(ctx context.Context, o simnetServeConfig) error {
	if err := o.Validate(); err != nil {
		return err
	}
	cfg := o.netConfig()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := simnet.NewWithLogger(cfg, logger)
	if err != nil {
		return fmt.Errorf("simnet serve: %w", err)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("simnet serve: listen %s: %w", o.Listen, err)
	}
	parts := []daemon.Part{func(ctx context.Context) error { return simnet.Serve(ctx, ln, n, logger) }}
	if o.HTTP != "" {
		hln, err := net.Listen("tcp", o.HTTP)
		if err != nil {
			ln.Close()
			return fmt.Errorf("simnet serve: http listen %s: %w", o.HTTP, err)
		}
		reg := metrics.NewRegistry()
		reg.MustRegister(simnet.NewCollector(n))
		serveHTTP := daemon.HTTP(&http.Server{Handler: simnetStatusHandler(n, metricsHandler(reg)), ReadHeaderTimeout: 5 * time.Second}, hln)
		parts = append(parts, func(ctx context.Context) error {
			if err := serveHTTP(ctx); err != nil {
				return fmt.Errorf("simnet serve: http: %w", err)
			}
			return nil
		})
		logger.Info("simnet status http", "addr", hln.Addr().String())
	}
	logger.Info("simnet serving", "addr", ln.Addr().String(), "seed", o.Seed, "peers", o.Peers, "time_scale", o.TimeScale)
	runErr := daemon.Run(ctx, parts...)
	logger.Info("simnet stopped")
	return runErr
}

func simnetStatusHandler(n *simnet.Network, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(n.Status())
	})
	return mux
}

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
	fmt.Fprintf(out, "delivered %d, failed %d\n", res.Delivered, res.Failed)
	for _, r := range simnet.Reasons {
		if v := res.Reasons[string(r)]; v > 0 {
			fmt.Fprintf(out, "  %s: %d\n", r, v)
		}
	}
	names := make([]string, 0, len(res.ByRouter))
	for name := range res.ByRouter {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(out, "  router %s: %d\n", name, res.ByRouter[name])
	}
	return nil
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
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := cmd.Context()
	var links []simnet.Link
	defer func() {
		for _, l := range links {
			l.Close()
		}
	}()
	for _, name := range strings.Split(o.Routers, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return usageErrorf("simnet baseline: empty router name in --routers %q", o.Routers)
		}
		l, err := simnet.Dial(ctx, addr, name, logger)
		if err != nil {
			return fmt.Errorf("simnet baseline: %w", err)
		}
		links = append(links, l)
	}
	logger.Info("baseline running", "dest", keys.Destination().B32(), "routers", o.Routers)
	b, err := simnet.RunBaseline(ctx, simnet.RealClock(), links, cfg, logger)
	if err != nil {
		return usageErrorf("simnet baseline: %v", err)
	}
	st := b.Stats()
	out := cmd.OutOrStdout()
	if o.JSON {
		return json.NewEncoder(out).Encode(st)
	}
	fmt.Fprintf(out, "published %v, rejected %v, received %v\n", st.Publishes, st.Rejected, st.Received)
	return nil
}

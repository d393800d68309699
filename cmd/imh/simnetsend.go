package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/router/simnet"
)

// The client side of the simulated network: `imh simnet send` (remote
// clients sending to a destination) and `imh simnet baseline` (today's
// multihoming, for comparison); the daemon is in simnet.go.

func newSimnetSendCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "send --network simnet://H:P --dest B32",
		Short: "send remote-client traffic to a destination; prints what was delivered and lost",
		Long: "send runs --clients remote clients in the simulated network, each sending --count messages\n" +
			"every --interval, and returns when every message is resolved. Messages are counted by the\n" +
			"network, as on the real one the sender is not told what was lost.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c simnet.SendSettings // flag > IMH_ environment > default; no file
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

func runSimnetSend(cmd *cobra.Command, o simnet.SendSettings) error {
	addr, cfg, err := o.Config()
	if err != nil {
		return usageErrorf("simnet send: %w", err)
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
			var c simnet.BaselineSettings // flag > IMH_ environment > default; no file
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

func runSimnetBaseline(cmd *cobra.Command, o simnet.BaselineSettings) error {
	addr, names, cfg, err := o.Config()
	if err != nil {
		return usageErrorf("simnet baseline: %w", err)
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

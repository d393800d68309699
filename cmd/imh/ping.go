package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/i2cpclient"
	"github.com/imh-project/imh/internal/ping"
)

// pingOptions are the flags of imh ping: the engine's options and how to
// print.
type pingOptions struct {
	via    string
	asJSON bool
	run    ping.Options
}

func newPingCmd() *cobra.Command {
	var o pingOptions
	cmd := &cobra.Command{
		Use:   "ping B32 --via i2cp://H:P [--count 10] [--interval 1s] [--oneway] [--json]",
		Short: "measure reachability of a destination from a session of its own on a router",
		Long: `Open a session with a transient destination on the router at --via (standard
I2CP: zero-hop outbound and one-hop inbound tunnels), look the target up and
send it --count repliable datagrams (protocol 17), one every --interval. The
'echo' service of an imh destination answers each; the round trips are
printed. --oneway sends raw datagrams (protocol 18) that nothing answers:
count them where they arrive ('payloads_by_router' in 'imh status').
Each datagram asks the router for its delivery status; a router that
reports a failure is quoted when nothing came back.
Exit 0 when at least one reply came back (or, with --oneway, when the
datagrams went out); 1 when none did (the summary is printed all the same)
or the pings could not be sent.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := i2p.ParseB32(args[0])
			if err != nil {
				return usageErrorf("ping: %v", err)
			}
			if o.via == "" {
				return usageErrorf("ping: --via i2cp://H:P is required")
			}
			addr, err := usageOf(i2cpclient.ParseAddr(o.via))
			if err != nil {
				return err
			}
			if o.run.Count < 1 || o.run.Interval < 0 {
				return usageErrorf("ping: --count must be at least 1 and --interval not negative")
			}
			run := o.run
			run.Router = addr
			res, err := ping.Run(cmd.Context(), routerDialer(addr), target, run, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := printPing(cmd.OutOrStdout(), target, res, o); err != nil {
				return err
			}
			if !o.run.Oneway && res.Received == 0 {
				return fmt.Errorf("ping: no reply from %s (%d sent)%s", target.B32(), res.Sent, res.Why)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.via, "via", "", "router to send from (i2cp://H:P)")
	f.IntVar(&o.run.Count, "count", 10, "how many datagrams to send")
	f.DurationVar(&o.run.Interval, "interval", time.Second, "time between sends")
	f.BoolVar(&o.run.Oneway, "oneway", false, "send raw datagrams that nothing answers")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object")
	return cmd
}

// printPing prints the result as one JSON object or as ping.Result's text.
func printPing(w io.Writer, target i2p.Hash, res *ping.Result, o pingOptions) error {
	if o.asJSON {
		return json.NewEncoder(w).Encode(res)
	}
	return res.WriteText(w, target, o.run.Oneway)
}

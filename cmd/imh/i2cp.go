package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/i2cpclient"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/routerproto"
)

// probeKeepFor is how long a probe keeps its session: it must outlive
// i2pd's 10 s LeaseSet deadline (i2cpclient.ProbeRouter has the rest of
// the probe's timings).
const probeKeepFor = 12 * time.Second

func newI2CPCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "i2cp",
		Short: "Talk I2CP to a router (stock i2pd/Java I2P or imh router)",
	}
	cmd.AddCommand(newI2CPProbeCmd())
	return cmd
}

func newI2CPProbeCmd() *cobra.Command {
	var keysFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "probe i2cp://H:P [--keys FILE] [--json]",
		Short: "Handshake with a router; with --keys, open a session, answer its LeaseSet request and keep it 12 s",
		Long: "Without --keys: GetDate/SetDate, printing the router's version string, the clock offset\n" +
			"and the extensions an imh router offers. With --keys: also a session with zero-hop\n" +
			"tunnels, the router's lease request answered with a signed LeaseSet2 (with its X25519\n" +
			"private key), then a 12 s wait (longer than i2pd's 10 s deadline); fails unless the\n" +
			"session is still open; the session is destroyed at the end.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := usageOf(i2cpclient.ParseAddr(args[0]))
			if err != nil {
				return err
			}
			var keys *i2p.PrivateKeys
			if keysFile != "" {
				if keys, err = usageOf(i2cpclient.ReadSigningKeys(keysFile)); err != nil {
					return err
				}
			}
			res, err := i2cpclient.ProbeRouter(cmd.Context(), addr, routerDialer(addr), keys, probeKeepFor)
			if err != nil {
				return err
			}
			return printProbe(cmd.OutOrStdout(), res, asJSON)
		},
	}
	cmd.Flags().StringVar(&keysFile, "keys", "", "private key file: open a session with these keys")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// routerDialer dials addr as i2cpclient.ParseAddr returned it, as the
// CLI does: plain I2CP, or TLS with the IMH_* TLS files for i2cps://.
func routerDialer(addr string) func(context.Context, routerproto.ClientConfig) (*routerproto.Client, error) {
	return func(ctx context.Context, cfg routerproto.ClientConfig) (*routerproto.Client, error) {
		dialAddr := addr
		if rest, ok := strings.CutPrefix(addr, i2cpclient.TLSScheme); ok {
			files := pki.Files{CA: os.Getenv("IMH_CA_FILE"), Cert: os.Getenv("IMH_CERT_FILE"), Key: os.Getenv("IMH_KEY_FILE")}
			if files.IsZero() {
				return nil, usageErrorf("%s needs IMH_CA_FILE, IMH_CERT_FILE and IMH_KEY_FILE", addr)
			}
			store, err := usageOf(pki.LoadFor(files, "", nil))
			if err != nil {
				return nil, err
			}
			cfg.TLS = store.ClientConfig(pki.Peer{Roles: []pki.Role{pki.RoleRouter}})
			dialAddr = rest
		}
		return routerproto.Dial(ctx, dialAddr, cfg)
	}
}

// printProbe prints the result as one JSON object or as ProbeResult's text.
func printProbe(w io.Writer, res *i2cpclient.ProbeResult, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(res)
	}
	return res.WriteText(w, probeKeepFor)
}

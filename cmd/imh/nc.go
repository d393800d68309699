package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/internal/streamnet"
)

// ncDialTimeout bounds the lookup and the stream handshake of imh nc.
const ncDialTimeout = 2 * time.Minute

func addStreamNetFlags(cmd *cobra.Command, f *streamNetFlags) {
	cmd.Flags().StringVar(&f.via, "via", "", "an I2P router to open a session on (i2cp://H:P)")
	cmd.Flags().StringVar(&f.network, "network", "", "the simulated network to attach to (simnet://H:P)")
}

func newNcCmd() *cobra.Command {
	var nf streamNetFlags
	cmd := &cobra.Command{
		Use:   "nc B32[:PORT] (--via i2cp://H:P | --network simnet://H:P)",
		Short: "open an I2P stream to a destination: stdin to it, it to stdout",
		Long: `Open a stream (I2P streaming, protocol 6) from a transient destination to
B32 (port 0 when none is given), copy stdin to it and it to stdout, like nc.
At the end of stdin the stream is half-closed; nc exits when the other side
has closed too. Exit 0 when the stream ended cleanly, 1 when it could not be
opened or broke (refused, reset, timed out).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, port, err := parseStreamTarget(args[0])
			if err != nil {
				return err
			}
			sn, err := nf.open(cmd.Context(), warnLogger())
			if err != nil {
				return fmt.Errorf("nc: %w", err)
			}
			defer sn.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), ncDialTimeout)
			c, err := sn.Dial(ctx, h, port)
			cancel()
			if err != nil {
				return fmt.Errorf("nc: %w", err)
			}
			if err := streamnet.Copy(c, cmd.InOrStdin(), cmd.OutOrStdout()); err != nil {
				return fmt.Errorf("nc: %w", err)
			}
			return nil
		},
	}
	addStreamNetFlags(cmd, &nf)
	return cmd
}

func newTunnelCmd() *cobra.Command {
	var (
		nf     streamNetFlags
		listen string
		to     string
	)
	cmd := &cobra.Command{
		Use:   "tunnel --listen H:P --to B32[:PORT] (--via i2cp://H:P | --network simnet://H:P)",
		Short: "forward each local TCP connection over an I2P stream (an I2P client tunnel)",
		Long: `Listen on --listen and forward every TCP connection accepted there over a
new I2P stream to --to, like an i2pd client tunnel: bytes both ways with
half-close and back-pressure. Runs until SIGINT or SIGTERM. A connection whose
stream cannot be opened is closed at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" || to == "" {
				return usageErrorf("tunnel: --listen and --to are required")
			}
			h, port, err := parseStreamTarget(to)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return usageErrorf("tunnel: listen %s: %v", listen, err)
			}
			defer ln.Close()
			sn, err := nf.open(cmd.Context(), warnLogger())
			if err != nil {
				return fmt.Errorf("tunnel: %w", err)
			}
			defer sn.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "tunnel: %s -> %s:%d\n", ln.Addr(), h.B32(), port)
			dial := func(ctx context.Context) (net.Conn, error) {
				ctx, cancel := context.WithTimeout(ctx, ncDialTimeout)
				defer cancel()
				return sn.Dial(ctx, h, port)
			}
			stderr := cmd.ErrOrStderr()
			err = streamnet.ServeTunnel(cmd.Context(), ln, dial, func(err error) {
				fmt.Fprintf(stderr, "imh: tunnel: %v\n", err)
			})
			if err != nil {
				return fmt.Errorf("tunnel: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "local TCP address to accept connections on (H:P)")
	cmd.Flags().StringVar(&to, "to", "", "the destination to forward to (B32[:PORT])")
	addStreamNetFlags(cmd, &nf)
	return cmd
}

// warnLogger is the client commands' logger: warnings and errors only, on
// stderr, so that stdout carries the stream alone.
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
)

func newKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen [--out FILE]",
		Short: "Print a new cluster secret (base64 of 32 random bytes), nothing else",
		Long: "Print a new cluster secret. Give the same secret to every agent (--secret-file,\n" +
			"IMH_SECRET_FILE or IMH_SECRET): the gossip encryption key and the key that seals\n" +
			"destination private keys are derived from it. With --out it is written to FILE\n" +
			"(mode 0600; an existing FILE is never replaced) and nothing is printed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cluster.NewSecret()
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			if out == "" {
				fmt.Fprintln(cmd.OutOrStdout(), s.Encode())
				return nil
			}
			return writeSecretFile(out, s.Encode()+"\n")
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the secret to FILE (0600, never overwritten) instead of stdout")
	return cmd
}

// writeSecretFile creates path with mode 0600; it never replaces a file.
func writeSecretFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return usageErrorf("keygen: %s exists (refusing to overwrite)", path)
		}
		return usageErrorf("keygen: %v", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("keygen: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("keygen: write %s: %w", path, err)
	}
	return nil
}

package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/keyfile"
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

// writeSecretFile writes the secret file with keyfile.WriteNew (0600,
// never over an existing file); a path that cannot be created is the
// operator's to fix (exit 2).
func writeSecretFile(path, text string) error {
	var ce *keyfile.CreateError
	switch err := keyfile.WriteNew(path, []byte(text)); {
	case errors.Is(err, fs.ErrExist):
		return usageErrorf("keygen: %s exists (refusing to overwrite)", path)
	case errors.As(err, &ce):
		return usageErrorf("keygen: %v", ce.Err)
	case err != nil:
		return fmt.Errorf("keygen: %w", err)
	}
	return nil
}

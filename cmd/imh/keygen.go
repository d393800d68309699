package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
)

func init() { register(newKeygenCmd) }

func newKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new cluster secret (base64 of 32 random bytes), nothing else",
		Long: "Print a new cluster secret. Give the same secret to every agent (--secret-file,\n" +
			"IMH_SECRET_FILE or IMH_SECRET): the gossip encryption key and the key that seals\n" +
			"destination private keys are derived from it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cluster.NewSecret()
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), s.Encode())
			return nil
		},
	}
}

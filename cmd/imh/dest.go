package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/keyfile"
)

func newDestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dest",
		Short: "Destinations: local key files (new, inspect) and the cluster's managed destinations",
	}
	// The local key tools here and the cluster's destination commands
	// (destcluster.go) share one parent.
	cmd.AddCommand(newDestNewCmd(), newDestInspectCmd())
	cmd.AddCommand(newDestClusterCmds()...)
	return cmd
}

func newDestNewCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "new --out FILE",
		Short: "Write a new private key file (Ed25519, crypto type 0) and print its b32 address",
		Long: "Write a new private key file as i2pd and Java I2P read it (Ed25519 signing key, crypto\n" +
			"type 0, 679 bytes), mode 0600. An existing file is never overwritten (exit 2).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErrorf("dest new: --out FILE is required")
			}
			b32, err := writeNewKeyFile(out)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), b32)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "key file to create (must not exist)")
	return cmd
}

// writeNewKeyFile writes a new key file at path (keyfile.Create: 0600,
// never over an existing file) and returns its b32 address. A path that
// cannot be created is the operator's to fix (exit 2).
func writeNewKeyFile(path string) (string, error) {
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("dest new: %w", err)
	}
	var ce *keyfile.CreateError
	switch err := keyfile.Create(path, k); {
	case errors.Is(err, fs.ErrExist):
		return "", usageErrorf("dest new: %s: file exists, not overwriting it", path)
	case errors.As(err, &ce):
		return "", usageErrorf("dest new: %w", ce.Err)
	case err != nil:
		return "", fmt.Errorf("dest new: %w", err)
	}
	return k.Destination().B32(), nil
}

func newDestInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show the b32 address and key types of a private key file (any signing type)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := usageOf(keyfile.Read(args[0])) // every failure names the file
			if err != nil {
				return err
			}
			v := keyfile.Describe(k)
			w := cmd.OutOrStdout()
			if asJSON {
				return destWriteJSON(w, v)
			}
			return destPrintFields(w, v.Fields())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// destWriteJSON prints v as exactly one JSON object on one line.
func destWriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// destPrintFields prints aligned "key: value" lines, values starting in one
// column.
func destPrintFields(w io.Writer, fields [][2]string) error {
	width := 0
	for _, f := range fields {
		width = max(width, len(f[0]))
	}
	var sb strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&sb, "%-*s %s\n", width+1, f[0]+":", f[1])
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/i2p"
)

// maxKeyFileLen bounds what `dest inspect` reads: a key file of the largest
// known types (RSA-4096 with offline keys) is under 4 KiB.
const maxKeyFileLen = 64 << 10

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

// writeNewKeyFile creates path with O_EXCL and mode 0600 and writes a new
// key file into it. On any failure after creating it, it removes it, so
// nothing half-written is left behind.
func writeNewKeyFile(path string) (string, error) {
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("dest new: %w", err)
	}
	b, err := k.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("dest new: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", usageErrorf("dest new: %s: file exists, not overwriting it", path)
	}
	if err != nil {
		return "", usageErrorf("dest new: %w", err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("dest new: write %s: %w", path, werr)
	}
	return k.Destination().B32(), nil
}

// destInspectJSON is the `dest inspect --json` object (CLI.md, Local tools).
type destInspectJSON struct {
	B32               string `json:"b32"`
	Destination       string `json:"destination"`
	SigType           uint16 `json:"sig_type"`
	CryptoType        uint16 `json:"crypto_type"`
	EncPrivateKeyType uint16 `json:"enc_private_key_type"`
}

func newDestInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show the b32 address and key types of a private key file (any signing type)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := readKeyFile(args[0])
			if err != nil {
				return err
			}
			d := k.Destination()
			v := destInspectJSON{
				B32:               d.B32(),
				Destination:       d.Base64(),
				SigType:           uint16(d.SigType()),
				CryptoType:        uint16(d.EncType()),
				EncPrivateKeyType: uint16(k.EncryptionKeyType()),
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return destWriteJSON(w, v)
			}
			fields := [][2]string{
				{"b32", v.B32},
				{"destination", v.Destination},
				{"sig_type", fmt.Sprintf("%d (%s)", v.SigType, d.SigType())},
				{"crypto_type", fmt.Sprintf("%d (%s)", v.CryptoType, d.EncType())},
				{"enc_private_key_type", fmt.Sprintf("%d (%s)", v.EncPrivateKeyType, k.EncryptionKeyType())},
			}
			if o := k.Offline(); o != nil {
				fields = append(fields,
					[2]string{"offline_expires", fmt.Sprint(o.Expires)},
					[2]string{"transient_sig_type", fmt.Sprintf("%d (%s)", uint16(o.TransientType), o.TransientType)})
			}
			return destPrintFields(w, fields)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// readKeyFile reads and parses a private key file; every failure is a usage
// error (exit 2) naming the file.
func readKeyFile(path string) (*i2p.PrivateKeys, error) {
	b, err := readLimited(path, nil, maxKeyFileLen)
	if err != nil {
		return nil, err
	}
	k, err := i2p.ParsePrivateKeys(b)
	if err != nil {
		return nil, usageErrorf("%s: not an I2P private key file: %w", path, err)
	}
	return k, nil
}

// readLimited reads a whole file (or stdin for "-" when stdin is given),
// refusing more than limit bytes. Failures are usage errors naming it.
func readLimited(path string, stdin io.Reader, limit int64) ([]byte, error) {
	var r io.Reader
	if path == "-" && stdin != nil {
		r = stdin
		path = "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, usageErrorf("%w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, usageErrorf("%s: read: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, usageErrorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
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

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imh-project/imh/internal/pki"
)

func newTLSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Create the cluster CA and the certificates of agents, routers, operators and frontends",
		Long: "imh links are mutual TLS 1.3 from one cluster CA. 'imh tls ca create' makes the CA\n" +
			"(ca.pem, ca-key.pem; keep ca-key.pem offline), 'imh tls cert create' one certificate\n" +
			"per process, naming its role and its name. Nothing is ever overwritten.",
	}
	ca := &cobra.Command{Use: "ca", Short: "The cluster CA"}
	ca.AddCommand(newTLSCACreateCmd())
	cert := &cobra.Command{Use: "cert", Short: "Certificates signed by the cluster CA"}
	cert.AddCommand(newTLSCertCreateCmd())
	cmd.AddCommand(ca, cert)
	return cmd
}

func newTLSCACreateCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Write a new cluster CA: DIR/ca.pem and DIR/ca-key.pem (0600), valid 5 years",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pki.CreateCA(dir, time.Now()); err != nil {
				return tlsFileError("tls ca create", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s/%s and %s/%s\n", dir, pki.CAFile, dir, pki.CAKeyFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "directory to write the CA into")
	return cmd
}

func newTLSCertCreateCmd() *cobra.Command {
	var (
		dir, caDir string
		roles      = map[pki.Role]*bool{}
		ips        []net.IP
		dnsNames   []string
		days       int
	)
	cmd := &cobra.Command{
		Use:   "create (--agent | --router | --client | --frontend) NAME",
		Short: "Write NAME.pem and NAME-key.pem (0600), signed by the CA, with the role and name inside",
		Long: "Issue a certificate for one process: --agent (a balancer replica), --router (imh router\n" +
			"serve; NAME must be the name the router is added under), --client (an operator's CLI)\n" +
			"or --frontend. It is valid for 127.0.0.1, ::1 and localhost plus --ip and --dns, for\n" +
			"--days (default 90). The CA is read from --ca-dir (default: --dir).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var role pki.Role
			for r, set := range roles {
				if !*set {
					continue
				}
				if role != "" {
					return usageErrorf("tls cert create: give exactly one of --agent, --router, --client, --frontend")
				}
				role = r
			}
			if role == "" {
				return usageErrorf("tls cert create: give one of --agent, --router, --client, --frontend")
			}
			if caDir == "" {
				caDir = dir
			}
			req := pki.LeafRequest{Role: role, Name: args[0], IPs: ips, DNSNames: dnsNames, Validity: time.Duration(days) * 24 * time.Hour}
			path, err := pki.IssueCert(caDir, dir, req, time.Now())
			if err != nil {
				return tlsFileError("tls cert create", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s/%s) and its key\n", path, role, args[0])
			return nil
		},
	}
	f := cmd.Flags()
	for _, r := range []pki.Role{pki.RoleAgent, pki.RoleRouter, pki.RoleClient, pki.RoleFrontend} {
		roles[r] = f.Bool(string(r), false, "a certificate with role "+string(r))
	}
	f.StringVar(&dir, "dir", ".", "directory to write the certificate into")
	f.StringVar(&caDir, "ca-dir", "", "directory holding ca.pem and ca-key.pem (default: --dir)")
	f.IPSliceVar(&ips, "ip", nil, "extra IP address the certificate is valid for (repeatable)")
	f.StringSliceVar(&dnsNames, "dns", nil, "extra DNS name the certificate is valid for (repeatable)")
	f.IntVar(&days, "days", int(pki.DefaultLeafValidity/(24*time.Hour)), "validity in days (at most 825)")
	return cmd
}

// tlsFileError maps pki errors to exit codes: a file in the way or a bad
// input is the operator's to fix (2).
func tlsFileError(what string, err error) error {
	return usageErrorf("%s: %v", what, err)
}

// addTLSFlags adds --ca-file --cert-file --key-file, shared by every
// daemon and the CLI; env IMH_CA_FILE, IMH_CERT_FILE, IMH_KEY_FILE fill
// them through the command's environment binding.
func addTLSFlags(f *pflag.FlagSet, files *pki.Files) {
	f.StringVar(&files.CA, "ca-file", os.Getenv("IMH_CA_FILE"), "cluster CA bundle (PEM; env IMH_CA_FILE)")
	f.StringVar(&files.Cert, "cert-file", os.Getenv("IMH_CERT_FILE"), "this process's certificate (PEM; env IMH_CERT_FILE)")
	f.StringVar(&files.Key, "key-file", os.Getenv("IMH_KEY_FILE"), "its private key (PEM; env IMH_KEY_FILE)")
}

// tlsFollowEvery is how often a daemon checks its TLS files for a
// renewal (pki.Store.Follow; SIGHUP checks at once).
const tlsFollowEvery = 5 * time.Second

// serveSettings are the settings the daemons that serve under a name
// share (router serve, frontend serve): --log-level, the TLS files and
// --insecure-plaintext, squashed into each one's config struct beside
// its package's Config.
type serveSettings struct {
	LogLevel          string      `mapstructure:"log-level"`
	TLS               tlsSettings `mapstructure:",squash"`
	InsecurePlaintext bool        `mapstructure:"insecure-plaintext"`
}

// validate checks the daemon's Config (its package's checks), then
// --log-level; every error is a usage error (exit 2).
func (s serveSettings) validate(daemon interface{ Validate() error }) error {
	if err := daemon.Validate(); err != nil {
		return &usageError{err: err}
	}
	_, err := parseServeLogLevel(s.LogLevel)
	return err
}

// parseServeLogLevel reads --log-level as slog names levels; a bad one
// is a usage error (exit 2).
func parseServeLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usageErrorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// start sets up a daemon, validated, that serves on listen under name
// (what names it in errors: "router serve"): its logger on stderr at
// --log-level, and its TLS files, followed until ctx ends. The
// certificate must have role and name name, the name the daemon is added
// under, since that is what agents check. Without files, the plaintext
// rule applies (--insecure-plaintext).
func (s serveSettings) start(ctx context.Context, what string, role pki.Role, name, listen string, stderr io.Writer) (*slog.Logger, *pki.Store, error) {
	level, _ := parseServeLogLevel(s.LogLevel) // checked by validate
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	store, err := usageOf(pki.LoadDaemon(s.TLS.files(), role, s.InsecurePlaintext, logger, listen))
	if err != nil || store == nil {
		return logger, nil, err
	}
	if id := store.Identity(); id.Name != name {
		return logger, nil, usageErrorf("%s: --cert-file %s names %s, but --name is %s", what, s.TLS.CertFile, id, name)
	}
	store.Follow(ctx, tlsFollowEvery)
	return logger, store, nil
}

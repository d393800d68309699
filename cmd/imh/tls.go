package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
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

// tlsFlags are --ca-file --cert-file --key-file, shared by every daemon
// and the CLI.
type tlsFlags struct{ files pki.Files }

// addTLSFlags adds the three file flags; env IMH_CA_FILE, IMH_CERT_FILE,
// IMH_KEY_FILE fill them through the command's environment binding.
func addTLSFlags(f *pflag.FlagSet, t *tlsFlags) {
	f.StringVar(&t.files.CA, "ca-file", os.Getenv("IMH_CA_FILE"), "cluster CA bundle (PEM; env IMH_CA_FILE)")
	f.StringVar(&t.files.Cert, "cert-file", os.Getenv("IMH_CERT_FILE"), "this process's certificate (PEM; env IMH_CERT_FILE)")
	f.StringVar(&t.files.Key, "key-file", os.Getenv("IMH_KEY_FILE"), "its private key (PEM; env IMH_KEY_FILE)")
}

// errInsecure says a daemon would listen in plaintext beyond loopback.
var errInsecure = errors.New("refusing to listen in plaintext on a non-loopback address: give --ca-file, --cert-file and --key-file, or --insecure-plaintext")

// loadTLS loads files for a daemon whose certificate must have role want.
// Zero files: nil (plaintext; the caller decides whether that is allowed).
func loadTLS(files pki.Files, want pki.Role, logger *slog.Logger) (*pki.Store, error) {
	if files.IsZero() {
		return nil, nil
	}
	if err := files.Check(); err != nil {
		return nil, usageErrorf("%v", err)
	}
	s, err := pki.Load(files, logger)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	if id := s.Identity(); want != "" && id.Role != want {
		return nil, usageErrorf("--cert-file %s is a %s certificate (%s), want %s", files.Cert, id.Role, id, want)
	}
	return s, nil
}

// plaintextCheck enforces the plaintext rule for a daemon without TLS:
// non-loopback binds need insecure; loopback is allowed with a warning.
func plaintextCheck(insecure bool, logger *slog.Logger, binds ...string) error {
	for _, b := range binds {
		if b == "" || isLoopback(b) {
			continue
		}
		if !insecure {
			return usageErrorf("%v (%s)", errInsecure, b)
		}
	}
	if insecure {
		logger.Warn("INSECURE: --insecure-plaintext: links are neither encrypted nor authenticated; anyone who reaches these ports controls the cluster", "binds", binds)
		return nil
	}
	logger.Warn("no TLS files: plaintext on loopback only; give --ca-file, --cert-file, --key-file (imh tls) before using other hosts")
	return nil
}

// isLoopback reports whether a host:port listens on loopback only.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// watchTLS re-reads the files when they change and on SIGHUP, until ctx
// ends: renewal without a restart.
func watchTLS(ctx context.Context, s *pki.Store, logger *slog.Logger) {
	if s == nil {
		return
	}
	go s.Watch(ctx, 5*time.Second)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := s.Reload(); err != nil {
					logger.Warn("SIGHUP: tls reload failed; keeping the previous certificates", "err", err)
				}
			}
		}
	}()
}

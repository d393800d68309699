package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/pki"
)

// apiOptions are the flags every agent client command shares.
type apiOptions struct {
	httpAddr string
	json     bool
	tls      pki.Files // --ca-file, --cert-file, --key-file

	agent *client.Client // built from the flags on first use
}

// addAPIFlags adds --http-addr (env IMH_HTTP_ADDR) and --json.
func addAPIFlags(cmd *cobra.Command, o *apiOptions) {
	def := client.DefaultAddr
	if v := os.Getenv("IMH_HTTP_ADDR"); v != "" {
		def = v
	}
	cmd.Flags().StringVar(&o.httpAddr, "http-addr", def, "agent HTTP API address (env IMH_HTTP_ADDR)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object")
	addTLSFlags(cmd.Flags(), &o.tls)
}

// client returns the client of the agent: HTTPS presenting the operator's
// certificate when TLS files are given (the agent must prove it is an
// agent of the cluster CA), plain HTTP otherwise. Bad flags or files are
// usage errors.
func (o *apiOptions) client() (*client.Client, error) {
	if o.agent != nil {
		return o.agent, nil
	}
	addr, err := agentAddr(o.httpAddr, !o.tls.IsZero())
	if err != nil {
		return nil, err
	}
	o.httpAddr = addr
	cfg := client.Config{Addr: addr}
	if !o.tls.IsZero() {
		store, err := usageOf(pki.LoadFor(o.tls, "", nil))
		if err != nil {
			return nil, err
		}
		cfg.TLS = store.ClientConfig(pki.Peer{Roles: []pki.Role{pki.RoleAgent}})
	}
	if o.agent, err = client.New(cfg); err != nil {
		return nil, usageErrorf("--http-addr %q: %v", addr, err)
	}
	return o.agent, nil
}

// callAgent runs f with the client of o's agent and words its error for
// the CLI (apiErr).
func callAgent[T any](o *apiOptions, f func(*client.Client) (T, error)) (T, error) {
	c, err := o.client()
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f(c)
	return v, apiErr(err)
}

// newAgentCallCmd completes cmd (its Use, Short and Args set) as a
// command that makes one call to the agent and prints the answer: one
// JSON object with --json, else text. Its errors start with what, and the
// NAME argument when the command takes one ("dest show NAME: ..."). call
// gets cmd for its context, and for a warning on stderr.
func newAgentCallCmd[T any](cmd *cobra.Command, what string, call func(cmd *cobra.Command, c *client.Client, args []string) (T, error), text func(v T, w io.Writer) error) *cobra.Command {
	var o apiOptions
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v, err := callAgent(&o, func(c *client.Client) (T, error) { return call(cmd, c, args) })
		if err != nil {
			if len(args) == 1 {
				return fmt.Errorf("%s %s: %w", what, argName(args[0]), err)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		if o.json {
			return printJSON(cmd, v)
		}
		return text(v, cmd.OutOrStdout())
	}
	addAPIFlags(cmd, &o)
	return cmd
}

// agentAddr turns --http-addr (IMH_HTTP_ADDR) into H:P (client.ParseAddr:
// H:P, or an http(s) URL whose scheme matches what the TLS files say),
// wording a bad one with the flags that fix it (exit 2).
func agentAddr(addr string, tls bool) (string, error) {
	a, err := client.ParseAddr(addr, tls)
	switch {
	case err == nil:
		return a, nil
	case errors.Is(err, client.ErrSchemeMismatch) && !tls:
		return "", usageErrorf("--http-addr %.100q: https:// needs --ca-file, --cert-file and --key-file (env IMH_CA_FILE, IMH_CERT_FILE, IMH_KEY_FILE)", addr)
	case errors.Is(err, client.ErrSchemeMismatch):
		return "", usageErrorf("--http-addr %.100q: with the TLS files the agent is reached over HTTPS: give H:P or https://H:P", addr)
	}
	return "", usageErrorf("--http-addr %.100q: want H:P (or http://H:P, https://H:P)", addr)
}

// apiErr words a client error as docs/cli.md promises: the flags that fix
// a missing TLS setup or an unreachable agent, and exit 2 for a request
// the agent calls invalid. No leader, not found, refusals and timeouts
// stay failures (1) with the client's message.
func apiErr(err error) error {
	var te *client.TransportError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrNeedsTLS):
		return usageErrorf("the agent serves HTTPS: give --ca-file, --cert-file and --key-file (env IMH_CA_FILE, IMH_CERT_FILE, IMH_KEY_FILE)")
	case errors.Is(err, client.ErrInvalid):
		return &usageError{err: err}
	case errors.As(err, &te) && errors.Is(te, client.ErrUnreachable):
		return fmt.Errorf("agent at %s unreachable (is imh agent running? see --http-addr): %w", te.Addr, te.Err)
	}
	return err
}

// printJSON prints v as the one JSON object of --json.
func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

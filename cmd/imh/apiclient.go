package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/pki"
)

// defaultHTTPAddr is where client commands find an agent (CLI.md).
const defaultHTTPAddr = "127.0.0.1:7702"

// apiTimeout bounds one client request, forwarding to the leader included.
const apiTimeout = 30 * time.Second

// apiOptions are the flags every agent client command shares.
type apiOptions struct {
	httpAddr string
	json     bool
	tls      tlsFlags

	client *http.Client // built from tls on first use
	scheme string
}

// addAPIFlags adds --http-addr (env IMH_HTTP_ADDR) and --json.
func addAPIFlags(cmd *cobra.Command, o *apiOptions) {
	def := defaultHTTPAddr
	if v := os.Getenv("IMH_HTTP_ADDR"); v != "" {
		def = v
	}
	cmd.Flags().StringVar(&o.httpAddr, "http-addr", def, "agent HTTP API address (env IMH_HTTP_ADDR)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object")
	addTLSFlags(cmd.Flags(), &o.tls)
}

// apiClient returns the HTTP client and URL scheme for the agent: HTTPS
// presenting the operator's certificate when TLS files are given (the
// agent must prove it is an agent of the cluster CA), plain HTTP otherwise.
func apiClient(o *apiOptions) (*http.Client, string, error) {
	if o.client != nil {
		return o.client, o.scheme, nil
	}
	addr, err := agentAddr(o.httpAddr, !o.tls.files.IsZero())
	if err != nil {
		return nil, "", err
	}
	o.httpAddr = addr
	if o.tls.files.IsZero() {
		o.client, o.scheme = http.DefaultClient, "http://"
		return o.client, o.scheme, nil
	}
	store, err := loadTLS(o.tls.files, "", nil)
	if err != nil {
		return nil, "", err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = store.ClientConfig(pki.Peer{Roles: []pki.Role{pki.RoleAgent}})
	o.client, o.scheme = &http.Client{Transport: tr}, "https://"
	return o.client, o.scheme, nil
}

// agentAddr turns --http-addr (IMH_HTTP_ADDR) into H:P. A URL is taken
// too, "http://H:P" or "https://H:P" (with or without a trailing /), when
// its scheme matches what the TLS files say: HTTPS with them, HTTP without.
func agentAddr(addr string, tls bool) (string, error) {
	in := addr
	if rest, ok := strings.CutPrefix(addr, "https://"); ok {
		if !tls {
			return "", usageErrorf("--http-addr %.100q: https:// needs --ca-file, --cert-file and --key-file (env IMH_CA_FILE, IMH_CERT_FILE, IMH_KEY_FILE)", in)
		}
		addr = rest
	} else if rest, ok := strings.CutPrefix(addr, "http://"); ok {
		if tls {
			return "", usageErrorf("--http-addr %.100q: with the TLS files the agent is reached over HTTPS: give H:P or https://H:P", in)
		}
		addr = rest
	} else if strings.Contains(addr, "://") {
		return "", usageErrorf("--http-addr %.100q: want H:P (or http://H:P, https://H:P)", in)
	}
	addr = strings.TrimSuffix(addr, "/")
	if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" || strings.ContainsAny(addr, "/?#") {
		return "", usageErrorf("--http-addr %.100q: want H:P (or http://H:P, https://H:P)", in)
	}
	return addr, nil
}

// apiError is a non-2xx answer of the agent.
type apiError struct {
	status int
	body   cluster.ErrorBody
}

func (e *apiError) Error() string { return e.body.Error }

// apiCall sends one request to the agent and decodes a 2xx JSON answer
// into out. It maps failures to the CLI's exit codes: invalid input is a
// usage error (2); no leader, unreachable, timeout, not found and
// conflicts are failures (1), each with a one-line message.
func apiCall(ctx context.Context, o *apiOptions, method, path string, in, out any) error {
	var body []byte
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body, contentType = b, "application/json"
	}
	raw, err := apiRequest(ctx, o, method, path, body, contentType, maxJSONAnswer)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("agent at %s: malformed answer: %w", o.httpAddr, err)
	}
	return nil
}

// Largest answers read from an agent: JSON documents, and snapshots
// (the whole replicated state).
const (
	maxJSONAnswer     = 16 << 20
	maxSnapshotAnswer = 256 << 20
)

// apiRaw sends body as is and returns the raw 2xx answer (snapshots).
func apiRaw(ctx context.Context, o *apiOptions, method, path string, body []byte) ([]byte, error) {
	return apiRequest(ctx, o, method, path, body, "", maxSnapshotAnswer)
}

// apiRequest is the one HTTP exchange with an agent behind apiCall and
// apiRaw: bounded in time and size, non-2xx answers turned into errors.
func apiRequest(ctx context.Context, o *apiOptions, method, path string, body []byte, contentType string, maxAnswer int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	client, scheme, err := apiClient(o)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+o.httpAddr+path, bytes.NewReader(body))
	if err != nil {
		return nil, usageErrorf("--http-addr %q: %v", o.httpAddr, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("agent at %s: no answer within %v", o.httpAddr, apiTimeout)
		}
		return nil, fmt.Errorf("agent at %s unreachable (is imh agent running? see --http-addr): %w", o.httpAddr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("agent at %s: read answer: %w", o.httpAddr, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, apiErrorFrom(resp.StatusCode, raw)
	}
	return raw, nil
}

func apiErrorFrom(status int, raw []byte) error {
	e := &apiError{status: status}
	if err := json.Unmarshal(raw, &e.body); err != nil || e.body.Error == "" {
		e.body.Error = fmt.Sprintf("agent answered %d: %.200s", status, bytes.TrimSpace(raw))
	}
	switch {
	case status == http.StatusBadRequest && bytes.Contains(raw, []byte("HTTP request to an HTTPS server")):
		return usageErrorf("the agent serves HTTPS: give --ca-file, --cert-file and --key-file (env IMH_CA_FILE, IMH_CERT_FILE, IMH_KEY_FILE)")
	case e.body.Code == cluster.CodeNoLeader:
		return fmt.Errorf("no leader: the cluster cannot take writes now (is a majority of agents up?): %w", e)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("refused by the agent (%d): %w", status, e)
	case status == http.StatusBadRequest:
		return &usageError{err: e}
	}
	return e
}

// printJSON prints v as the one JSON object of --json.
func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable returns an aligned table writer on stdout; call Flush.
func newTable(cmd *cobra.Command) *tabwriter.Writer {
	return tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
}

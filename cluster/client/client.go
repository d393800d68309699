// Package client is the typed client of an imh agent's HTTP API (see
// cluster/api.go for the endpoints and cluster/apitypes.go for the bodies).
// The CLI and the demo talk to agents through it, so that one place decides
// how a call is bounded in time and size and how the API's JSON error shape
// becomes an error callers can test with errors.Is: ErrNoLeader,
// ErrNotFound, ErrInvalid and the others below. Messages name no command
// line flags; the CLI adds those (cmd/imh apiErr).
//
// It also owns the snapshot files of `imh cluster snapshot save|restore`
// (snapshot.go): saving the leader's snapshot, reading a file back, and
// the plan of what a restore would change.
//
// Writes sent to a follower are forwarded to the leader by the agent
// itself; the client sends each call once and never retries, because a
// retried write could be applied twice.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultAddr is where an agent serves its API unless told otherwise
// (docs/cli.md: --http-addr, env IMH_HTTP_ADDR).
const DefaultAddr = "127.0.0.1:7702"

// DefaultTimeout bounds one call, forwarding to the leader included.
const DefaultTimeout = 30 * time.Second

// Largest answers read from an agent: JSON documents, and snapshots (the
// whole replicated state). Anything longer is cut and fails to decode.
const (
	MaxJSONAnswer     = 16 << 20
	MaxSnapshotAnswer = 256 << 20
)

// Config says how to reach one agent.
type Config struct {
	// Addr is the agent's API address, H:P.
	Addr string
	// TLS, when set, makes the client speak HTTPS with it (mutual TLS:
	// the operator's certificate, the agent checked against the cluster
	// CA). Nil means plain HTTP, which agents allow on loopback only.
	TLS *tls.Config
	// Timeout bounds each call; zero means DefaultTimeout.
	Timeout time.Duration
}

// Client calls one agent. It is safe for concurrent use.
type Client struct {
	addr    string
	base    string // scheme://addr
	hc      *http.Client
	timeout time.Duration
}

// New returns a client of the agent cfg names. It fails, wrapping
// ErrBadAddr, only when cfg.Addr cannot be part of a URL.
func New(cfg Config) (*Client, error) {
	c := &Client{addr: cfg.Addr, base: "http://" + cfg.Addr, hc: http.DefaultClient, timeout: cfg.Timeout}
	if cfg.TLS != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.TLS
		c.base, c.hc = "https://"+cfg.Addr, &http.Client{Transport: tr}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if u, err := url.Parse(c.base); err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w %q: want H:P", ErrBadAddr, cfg.Addr)
	}
	return c, nil
}

// ParseAddr turns an agent address as operators write it into
// Config.Addr (H:P). It takes H:P, or a URL "http://H:P" or "https://H:P"
// (with or without a trailing /) whose scheme says what tls says: HTTPS
// with TLS, HTTP without (else ErrSchemeMismatch: a client would
// otherwise speak the other protocol than its operator asked for).
// Anything else wraps ErrBadAddr; nothing like "http://http//..." is
// ever built from it.
func ParseAddr(addr string, tls bool) (string, error) {
	in := addr
	if rest, ok := strings.CutPrefix(addr, "https://"); ok {
		if !tls {
			return "", fmt.Errorf("%w: %q is https:// without TLS", ErrSchemeMismatch, in)
		}
		addr = rest
	} else if rest, ok := strings.CutPrefix(addr, "http://"); ok {
		if tls {
			return "", fmt.Errorf("%w: %q is http:// with TLS", ErrSchemeMismatch, in)
		}
		addr = rest
	} else if strings.Contains(addr, "://") {
		return "", fmt.Errorf("%w %q: want H:P, http://H:P or https://H:P", ErrBadAddr, in)
	}
	addr = strings.TrimSuffix(addr, "/")
	if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" || strings.ContainsAny(addr, "/?#") {
		return "", fmt.Errorf("%w %q: want H:P, http://H:P or https://H:P", ErrBadAddr, in)
	}
	return addr, nil
}

// Addr is the agent's address, as errors name it.
func (c *Client) Addr() string { return c.addr }

// call sends in (JSON, when not nil) and decodes a 2xx JSON answer into out
// (when not nil).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body, contentType = b, "application/json"
	}
	raw, err := c.do(ctx, method, path, body, contentType, MaxJSONAnswer)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("agent at %s: %w: %w", c.addr, ErrMalformed, err)
	}
	return nil
}

// do is the one HTTP exchange behind every call: bounded in time and size,
// non-2xx answers turned into errors.
func (c *Client) do(ctx context.Context, method, path string, body []byte, contentType string, maxAnswer int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("agent at %s: %w", c.addr, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("agent at %s: read answer: %w", c.addr, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, errorFrom(resp.StatusCode, raw)
	}
	return raw, nil
}

// transportError classifies a failed exchange: no answer in time, or the
// agent not reached at all.
func (c *Client) transportError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &TransportError{Addr: c.addr, Timeout: c.timeout, Err: err}
	}
	return &TransportError{Addr: c.addr, Err: err}
}

package pki

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
)

// What a daemon (agent, router serve, frontend) does with its TLS files:
// load them for its role, refuse plaintext beyond loopback without them,
// and follow renewals. The messages name the flags every imh daemon shares
// (--ca-file, --cert-file, --key-file, --insecure-plaintext): they are what
// an operator reads when a daemon refuses to start.

// ErrPlaintext says a daemon would listen in plaintext beyond loopback.
var ErrPlaintext = errors.New("refusing to listen in plaintext on a non-loopback address: give --ca-file, --cert-file and --key-file, or --insecure-plaintext")

// LoadFor loads files for a process whose certificate must have role want
// (any role when want is ""). No files at all: nil and no error, for
// plaintext; CheckPlaintext decides whether that is allowed.
func LoadFor(files Files, want Role, logger *slog.Logger) (*Store, error) {
	if files.IsZero() {
		return nil, nil
	}
	s, err := Load(files, logger)
	if err != nil {
		return nil, err
	}
	if id := s.Identity(); want != "" && id.Role != want {
		return nil, fmt.Errorf("--cert-file %s is a %s certificate (%s), want %s", files.Cert, id.Role, id, want)
	}
	return s, nil
}

// CheckPlaintext enforces the plaintext rule for a daemon without TLS
// files: every non-empty bind beyond loopback needs insecure (else an
// error wrapping ErrPlaintext naming the bind). Loopback alone is allowed
// with a warning, insecure with a louder one: either way nobody runs
// plaintext without being told.
func CheckPlaintext(insecure bool, logger *slog.Logger, binds ...string) error {
	for _, b := range binds {
		if b == "" || IsLoopback(b) {
			continue
		}
		if !insecure {
			return fmt.Errorf("%w (%s)", ErrPlaintext, b)
		}
	}
	if insecure {
		logger.Warn("INSECURE: --insecure-plaintext: links are neither encrypted nor authenticated; anyone who reaches these ports controls the cluster", "binds", binds)
		return nil
	}
	logger.Warn("no TLS files: plaintext on loopback only; give --ca-file, --cert-file, --key-file (imh tls) before using other hosts")
	return nil
}

// LoadDaemon is what a daemon does with its TLS files at start: LoadFor
// with its role, or, without files, CheckPlaintext on the addresses it
// listens on (binds). A nil Store and no error is plaintext, allowed.
func LoadDaemon(files Files, role Role, insecure bool, logger *slog.Logger, binds ...string) (*Store, error) {
	s, err := LoadFor(files, role, logger)
	if err != nil || s != nil {
		return s, err
	}
	return nil, CheckPlaintext(insecure, logger, binds...)
}

// IsLoopback reports whether a host:port listens on loopback only:
// localhost or a loopback IP. A wildcard bind (":7000", "0.0.0.0:7000") is
// not loopback.
func IsLoopback(hostport string) bool {
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

// Follow keeps s current until ctx ends: it re-reads the files when they
// change (checked every interval) and on SIGHUP, so that a renewed
// certificate is taken without a restart. A nil Store (plaintext) does
// nothing. It returns at once; the work runs in goroutines.
func (s *Store) Follow(ctx context.Context, interval time.Duration) {
	if s == nil {
		return
	}
	go s.Watch(ctx, interval)
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
					s.log.Warn("SIGHUP: tls reload failed; keeping the previous certificates", "err", err)
				}
			}
		}
	}()
}

package pki

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Files names a holder's CA bundle, certificate and key (PEM).
type Files struct {
	CA, Cert, Key string
}

// IsZero reports whether no file is named.
func (f Files) IsZero() bool { return f == Files{} }

// Check reports a partial set: all three files are needed.
func (f Files) Check() error {
	if f.IsZero() || (f.CA != "" && f.Cert != "" && f.Key != "") {
		return nil
	}
	return errors.New("pki: --ca-file, --cert-file and --key-file go together (all three or none)")
}

// material is one consistent load of the files; a Store swaps it whole.
type material struct {
	roots *x509.CertPool
	cert  *tls.Certificate
	id    Identity
	stamp []byte // what the files looked like when read (see stampOf)
}

// Store holds the current TLS material of one process. Every tls.Config
// it builds reads through it at handshake time, so Reload (or Watch
// noticing a change) takes effect on the next connection without a
// restart; established connections are unaffected.
type Store struct {
	files Files
	log   *slog.Logger
	mu    sync.Mutex // serialises reloads
	cur   atomic.Pointer[material]
}

// Load reads files and returns a Store. The certificate must chain to the
// CA bundle and carry an imh identity.
func Load(files Files, logger *slog.Logger) (*Store, error) {
	if files.IsZero() {
		return nil, errors.New("pki: no TLS files given")
	}
	if err := files.Check(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{files: files, log: logger.With("component", "tls")}
	m, err := readMaterial(files)
	if err != nil {
		return nil, err
	}
	s.cur.Store(m)
	return s, nil
}

// Identity is who this process's certificate says it is.
func (s *Store) Identity() Identity { return s.cur.Load().id }

// Leaf is the current certificate (for its expiry, say).
func (s *Store) Leaf() *x509.Certificate { return s.cur.Load().cert.Leaf }

// Reload re-reads the files. On any error (a half-renewed pair, say) the
// old material stays in use and the error is returned.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := readMaterial(s.files)
	if err != nil {
		return err
	}
	s.cur.Store(m)
	s.log.Info("tls certificates reloaded", "identity", m.id.String(), "not_after", m.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// Watch re-reads the files whenever they change (checked every interval)
// until ctx ends. A failed reload is logged and retried on the next change.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if bytes.Equal(stampOf(s.files), s.cur.Load().stamp) {
			continue
		}
		if err := s.Reload(); err != nil {
			s.log.Warn("tls reload failed; keeping the previous certificates", "err", err)
		}
	}
}

// stampOf is a SHA-256 of the files' contents (a missing file counts as
// empty). Not sizes and modification times: a renewed pair has the size of
// the old one, and Linux stamps files with a coarse clock, so a pair
// written within the same few milliseconds looked unchanged and Watch
// never took it (seen: TestReloadSwapsAndKeepsOldOnError in CI). The
// files are a few KiB, read once per Watch interval.
func stampOf(f Files) []byte {
	h := sha256.New()
	for _, p := range []string{f.CA, f.Cert, f.Key} {
		b, _ := os.ReadFile(p) // unreadable: Reload reports why
		fmt.Fprintf(h, "%d;", len(b))
		h.Write(b)
	}
	return h.Sum(nil)
}

func readMaterial(f Files) (*material, error) {
	stamp := stampOf(f)
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA %s: %w", f.CA, err)
	}
	cas, err := parseCerts(caPEM)
	if err != nil || len(cas) == 0 {
		return nil, fmt.Errorf("pki: load CA %s: no certificate (%v)", f.CA, err)
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: load certificate %s with key %s: %w", f.Cert, f.Key, err)
	}
	id, err := verify(roots, pair.Leaf, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate %s: %w", f.Cert, err)
	}
	return &material{roots: roots, cert: &pair, id: id, stamp: stamp}, nil
}

// verify checks that leaf chains to roots (through intermediates) and
// returns its identity.
func verify(roots *x509.CertPool, leaf *x509.Certificate, intermediates []*x509.Certificate, usage []x509.ExtKeyUsage) (Identity, error) {
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: usage}
	if usage == nil {
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	for _, c := range intermediates {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	return IdentityOf(leaf)
}

// Peer says which peers a link accepts: any of Roles, and when Name is
// set only the one with that name.
type Peer struct {
	Roles []Role
	Name  string
}

// check verifies a handshake's peer chain against the current CA and p.
func (s *Store) check(chain []*x509.Certificate, usage x509.ExtKeyUsage, p Peer) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, ErrNoCert
	}
	id, err := verify(s.cur.Load().roots, chain[0], chain[1:], []x509.ExtKeyUsage{usage})
	if err != nil {
		return Identity{}, err
	}
	if !slices.Contains(p.Roles, id.Role) {
		return id, fmt.Errorf("%w: %s (want %v)", ErrRole, id, p.Roles)
	}
	if p.Name != "" && id.Name != p.Name {
		return id, fmt.Errorf("%w: certificate names %s, want %s/%s", ErrName, id, id.Role, p.Name)
	}
	return id, nil
}

// ServerConfig is for a listener that accepts only peers p describes: the
// handshake fails unless the client presents a certificate of the cluster
// CA with one of p's roles. TLS 1.3 only.
func (s *Store) ServerConfig(p Peer) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		ClientAuth:     tls.RequireAnyClientCert, // verified below, against the current CA
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cur.Load().cert, nil },
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := s.check(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, p)
			return err
		},
	}
}

// RequestServerConfig is for the HTTP API: a client certificate is asked
// for but not required at the handshake (the handler answers 401 without
// one and 403 for a wrong role, which a script can tell apart from a
// network failure). A certificate that is presented must chain to the CA.
func (s *Store) RequestServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		ClientAuth:     tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cur.Load().cert, nil },
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			_, err := s.check(cs.PeerCertificates, x509.ExtKeyUsageClientAuth,
				Peer{Roles: []Role{RoleAgent, RoleRouter, RoleClient, RoleFrontend}})
			return err
		},
	}
}

// ClientConfig is for dialing a server p describes: the server must
// present a certificate of the cluster CA with one of p's roles (and p's
// name when set); ours is presented in return. Host names are not
// checked: the imh identity is (see the package comment).
func (s *Store) ClientConfig(p Peer) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		InsecureSkipVerify:   true, // replaced by VerifyConnection: the CA may be reloaded
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return s.cur.Load().cert, nil },
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := s.check(cs.PeerCertificates, x509.ExtKeyUsageServerAuth, p)
			return err
		},
	}
}

// NamedClientConfigs returns, per name, a ClientConfig that accepts only
// a certificate of role naming that peer: a router or frontend dialed by
// its name in the cluster's state, so that the keys sent over the link
// can go nowhere else. A nil Store (plaintext) returns nil.
func (s *Store) NamedClientConfigs(role Role) func(name string) *tls.Config {
	if s == nil {
		return nil
	}
	return func(name string) *tls.Config {
		return s.ClientConfig(Peer{Roles: []Role{role}, Name: name})
	}
}

// PeerIdentity returns the verified identity of a connection's peer, or
// ErrNoCert. Use it on connections made with this package's configs.
func PeerIdentity(cs *tls.ConnectionState) (Identity, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return Identity{}, ErrNoCert
	}
	return IdentityOf(cs.PeerCertificates[0])
}

// Package pki is the cluster's certificate authority: it creates the CA,
// issues leaf certificates that carry a role and a name, and builds the
// tls.Configs every imh link uses (mutual TLS 1.3, peers verified against
// the cluster CA and a required role). It imports nothing from imh.
//
// A certificate's identity is its URI SAN imh://<role>/<name> (the CN holds
// the name too, for humans). Host names are not what imh checks: a peer is
// trusted for what its certificate says it is (an agent, the router named
// r1), not for the address it was reached at.
//
// Validity: the CA is valid for CAValidity (5 years), leaf certificates for
// DefaultLeafValidity (90 days) unless asked otherwise; a Store re-reads its
// files when they change or on Reload (SIGHUP), so renewal needs no restart.
//
// A daemon's start (daemon.go): LoadFor its role, CheckPlaintext when it
// has no files (plaintext beyond loopback only when asked for loudly), and
// Store.Follow to take renewals.
package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Role is what a certificate allows its holder to be on imh's links.
type Role string

// The roles. Their spelling is persisted inside certificates: never change.
const (
	RoleAgent    Role = "agent"    // a balancer replica: raft, agent-to-agent API, controls routers
	RoleRouter   Role = "router"   // imh router serve: receives sessions and LeaseSet keys
	RoleClient   Role = "client"   // an operator's CLI or script: the operator API
	RoleFrontend Role = "frontend" // a frontend's data attachment to a router
)

// Validity periods (see the package comment).
const (
	CAValidity          = 5 * 365 * 24 * time.Hour
	DefaultLeafValidity = 90 * 24 * time.Hour
	MaxLeafValidity     = 825 * 24 * time.Hour
	// clockSkew backdates NotBefore so peers with slightly slow clocks
	// accept a fresh certificate.
	clockSkew = 5 * time.Minute
)

// Sentinel errors.
var (
	// ErrExists: a file that would be written exists already (nothing is
	// ever overwritten).
	ErrExists = errors.New("pki: file exists")
	// ErrIdentity: a certificate carries no valid imh identity.
	ErrIdentity = errors.New("pki: certificate has no imh identity")
	// ErrRole: the peer's certificate has a role this link does not accept.
	ErrRole = errors.New("pki: peer role not allowed")
	// ErrName: the peer's certificate names another peer than expected.
	ErrName = errors.New("pki: peer name mismatch")
	// ErrUntrusted: the peer's certificate does not chain to the cluster CA.
	ErrUntrusted = errors.New("pki: certificate not signed by the cluster CA")
	// ErrNoCert: the peer presented no certificate.
	ErrNoCert = errors.New("pki: peer presented no certificate")
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ParseRole returns the role spelled s.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAgent, RoleRouter, RoleClient, RoleFrontend:
		return r, nil
	}
	return "", fmt.Errorf("pki: unknown role %q (want agent, router, client or frontend)", s)
}

// ValidName reports whether name may be a certificate's name: it becomes
// a file name and a URI path segment, so it is kept to a safe alphabet.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("pki: name %q: want 1-63 letters, digits, '.', '_' or '-', not starting with a symbol", name)
	}
	return nil
}

// Identity is who a certificate says its holder is.
type Identity struct {
	Role Role
	Name string
}

func (id Identity) String() string { return string(id.Role) + "/" + id.Name }

func (id Identity) uri() *url.URL {
	return &url.URL{Scheme: "imh", Host: string(id.Role), Path: "/" + id.Name}
}

// IdentityOf reads the imh identity of a certificate: exactly one imh://
// URI SAN with a known role and a valid name.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	var found []Identity
	for _, u := range cert.URIs {
		if u.Scheme != "imh" {
			continue
		}
		role, err := ParseRole(u.Host)
		if err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrIdentity, err)
		}
		name := u.Path
		if len(name) < 2 || name[0] != '/' || ValidName(name[1:]) != nil {
			return Identity{}, fmt.Errorf("%w: bad name in %s", ErrIdentity, u)
		}
		found = append(found, Identity{Role: role, Name: name[1:]})
	}
	if len(found) != 1 {
		return Identity{}, fmt.Errorf("%w: %d imh:// URIs", ErrIdentity, len(found))
	}
	return found[0], nil
}

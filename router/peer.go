package router

import (
	"errors"
	"fmt"

	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/routerproto"
)

// peerConn is what the TLS layer proved about a connection: the role of
// the client's certificate and the connection's session binding. Both are
// zero on a plain TCP connection (loopback only), where every kind of
// session is allowed as before.
type peerConn struct {
	role    pki.Role
	binding []byte
}

func peerOf(sc *routerproto.ServerConn) peerConn {
	cs := sc.TLSState()
	if cs == nil {
		return peerConn{}
	}
	p := peerConn{binding: sc.Binding()}
	if id, err := pki.PeerIdentity(cs); err == nil {
		p.role = id.Role
	}
	return p
}

// errRole: the connection's certificate does not allow this session.
var errRole = errors.New("router: certificate role does not allow this session")

// allows says which sessions each role may open: agents (the balancer)
// anything; frontends only data attachments; operators (client
// certificates: imh i2cp probe, imh ping) only ordinary unmanaged
// sessions. So neither can take control of a managed session.
func (p peerConn) allows(managed, attach bool) error {
	switch p.role {
	case "", pki.RoleAgent:
		return nil
	case pki.RoleFrontend:
		if attach {
			return nil
		}
	case pki.RoleClient:
		if !managed && !attach {
			return nil
		}
	}
	return fmt.Errorf("%w: %s (managed %v, data attachment %v)", errRole, p.role, managed, attach)
}

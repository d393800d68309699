package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/imh-project/imh/internal/pki"
)

// Limits of the raft TLS listener. A peer must finish its handshake within
// raftHandshakeTimeout; at most raftMaxHandshakes run at once (more are
// closed at once), so a flood of idle connections cannot starve raft's
// single accept loop.
const (
	raftHandshakeTimeout = 5 * time.Second
	raftMaxHandshakes    = 64
)

// agentsOnly is who may speak raft: agents of the cluster CA.
var agentsOnly = pki.Peer{Roles: []pki.Role{pki.RoleAgent}}

// tlsStream is a raft.StreamLayer over mutual TLS 1.3: both sides present
// agent certificates of the cluster CA. Accept returns a connection only
// after its handshake (and the role check) completed, so raft never reads
// a byte from an unauthenticated peer. Handshakes run off raft's accept
// loop: a slow or hostile client delays nobody.
type tlsStream struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	log       *slog.Logger

	ready  chan net.Conn
	slots  chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newTLSStream(bind string, advertise net.Addr, store *pki.Store, logger *slog.Logger) (*tlsStream, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if a, ok := advertise.(*net.TCPAddr); !ok || a.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("raft advertise %v: not a dialable address", advertise)
	}
	s := &tlsStream{
		ln: ln, advertise: advertise, server: store.ServerConfig(agentsOnly), client: store.ClientConfig(agentsOnly),
		log: logger, ready: make(chan net.Conn), slots: make(chan struct{}, raftMaxHandshakes), closed: make(chan struct{}),
	}
	go s.acceptLoop()
	return s, nil
}

func (s *tlsStream) acceptLoop() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and friends: do not spin
			continue
		}
		select {
		case s.slots <- struct{}{}:
			go s.handshake(nc)
		default:
			_ = nc.Close()
		}
	}
}

func (s *tlsStream) handshake(nc net.Conn) {
	defer func() { <-s.slots }()
	ctx, cancel := context.WithTimeout(context.Background(), raftHandshakeTimeout)
	defer cancel()
	tc := tls.Server(nc, s.server)
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Warn("raft connection refused", "remote", nc.RemoteAddr().String(), "err", err)
		_ = nc.Close()
		return
	}
	select {
	case s.ready <- tc:
	case <-s.closed:
		_ = tc.Close()
	}
}

// Accept returns the next authenticated connection.
func (s *tlsStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.ready:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; raft closes it on Shutdown.
func (s *tlsStream) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		err = s.ln.Close()
	})
	return err
}

// Addr is what peers dial.
func (s *tlsStream) Addr() net.Addr { return s.advertise }

// Dial connects to another agent and completes the handshake; the peer
// must prove it is an agent of the cluster CA.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := tls.Dialer{Config: s.client}
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("raft dial %s: %w", address, err)
	}
	return c, nil
}

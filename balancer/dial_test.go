package balancer

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// TestTCPFrontendDialer: without a TLS config the link is plain TCP; with
// one, the config of the frontend's name is used and a peer that does
// not complete the handshake is never a link.
func TestTCPFrontendDialer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close() // no TLS here: a handshake fails
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := TCPFrontendDialer(nil)(ctx, "fe1", ln.Addr().String())
	if err != nil {
		t.Fatalf("plain dial: %v", err)
	}
	c.Close()

	var asked string
	dial := TCPFrontendDialer(func(name string) *tls.Config {
		asked = name
		return &tls.Config{ServerName: name, MinVersion: tls.VersionTLS13}
	})
	if c, err := dial(ctx, "fe1", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("TLS dial to a peer without TLS succeeded")
	}
	if asked != "fe1" {
		t.Errorf("TLS config asked for %q, want fe1", asked)
	}
}

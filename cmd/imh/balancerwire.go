package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/balancer"
	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/routerproto"
)

// wireBalancer is the balancer's agentExtension: on the leader, after the
// cluster's Barrier, it drives the routers; its live view (router health,
// gateway sets, payload counts) feeds `imh status`.
func wireBalancer(c *cluster.Cluster, reg prometheus.Registerer, logger *slog.Logger) (func(context.Context) error, error) {
	cfg := balancer.DefaultConfig()
	cfg.Cluster = c
	cfg.Dial = balancer.RouterDialer(routerproto.DefaultClientConfig(), routerTLS(c.TLS()))
	cfg.DialFrontend = frontendDialer(c.TLS())
	cfg.NodeName = c.NodeName()
	cfg.Logger = logger
	clk, err := balancerClock(logger)
	if err != nil {
		return nil, fmt.Errorf("balancer: %w", err)
	}
	cfg.Clock = clk
	b, err := balancer.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("balancer: %w", err)
	}
	c.SetLiveView(b)
	if err := reg.Register(balancer.NewCollector(b)); err != nil {
		return nil, fmt.Errorf("balancer metrics: %w", err)
	}
	return b.Run, nil
}

// routerTLS returns, per router, a TLS config that accepts only the
// certificate naming that router (role router, its name in the fsm): its
// LeaseSet keys can go nowhere else. nil without TLS.
func routerTLS(store *pki.Store) func(name string) *tls.Config {
	if store == nil {
		return nil
	}
	return func(name string) *tls.Config {
		return store.ClientConfig(pki.Peer{Roles: []pki.Role{pki.RoleRouter}, Name: name})
	}
}

// frontendDialer dials frontends: over TLS, only to the certificate naming
// that frontend (role frontend, its name in the fsm), since it gets
// transient keys of the destinations; plain TCP without TLS.
func frontendDialer(store *pki.Store) balancer.FrontendDialer {
	return func(ctx context.Context, name, addr string) (net.Conn, error) {
		var d net.Dialer
		if store == nil {
			return d.DialContext(ctx, "tcp", addr)
		}
		td := tls.Dialer{NetDialer: &d, Config: store.ClientConfig(pki.Peer{Roles: []pki.Role{pki.RoleFrontend}, Name: name})}
		return td.DialContext(ctx, "tcp", addr)
	}
}

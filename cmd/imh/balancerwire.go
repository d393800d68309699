package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/balancer"
	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/clock"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/routerproto"
)

// wireBalancer is the balancer's agentExtension: on the leader, after the
// cluster's Barrier, it drives the routers; its live view (router health,
// gateway sets, payload counts) feeds `imh status`.
func wireBalancer(c *cluster.Cluster, reg prometheus.Registerer, logger *slog.Logger) (func(context.Context) error, error) {
	cfg := balancer.DefaultConfig()
	cfg.Cluster = c
	cfg.Dial = balancer.RouterDialer(routerproto.DefaultClientConfig(), c.TLS().NamedClientConfigs(pki.RoleRouter))
	cfg.DialFrontend = balancer.TCPFrontendDialer(c.TLS().NamedClientConfigs(pki.RoleFrontend))
	cfg.NodeName = c.NodeName()
	cfg.Logger = logger
	clk, err := clock.FromEnv(logger) // IMH_TEST_CLOCK_SKEW, test only
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

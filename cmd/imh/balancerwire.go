package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/imh-project/imh/balancer"
	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/routerproto"
)

// The balancer plugs into `imh agent` through agentExtensions: on the
// leader, after the cluster's Barrier, it drives the routers; its live view
// (router health, gateway sets, payload counts) feeds `imh status`.
func init() { agentExtensions = append(agentExtensions, wireBalancer) }

func wireBalancer(c *cluster.Cluster, logger *slog.Logger) (func(context.Context) error, error) {
	cfg := balancer.DefaultConfig()
	cfg.Cluster = c
	cfg.Dial = balancer.RouterDialer(routerproto.DefaultClientConfig())
	cfg.Logger = logger
	b, err := balancer.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("balancer: %w", err)
	}
	c.SetLiveView(b)
	return b.Run, nil
}

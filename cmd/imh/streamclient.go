package main

import (
	"context"
	"log/slog"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/i2cpclient"
	"github.com/imh-project/imh/internal/streamnet"
	"github.com/imh-project/imh/router/simnet"
)

// streamNetFlags choose where a client's streams leave from.
type streamNetFlags struct {
	via     string // i2cp://H:P (or i2cps:// for a TLS imh router): a session of its own on that router
	network string // simnet://H:P: an endpoint on the simulated network
}

// parseStreamTarget is streamnet.ParseTarget with a bad target the
// operator's to fix (exit 2).
func parseStreamTarget(s string) (i2p.Hash, uint16, error) {
	h, port, err := streamnet.ParseTarget(s)
	if err != nil {
		return i2p.Hash{}, 0, &usageError{err: err}
	}
	return h, port, nil
}

// open starts the client side the flags name.
func (f streamNetFlags) open(ctx context.Context, log *slog.Logger) (*streamnet.Net, error) {
	switch {
	case (f.via == "") == (f.network == ""):
		return nil, usageErrorf("give exactly one of --via i2cp://H:P and --network simnet://H:P")
	case f.network != "":
		addr, err := simnet.ParseAddr(f.network)
		if err != nil {
			return nil, usageErrorf("--network: %v", err)
		}
		return streamnet.OpenSimnet(ctx, addr, log)
	}
	addr, err := usageOf(i2cpclient.ParseAddr(f.via))
	if err != nil {
		return nil, err
	}
	return streamnet.OpenRouter(ctx, addr, routerDialer(addr), log)
}

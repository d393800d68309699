package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/imh-project/imh/internal/i2cpclient"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/i2cpup"
)

// newRouterUpstreamBackend builds the backend of `imh router serve
// --upstream i2cp://H:P`: a stock I2P router reached over standard I2CP
// (router/i2cpup).
func newRouterUpstreamBackend(_ context.Context, o RouterUpstreamOptions, logger *slog.Logger) (router.Backend, error) {
	addr, err := usageOf(i2cpclient.ParseAddr(o.Addr))
	if err != nil {
		return nil, err
	}
	cfg := i2cpup.Config{Addr: addr, Username: o.User, Logger: logger}
	if o.PasswordFile != "" {
		b, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return nil, usageErrorf("router serve: --i2cp-password-file: %v", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	if o.User != "" && cfg.Password == "" || o.User == "" && cfg.Password != "" {
		return nil, usageErrorf("router serve: --i2cp-user and --i2cp-password-file go together")
	}
	be, err := i2cpup.NewBackend(cfg)
	if err != nil {
		return nil, fmt.Errorf("router serve --upstream i2cp://%s: %w", addr, err)
	}
	return be, nil
}

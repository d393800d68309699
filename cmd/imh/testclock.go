package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/imh-project/imh/internal/clock"
)

// testClockSkewEnv names the test-only setting that skews the balancer's
// wall clock of one agent (a Go duration: "-5m" plays a machine whose
// clock is five minutes slow). It exists for the clock-skew process test
// (integration/clockskew_test.go, docs/reliability.md) and is read here
// only; it is not an operator setting and is not in docs/cli.md.
const testClockSkewEnv = "IMH_TEST_CLOCK_SKEW"

// balancerClock is the wall clock the balancer stamps LeaseSets with: the
// real one, or the real one shifted by IMH_TEST_CLOCK_SKEW. A skewed agent
// says so in its log, so a stray setting cannot go unnoticed.
func balancerClock(logger *slog.Logger) (clock.Clock, error) {
	v := os.Getenv(testClockSkewEnv)
	if v == "" {
		return clock.Real(), nil
	}
	skew, err := time.ParseDuration(v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q (test only): %w", testClockSkewEnv, v, err)
	}
	logger.Warn("balancer clock skewed for a test", "env", testClockSkewEnv, "skew", skew)
	return clock.Skewed(clock.Real(), skew), nil
}

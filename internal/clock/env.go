package clock

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// SkewEnv names the test-only setting that skews the balancer's wall clock
// of one agent (a Go duration: "-5m" plays a machine whose clock is five
// minutes slow). It exists for the clock-skew process test
// (integration/clockskew_test.go, docs/reliability.md) and is read by
// FromEnv only; it is not an operator setting and is not in docs/cli.md.
const SkewEnv = "IMH_TEST_CLOCK_SKEW"

// FromEnv is the wall clock the balancer stamps LeaseSets with: Real, or
// Real shifted by SkewEnv. A skewed clock is logged as a warning on
// logger, so a stray setting cannot go unnoticed; a value that is not a
// duration is an error naming the setting.
func FromEnv(logger *slog.Logger) (Clock, error) {
	v := os.Getenv(SkewEnv)
	if v == "" {
		return Real(), nil
	}
	skew, err := time.ParseDuration(v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q (test only): %w", SkewEnv, v, err)
	}
	logger.Warn("balancer clock skewed for a test", "env", SkewEnv, "skew", skew)
	return Skewed(Real(), skew), nil
}

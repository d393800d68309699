package clock

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestFromEnv: unset is Real, a duration skews the clock and says so in
// the log, anything else is an error naming the setting.
func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		value   string
		skew    time.Duration
		warns   bool
		wantErr string
	}{
		{"unset", "", 0, false, ""},
		{"slow", "-5m", -5 * time.Minute, true, ""},
		{"fast", "3m", 3 * time.Minute, true, ""},
		{"not a duration", "soon", 0, false, `IMH_TEST_CLOCK_SKEW="soon" (test only): `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(SkewEnv, tc.value)
			var log bytes.Buffer
			c, err := FromEnv(slog.New(slog.NewTextHandler(&log, nil)))
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("FromEnv = %v, want an error starting %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.skew == 0 && !IsReal(c) {
				t.Errorf("FromEnv without %s is not Real", SkewEnv)
			}
			if got := time.Until(c.Now()); got < tc.skew-time.Minute/2 || got > tc.skew+time.Minute/2 {
				t.Errorf("clock is %v off, want %v", got, tc.skew)
			}
			if warned := strings.Contains(log.String(), "balancer clock skewed for a test"); warned != tc.warns {
				t.Errorf("log %q: warned %v, want %v", log.String(), warned, tc.warns)
			}
		})
	}
}

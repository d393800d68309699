package routerd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/i2cpup"
)

// TestUpstreamConfig: --upstream and its credentials become the config of
// an i2cpup backend that can be built; a bad address, a password file
// that cannot be read, and credentials given half are refused, naming
// the flags.
func TestUpstreamConfig(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		c        Config
		wantErr  string // in the error; "" accepts
		user, pw string
	}{
		{"plain", Config{Upstream: "i2cp://127.0.0.1:7654"}, "", "", ""},
		{"credentials", Config{Upstream: "i2cp://127.0.0.1:7654", I2CPUser: "u", I2CPPasswordFile: pw}, "", "u", "secret"},
		{"bad address", Config{Upstream: "i2cp://nowhere"}, `i2cp address "nowhere"`, "", ""},
		{"user without password", Config{Upstream: "i2cp://127.0.0.1:7654", I2CPUser: "u"}, "--i2cp-user and --i2cp-password-file go together", "", ""},
		{"password without user", Config{Upstream: "i2cp://127.0.0.1:7654", I2CPPasswordFile: pw}, "--i2cp-user and --i2cp-password-file go together", "", ""},
		{"missing password file", Config{Upstream: "i2cp://127.0.0.1:7654", I2CPUser: "u", I2CPPasswordFile: filepath.Join(dir, "none")}, "router serve: --i2cp-password-file: ", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.c.UpstreamConfig(nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("UpstreamConfig() = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Addr != "127.0.0.1:7654" || cfg.Username != tc.user || cfg.Password != tc.pw {
				t.Fatalf("UpstreamConfig() = %+v", cfg)
			}
			be, err := i2cpup.NewBackend(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			if be.Kind() != "i2cp" || !be.Features().UpstreamTunnels {
				t.Fatalf("backend %s with %+v", be.Kind(), be.Features())
			}
			var _ router.RouterAttacher = be
		})
	}
}

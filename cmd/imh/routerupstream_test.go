package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imh-project/imh/router"
)

func TestRouterUpstreamBackendFlags(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    RouterUpstreamOptions
		exit int // 0: a backend
	}{
		{"plain", RouterUpstreamOptions{Addr: "127.0.0.1:7654"}, 0},
		{"credentials", RouterUpstreamOptions{Addr: "127.0.0.1:7654", User: "u", PasswordFile: pw}, 0},
		{"bad address", RouterUpstreamOptions{Addr: "nowhere"}, 2},
		{"user without password", RouterUpstreamOptions{Addr: "127.0.0.1:7654", User: "u"}, 2},
		{"missing password file", RouterUpstreamOptions{Addr: "127.0.0.1:7654", User: "u", PasswordFile: filepath.Join(dir, "none")}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be, err := newRouterUpstreamBackend(context.Background(), tc.o, nil)
			if tc.exit != 0 {
				if err == nil || exitCode(err) != tc.exit {
					t.Fatalf("err %v (exit %d), want exit %d", err, exitCode(err), tc.exit)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			if be.Kind() != "i2cp" || !be.Features().UpstreamTunnels {
				t.Fatalf("backend %s with %+v", be.Kind(), be.Features())
			}
			var _ router.RouterAttacher = be.(router.RouterAttacher)
		})
	}
}

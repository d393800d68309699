package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imh-project/imh/cluster"
)

// TestKeygenOut: --out writes a parsable secret with mode 0600, prints
// nothing, and never replaces a file (exit 2, file unchanged).
func TestKeygenOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if out, code := runRoot(t, "keygen", "--out", path); code != exitOK || out != "" {
		t.Fatalf("keygen --out: exit %d, output %q", code, out)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v, want mode 0600", fi, err)
	}
	before, _ := os.ReadFile(path)
	if _, err := cluster.ParseSecret(string(before)); err != nil {
		t.Fatalf("written secret: %v", err)
	}
	if _, code := runRoot(t, "keygen", "--out", path); code != exitUsage {
		t.Fatalf("keygen over an existing file: exit %d, want 2", code)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the existing secret file changed")
	}
}

// TestTLSCommands: imh tls ca create and cert create write their files
// (keys 0600), never overwrite, and refuse bad role flags.
func TestTLSCommands(t *testing.T) {
	dir := t.TempDir()
	if out, code := runRoot(t, "tls", "ca", "create", "--dir", dir); code != exitOK {
		t.Fatalf("ca create: exit %d: %s", code, out)
	}
	if out, code := runRoot(t, "tls", "cert", "create", "--router", "r1", "--dir", dir); code != exitOK {
		t.Fatalf("cert create: exit %d: %s", code, out)
	}
	for _, f := range []string{"ca-key.pem", "r1-key.pem"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", f, fi, err)
		}
	}
	for _, args := range [][]string{
		{"tls", "ca", "create", "--dir", dir},
		{"tls", "cert", "create", "--router", "r1", "--dir", dir},
		{"tls", "cert", "create", "r2", "--dir", dir},
		{"tls", "cert", "create", "--router", "--agent", "r2", "--dir", dir},
		{"tls", "cert", "create", "--client", "../x", "--dir", dir},
	} {
		if _, code := runRoot(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

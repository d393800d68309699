// Package tooltest finds the external programs some tests run (promtool,
// systemd-analyze). A missing program is installed with the repository's
// scripts/install-test-deps when the test runs as root (as `make test`
// does); otherwise the test is skipped with a message naming the package.
package tooltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var installOnce sync.Once

// Need returns the path of program bin (from Debian package pkg).
func Need(t testing.TB, bin, pkg string) string {
	t.Helper()
	if p, ok := look(bin); ok {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skipf("%s not found and not root: install Debian's %s (scripts/install-test-deps does, as root)", bin, pkg)
	}
	installOnce.Do(func() {
		script := filepath.Join(repoRoot(t), "scripts", "install-test-deps")
		out, err := exec.Command(script).CombinedOutput()
		if err != nil {
			t.Logf("%s: %v\n%s", script, err, out)
		}
	})
	p, ok := look(bin)
	if !ok {
		t.Fatalf("%s still missing after scripts/install-test-deps (package %s)", bin, pkg)
	}
	return p
}

func look(bin string) (string, bool) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"} {
		p := filepath.Join(dir, bin)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// repoRoot is the directory holding go.mod, upwards from the test's.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// CheckMetrics runs `promtool check metrics` on an exposition and fails the
// test with promtool's findings.
func CheckMetrics(t testing.TB, exposition string) {
	t.Helper()
	cmd := exec.Command(Need(t, "promtool", "prometheus"), "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

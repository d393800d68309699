package i2pdnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nsPrefix starts every namespace name this package creates; CleanupStale
// only ever looks at names that start with it.
const nsPrefix = "imh-"

// netnsDir is where `ip netns add` pins named namespaces.
const netnsDir = "/run/netns"

// newNamespaceName returns imh-<pid>-<8 hex>: the pid lets CleanupStale tell
// a dead creator, the random part keeps concurrent networks of one process
// apart.
func newNamespaceName() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("namespace name: %w", err)
	}
	return fmt.Sprintf("%s%d-%s", nsPrefix, os.Getpid(), hex.EncodeToString(b[:])), nil
}

// staleNameRE matches imh-<pid> and imh-<pid>-<anything>: the creator's pid
// comes first, as in TESTNET.md's shell recipe (imh-$$) and in this package.
var staleNameRE = regexp.MustCompile(`^imh-([0-9]+)(?:-[A-Za-z0-9]+)?$`)

// creatorPID returns the pid encoded in a namespace name of this package's
// form, or false.
func creatorPID(name string) (int, bool) {
	m := staleNameRE.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	pid, err := strconv.Atoi(m[1])
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// runIP runs `ip args...` and returns its stdout; the error carries stderr.
func runIP(ctx context.Context, ipBin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, ipBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// createNamespace adds the namespace, brings its lo up and gives lo the
// addresses.
func createNamespace(ctx context.Context, ipBin, ns string, addrs []netip.Addr) error {
	if _, err := runIP(ctx, ipBin, "netns", "add", ns); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	if _, err := runIP(ctx, ipBin, "-n", ns, "link", "set", "lo", "up"); err != nil {
		return fmt.Errorf("namespace %s: lo up: %w", ns, err)
	}
	for _, a := range addrs {
		if _, err := runIP(ctx, ipBin, "-n", ns, "addr", "add", a.String()+"/32", "dev", "lo"); err != nil {
			return fmt.Errorf("namespace %s: add %s: %w", ns, a, err)
		}
	}
	return nil
}

// verifyIsolated checks, from inside the namespace (`ip netns exec`, as
// TESTNET.md asks), that there is no default route (IPv4 or IPv6) and that lo
// is the only link, so nothing started in there can reach the outside.
func verifyIsolated(ctx context.Context, ipBin, ns string) error {
	for _, fam := range []string{"-4", "-6"} {
		out, err := runIP(ctx, ipBin, "netns", "exec", ns, ipBin, fam, "route", "show", "table", "all")
		if err != nil {
			return fmt.Errorf("namespace %s: list routes: %w", ns, err)
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && (f[0] == "default" || f[0] == "0.0.0.0/0" || f[0] == "::/0") {
				return fmt.Errorf("%w: namespace %s: %q", ErrNotIsolated, ns, strings.TrimSpace(line))
			}
		}
	}
	out, err := runIP(ctx, ipBin, "netns", "exec", ns, ipBin, "-o", "link", "show")
	if err != nil {
		return fmt.Errorf("namespace %s: list links: %w", ns, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.TrimSuffix(f[1], ":") != "lo" {
			return fmt.Errorf("%w: namespace %s has link %q", ErrNotIsolated, ns, strings.TrimSpace(line))
		}
	}
	return nil
}

// namespacePIDs lists the processes whose network namespace is ns (`ip netns
// pids`), without this process: a thread of it may have entered ns to dial.
func namespacePIDs(ctx context.Context, ipBin, ns string) ([]int, error) {
	out, err := runIP(ctx, ipBin, "netns", "pids", ns)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// killNamespace sends SIGTERM to every process in ns, waits up to grace for
// them to go, then SIGKILLs the rest and waits again. It reports processes
// that survive.
func killNamespace(ctx context.Context, ipBin, ns string, grace time.Duration) error {
	pids, err := namespacePIDs(ctx, ipBin, ns)
	if err != nil {
		return fmt.Errorf("namespace %s: list processes: %w", ns, err)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	if waitNoPIDs(ctx, ipBin, ns, grace) {
		return nil
	}
	pids, _ = namespacePIDs(ctx, ipBin, ns)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if waitNoPIDs(ctx, ipBin, ns, killWait) {
		return nil
	}
	pids, _ = namespacePIDs(ctx, ipBin, ns)
	return fmt.Errorf("namespace %s: processes %v survive SIGKILL", ns, pids)
}

// waitNoPIDs polls until ns has no processes left or d passes.
func waitNoPIDs(ctx context.Context, ipBin, ns string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		pids, err := namespacePIDs(ctx, ipBin, ns)
		if err == nil && len(pids) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// deleteNamespace removes ns; a namespace that is already gone is fine.
func deleteNamespace(ctx context.Context, ipBin, ns string) error {
	if !namespaceExists(ns) {
		return nil
	}
	if _, err := runIP(ctx, ipBin, "netns", "del", ns); err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	return nil
}

// namespaceExists reports whether ns is pinned under /run/netns.
func namespaceExists(ns string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, ns))
	return err == nil
}

// NamespaceExists reports whether a namespace named ns exists; tests use it
// to assert that teardown removed theirs.
func NamespaceExists(ns string) bool { return namespaceExists(ns) }

// CleanupStale removes what crashed runs left behind: every namespace named
// imh-<pid>[-...] whose creator pid no longer runs has its processes killed
// and is deleted, and its default work directory (os.TempDir()/<name>) is
// removed. Namespaces of live creators (other tests running now) are left
// alone. It returns the names it removed.
func CleanupStale(ctx context.Context) ([]string, error) {
	ipBin, err := findIP()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cleanup stale namespaces: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		pid, ok := creatorPID(e.Name())
		if !ok || pidAlive(pid) {
			continue
		}
		ns := e.Name()
		if err := killNamespace(ctx, ipBin, ns, stopGrace); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := deleteNamespace(ctx, ipBin, ns); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.RemoveAll(filepath.Join(os.TempDir(), ns)); err != nil {
			errs = append(errs, fmt.Errorf("cleanup %s: %w", ns, err))
		}
		removed = append(removed, ns)
	}
	return removed, errors.Join(errs...)
}

// pidAlive reports whether a process with this pid exists (EPERM means it
// does, owned by someone else).
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// findIP locates the ip(8) binary; /usr/sbin is often not on PATH.
func findIP() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: ip (iproute2) not found", ErrMissingDependency)
}

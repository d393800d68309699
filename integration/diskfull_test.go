//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/eventually"
)

// diskFullRecoverBound bounds the time from freeing space to the next
// acknowledged write. Measured: 0.13-0.65 s (an election of one agent
// after its heartbeat timeout); the bound covers the 2 s retry of a
// stalled term write and 2 noisy cores.
const diskFullRecoverBound = 10 * time.Second

// TestDataDiskFull (issue 19): a single agent's data dir on an 8 MiB tmpfs
// is filled up. Writes then fail with a clear error (507 disk_full naming
// the full data dir; the CLI says so too) while the agent keeps running;
// once space returns it leads and takes writes again by itself; every
// write acknowledged before, during and after is there, also after a
// SIGKILL and restart on the same data dir (raft.db is not corrupted).
// bbolt reuses the pages it freed, so raft's small term writes still fit
// here: the path where raft cannot save its term (a panic before
// diskStore) is covered by cluster.TestDiskStoreWaitsForSpace only.
func TestDataDiskFull(t *testing.T) {
	lightPool.join(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	tc := startTestCluster(t, 1)
	a := tc.waitLeader(30 * time.Second)
	moveToTmpfs(t, a, "8m")
	tc.start(a)
	tc.waitLeader(30 * time.Second)

	r := &routerAdder{a: a, ports: map[string]int{}}
	var acked []string
	for i := range 5 {
		name := fmt.Sprintf("before%d", i)
		if err := r.add(name); err != nil {
			t.Fatalf("router add %s: %v", name, err)
		}
		acked = append(acked, name)
	}
	filler := fillDisk(t, a.dataDir)

	// bbolt reuses pages it freed, so some writes still fit; the first
	// that needs a new page fails.
	var err error
	for i := 0; ; i++ {
		name := fmt.Sprintf("full%d", i)
		if err = r.add(name); err != nil {
			t.Logf("disk full: %d writes still fitted, then %v", i, err)
			break
		}
		acked = append(acked, name)
		if i == 5000 {
			t.Fatal("5000 writes fitted on a full disk")
		}
	}
	checkDiskFullAnswer(t, err)
	// The leader stepped down; hold the disk full across its next
	// election (raft must save a new term, which it cannot).
	elections := strings.Count(a.proc.Log(), "entering candidate state")
	eventually.True(t, 10*time.Second, "an election on the full disk", func() bool {
		return strings.Count(a.proc.Log(), "entering candidate state") > elections || a.proc.Exited()
	})
	eventually.True(t, 10*time.Second, "writes refused with disk_full while the disk is full", func() bool {
		var ae *client.APIError
		return errors.As(r.add("refused"), &ae) && ae.Status == http.StatusInsufficientStorage && ae.Body.Code == cluster.CodeDiskFull
	})
	_, stderr, exit := runIMH(t, "router", "add", "cli", "--addr", "127.0.0.1:9999", "--http-addr", a.httpAddr)
	if exit != 1 || !strings.Contains(stderr, "data dir full") {
		t.Errorf("imh router add on a full disk: exit %d, stderr %q; want exit 1 naming the full data dir", exit, stderr)
	}
	if a.proc.Exited() || !strings.Contains(a.proc.Log(), "data dir full or read-only") {
		t.Fatalf("agent exited (%v) or did not log the full disk; log tail:\n%s", a.proc.Exited(), a.proc.LogTail(30))
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	eventually.True(t, diskFullRecoverBound, "a write acknowledged after space returned", func() bool {
		return r.add("after") == nil
	})
	t.Logf("writes acknowledged again %s after space returned", time.Since(freed).Round(time.Millisecond))
	acked = append(acked, "after")
	checkRouters(t, a, acked)

	a.proc.Kill()
	tc.start(a)
	tc.waitLeader(30 * time.Second)
	checkRouters(t, a, acked)
}

// moveToTmpfs stops a and moves its data dir onto a tmpfs of size
// mounted in its place (unmounted when the test ends).
func moveToTmpfs(t *testing.T, a *clusterAgent, size string) {
	t.Helper()
	if err := a.proc.Stop(); err != nil {
		t.Fatalf("stop %s: %v", a.name, err)
	}
	saved := filepath.Join(t.TempDir(), "saved")
	copyDir(t, a.dataDir, saved)
	if err := os.RemoveAll(a.dataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(a.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", a.dataDir).CombinedOutput(); err != nil {
		t.Skipf("mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", a.dataDir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", a.dataDir, err, out)
		}
	})
	if out, err := exec.Command("cp", "-a", saved+"/.", a.dataDir).CombinedOutput(); err != nil {
		t.Fatalf("copy the data dir onto the tmpfs: %v: %s", err, out)
	}
}

// fillDisk writes a file into dir until the file system is full and
// returns its path.
func fillDisk(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			break
		}
	}
	for _, n := range []int{4096, 512, 1} { // the last partial pages too
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	return path
}

// checkDiskFullAnswer checks the first refused write: 507, code
// disk_full, naming the cause.
func checkDiskFullAnswer(t *testing.T, err error) {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("answer on a full disk: %v, want an API error", err)
	}
	if e := ae.Body; ae.Status != http.StatusInsufficientStorage || e.Code != cluster.CodeDiskFull || !strings.Contains(e.Error, "no space left on device") {
		t.Fatalf("answer on a full disk: %d %+v; want 507 disk_full naming ENOSPC", ae.Status, e)
	}
}

// routerAdder adds routers through an agent's API, each name at an
// address of its own (the fsm refuses two routers at one address).
type routerAdder struct {
	a     *clusterAgent
	ports map[string]int
}

// add adds router name through the operator's typed client.
func (r *routerAdder) add(name string) error {
	port, ok := r.ports[name]
	if !ok {
		port = 10000 + len(r.ports)
		r.ports[name] = port
	}
	_, err := r.a.api().AddRouter(context.Background(), cluster.RouterInfo{Name: name, Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	return err
}

// checkRouters checks with a consistent read that every name in want is
// a router.
func checkRouters(t *testing.T, a *clusterAgent, want []string) {
	t.Helper()
	var list cluster.RouterList
	eventually.True(t, 20*time.Second, "a consistent read of the routers", func() bool {
		return httpGetJSON(agentURL(a.httpAddr, "/v1/routers?consistent=1"), &list) == nil
	})
	var have []string
	for _, r := range list.Routers {
		have = append(have, r.Name)
	}
	for _, name := range want {
		if !slices.Contains(have, name) {
			t.Errorf("acknowledged router %s lost; have %d routers", name, len(have))
		}
	}
}

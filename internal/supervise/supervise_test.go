package supervise

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/eventually"
)

func shell(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	return sh
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestProc: a child's output goes to its log, its exit is reaped and
// reported, Stop escalates to SIGKILL only for a child that ignores
// SIGTERM, and Restart appends to the same log.
func TestProc(t *testing.T) {
	sh := shell(t)
	for _, tc := range []struct {
		name    string
		script  string
		env     []string
		stop    bool
		wantErr func(error) bool
		wantLog string
	}{
		{"exit code", "echo hi; exit 3", nil, false, func(err error) bool {
			var ee *exec.ExitError
			return errors.As(err, &ee) && ee.ExitCode() == 3
		}, "hi\n"},
		{"clean exit", "echo $IMH_T", []string{"IMH_T=env"}, false, func(err error) bool { return err == nil }, "env\n"},
		{"stopped by SIGTERM", "echo up; exec sleep 30", nil, true, func(err error) bool {
			return err != nil && !errors.Is(err, ErrStopTimeout)
		}, "up\n"},
		{"ignores SIGTERM, killed", "trap '' TERM; echo up; exec sleep 30", nil, true, func(err error) bool {
			return errors.Is(err, ErrStopTimeout)
		}, "up\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "c.log")
			p, err := Start(Spec{Name: "c", Path: sh, Args: []string{"-c", tc.script}, Env: tc.env, Log: log})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Kill)
			if tc.stop {
				eventually.True(t, 10*time.Second, "the child is up", func() bool { return readLog(t, log) != "" })
				err = p.Stop(300 * time.Millisecond)
			} else {
				err = p.Err()
			}
			if !tc.wantErr(err) {
				t.Errorf("exit error %v", err)
			}
			if p.Running() {
				t.Error("running after exit")
			}
			if got := readLog(t, log); got != tc.wantLog {
				t.Errorf("log %q, want %q", got, tc.wantLog)
			}
			if err := p.Restart(); err != nil {
				t.Fatal(err)
			}
			if tc.stop {
				p.Kill()
			} else {
				_ = p.Err()
			}
			if got := readLog(t, log); !strings.HasPrefix(got, tc.wantLog) || len(got) < len(tc.wantLog) {
				t.Errorf("log after restart %q, want it to start with %q", got, tc.wantLog)
			}
		})
	}
}

func TestStartFails(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"no program", Spec{Name: "x", Path: filepath.Join(dir, "missing"), Log: filepath.Join(dir, "x.log")}, "start x: "},
		{"no log dir", Spec{Name: "y", Path: "/bin/true", Log: filepath.Join(dir, "no", "y.log")}, "y log: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Start(tc.spec); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q...", err, tc.want)
			}
		})
	}
}

// TestGroupStopAll: children stop in reverse start order.
func TestGroupStopAll(t *testing.T) {
	sh := shell(t)
	dir := t.TempDir()
	order := filepath.Join(dir, "order")
	g := &Group{Path: sh, LogDir: dir, StopTimeout: 5 * time.Second}
	names := []string{"a", "b", "c"}
	for _, n := range names {
		script := "trap 'echo " + n + " >> " + order + "; exit 0' TERM; echo up; while :; do sleep 0.05; done"
		p, err := g.Start(n, "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Kill)
	}
	for _, p := range g.Procs() {
		eventually.True(t, 10*time.Second, p.Name()+" is up", func() bool { return readLog(t, p.LogPath()) != "" })
	}
	g.StopAll()
	for _, p := range g.Procs() {
		if p.Running() {
			t.Errorf("%s still running", p.Name())
		}
	}
	if got := readLog(t, order); got != "c\nb\na\n" {
		t.Errorf("stop order %q, want c, b, a", got)
	}
}

func TestWaitListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String()
	closed.Close()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		addr string
		want string
	}{
		{"listening", context.Background(), ln.Addr().String(), ""},
		{"never", context.Background(), dead, "not listening after 300ms"},
		{"cancelled", cancelled, dead, context.Canceled.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WaitListening(tc.ctx, tc.addr, 300*time.Millisecond)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

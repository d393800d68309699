//go:build integration

// Package integration runs the real imh binary as separate processes: it is
// built once by TestMain (without -race) and every test drives it through the
// helpers here (runIMH for one-shot commands, startIMH for long-running ones).
// Each helper's test file lives next to this one; this file holds only what
// all of them share.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/supervise"
)

// imhBin is the path of the imh binary TestMain built for this run.
var imhBin string

// runTimeout bounds a one-shot command so a hung CLI fails the test instead
// of stalling the whole suite.
const runTimeout = 2 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "imh-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildIMH(dir); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	if err := setupPKI(dir); err != nil {
		fmt.Fprintln(os.Stderr, "integration: test CA:", err)
		return 1
	}
	return m.Run()
}

// buildIMH builds ./cmd/imh from the module root into dir and sets imhBin.
func buildIMH(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("go env GOMOD: not inside the imh module")
	}
	bin := filepath.Join(dir, "imh")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/imh")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/imh: %w\n%s", err, out)
	}
	imhBin = bin
	return nil
}

// freePort returns a loopback port that is free for TCP and UDP and that no
// other caller in this test process has been handed (see reservePort).
// Another process may still take it before the caller binds it; the
// binaries under test take ports from flags, so tests accept that race.
func freePort(t testing.TB) int {
	t.Helper()
	return reservePort(t)
}

// Ports handed out by reservePort lie below Linux's ephemeral range
// (32768-60999), so no outgoing connection of any process can be given one
// between the check and the bind.
const (
	portRangeLow  = 20000
	portRangeSize = 12000
)

// handedOut remembers every port reservePort returned in this process:
// "listen :0, close, return" alone may give the same port to two callers
// that ask at once, and tests restart processes on their old ports.
var handedOut = struct {
	sync.Mutex
	used map[int]bool
}{used: map[int]bool{}}

// reservePort picks a random port in the range, checks that 127.0.0.1 can
// bind it for TCP and UDP (gossip uses both), and never returns it twice.
func reservePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 1000 {
		p := portRangeLow + rand.IntN(portRangeSize)
		if handedOut.used[p] || !portFree(p) {
			continue
		}
		handedOut.used[p] = true
		return p
	}
	t.Fatal("free port: none found below the ephemeral range in 1000 tries")
	return 0
}

// portFree reports whether 127.0.0.1:p can be bound for TCP and UDP.
func portFree(p int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

// runIMH runs imh to completion with the test's environment and returns its
// output and exit code. It fails the test only if the binary cannot be run.
func runIMH(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runIMHEnv(t, nil, args...)
}

// runIMHEnv is runIMH with extra "KEY=value" entries appended to the
// environment (later entries win).
func runIMHEnv(t testing.TB, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, imhBin, args...)
	cmd.Env = append(append(os.Environ(), certEnv(t, args)...), env...)
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	err := cmd.Run()
	stdout, stderr = outBuf.String(), errBuf.String()
	if ctx.Err() != nil {
		t.Fatalf("imh %s: timed out after %v\nstderr: %s", strings.Join(args, " "), runTimeout, stderr)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return stdout, stderr, 0
	case errors.As(err, &exitErr):
		return stdout, stderr, exitErr.ExitCode()
	default:
		t.Fatalf("imh %s: %v", strings.Join(args, " "), err)
		return "", "", -1
	}
}

// proc is an imh process started by startIMH, supervised as `imh demo`
// supervises its children (internal/supervise). Its stdout and stderr go
// to LogPath; it is killed (with its process group) when the test ends.
type proc struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string

	sp *supervise.Proc
}

// startIMH starts a long-running imh process named name (used for its log
// file and in failure output) with the test's environment.
func startIMH(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	return startIMHEnv(t, name, nil, args...)
}

// startIMHEnv is startIMH with extra "KEY=value" environment entries.
func startIMHEnv(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	// In its own process group (supervise does that), so cleanup also
	// reaches anything it spawned.
	sp, err := supervise.Start(supervise.Spec{Name: name, Path: imhBin, Args: args,
		Env: append(append(os.Environ(), certEnv(t, args)...), env...), Log: logPath})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{Name: name, Cmd: sp.Cmd(), LogPath: logPath, sp: sp}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s (pid %d) log tail, %s:\n%s", name, p.Pid(), logPath, p.LogTail(40))
		}
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		p.Kill()
	})
	return p
}

// Pid is the process id.
func (p *proc) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig to the process (not its group).
func (p *proc) Signal(sig os.Signal) error {
	if err := p.Cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s (pid %d): %w", p.Name, p.Pid(), err)
	}
	return nil
}

// Kill sends SIGKILL and waits until the process is reaped.
func (p *proc) Kill() { p.sp.Kill() }

// Stop sends SIGTERM and waits up to 10 s for the process to exit; it
// returns the exit error (nil for exit code 0). If the process does not exit
// in time it is killed and an error says so.
func (p *proc) Stop() error {
	err := p.sp.Stop(10 * time.Second)
	if errors.Is(err, supervise.ErrStopTimeout) {
		return fmt.Errorf("stop %s (pid %d): no exit within 10s after SIGTERM, killed", p.Name, p.Pid())
	}
	return err
}

// Wait waits up to timeout for the process to exit on its own and returns its
// exit error, or an error if it is still running.
func (p *proc) Wait(timeout time.Duration) error {
	select {
	case <-p.sp.Done():
		return p.sp.Err()
	case <-time.After(timeout):
		return fmt.Errorf("%s (pid %d) still running after %v", p.Name, p.Pid(), timeout)
	}
}

// Exited reports whether the process has exited.
func (p *proc) Exited() bool { return !p.sp.Running() }

// Log returns everything the process has written so far.
func (p *proc) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", p.LogPath, err)
	}
	return string(b)
}

// LogTail returns the last n lines of the process's output.
func (p *proc) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// httpGetJSON GETs url (as the operator, for an agent's https:// API) and decodes a JSON body into v; a non-2xx status is an
// error carrying the start of the body.
func httpGetJSON(url string, v any) error {
	return httpGetJSONWith(httpClient, url, v)
}

// httpGetJSONWith is httpGetJSON through client.
func httpGetJSONWith(client *http.Client, url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("get %s: read body: %w", url, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("get %s: status %s: %.200s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("get %s: decode json: %w", url, err)
	}
	return nil
}

// agentAPIs holds agentAPI's clients, one per address and timeout: each
// keeps its own pool of connections, so a test calling an agent in a loop
// reuses them.
var agentAPIs sync.Map // agentAPIKey -> *client.Client

type agentAPIKey struct {
	addr    string
	timeout time.Duration
}

// agentAPI is the typed client (cluster/client, what the CLI uses) of the
// agent API at addr, as the operator: httpClient's certificate, or plain
// HTTP on plaintext runs. Each call is bounded by timeout. Tests make
// normal operator calls through it; the attack tests, which send raw and
// malformed requests on purpose, build theirs by hand.
func agentAPI(addr string, timeout time.Duration) *client.Client {
	key := agentAPIKey{addr, timeout}
	if c, ok := agentAPIs.Load(key); ok {
		return c.(*client.Client)
	}
	cfg := client.Config{Addr: addr, Timeout: timeout}
	if tr, ok := httpClient.Transport.(*http.Transport); ok {
		cfg.TLS = tr.TLSClientConfig
	}
	c, err := client.New(cfg)
	if err != nil {
		panic(err) // addresses come from freePort: a bad one is a bug of the test
	}
	stored, _ := agentAPIs.LoadOrStore(key, c)
	return stored.(*client.Client)
}

// httpGetText GETs url as httpGetJSON does and returns the body.
func httpGetText(url string) (string, error) {
	return httpGetTextWith(httpClient, url)
}

// httpGetTextWith is httpGetText through client.
func httpGetTextWith(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", fmt.Errorf("get %s: read body: %w", url, err)
	}
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("get %s: status %s: %.200s", url, resp.Status, body)
	}
	return string(body), nil
}

// TestHelp checks that the built binary runs and prints its usage, so the
// package always has at least one test.
func TestHelp(t *testing.T) {
	stdout, stderr, code := runIMH(t, "--help")
	if code != 0 {
		t.Fatalf("imh --help: exit %d, stderr: %s", code, stderr)
	}
	if strings.TrimSpace(stdout) == "" {
		t.Fatal("imh --help: empty stdout")
	}
}

// TestProcHelpers runs a short-lived imh through startIMH to check that the
// process helpers capture output and report the exit.
func TestProcHelpers(t *testing.T) {
	p := startIMH(t, "help", "--help")
	if err := p.Wait(30 * time.Second); err != nil {
		t.Fatalf("imh --help as a process: %v", err)
	}
	if strings.TrimSpace(p.Log()) == "" {
		t.Fatal("imh --help as a process: empty log")
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop after exit: %v", err)
	}
}

// TestWaitForHTTP checks freePort, waitFor and httpGetJSON against a local
// server that answers 503 to its first requests, then JSON, and 404 on
// other paths.
func TestWaitForHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var calls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) <= 3 {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"leader": "a1", "term": 3}`)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	var st struct {
		Leader string `json:"leader"`
		Term   int    `json:"term"`
	}
	eventually.True(t, 10*time.Second, "status endpoint", func() bool {
		return httpGetJSON(srv.URL+"/status", &st) == nil
	})
	if st.Leader != "a1" || st.Term != 3 || calls.Load() != 4 {
		t.Errorf("decoded %+v after %d calls, want a1/3 after 4", st, calls.Load())
	}
	if err := httpGetJSON(srv.URL+"/missing", &st); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404 page: got error %v, want one naming the status", err)
	}
}

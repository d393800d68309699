// Package i2pdtest is a harness for tests that need a real stock i2pd: it
// finds the Debian i2pd 2.45.1 binary (skipping the test when it is absent,
// failing it when IMH_REQUIRE_I2PD=1) and runs one router on loopback as
// /work/shared/TESTNET.md ("One router on loopback") describes: private
// network id 77, a reseed URL that cannot answer, every service off except
// the web console and I2CP, all on 127.0.0.1 with free ports and a datadir in
// t.TempDir(). Server tunnels make i2pd write (or load) private key files, and
// the console tells which b32 each tunnel has, which is what interop tests
// compare against.
package i2pdtest

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// WantVersion is the i2pd release the project is written and measured
// against; TESTNET.md explains which of its quirks the tests rely on.
const WantVersion = "2.45.1"

// RequireEnv is the environment variable that turns a missing i2pd from a
// skip into a failure (CI sets it to 1).
const RequireEnv = "IMH_REQUIRE_I2PD"

// debianPath is where the Debian package installs i2pd; /usr/sbin is often
// not on a non-root user's PATH.
const debianPath = "/usr/sbin/i2pd"

// Timeouts, about 5x what was measured on a 2-core machine.
const (
	startTimeout = 30 * time.Second // console up and tunnels listed: measured well under 1 s
	stopTimeout  = 10 * time.Second // SIGTERM exit: measured about 2 s
	pollInterval = 100 * time.Millisecond
)

// Lookup returns the path of the i2pd binary. Without one it skips the test,
// or fails it when IMH_REQUIRE_I2PD=1. If dpkg knows the i2pd package, its
// version must start with WantVersion, else the test fails: other releases
// behave differently in ways the tests depend on.
func Lookup(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("i2pd")
	if err != nil {
		if _, serr := os.Stat(debianPath); serr == nil {
			path, err = debianPath, nil
		}
	}
	if err != nil {
		msg := "i2pd not found (install it with scripts/install-test-deps as root, or run make test as root)"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s=1 but %s", RequireEnv, msg)
		}
		t.Skip(msg)
	}
	if err := checkVersion(); err != nil {
		t.Fatalf("i2pd at %s: %v", path, err)
	}
	return path
}

// checkVersion asks dpkg for the installed i2pd version; when dpkg is absent
// or does not know the package (a hand-built i2pd), there is nothing to check.
func checkVersion() error {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return nil
	}
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "i2pd").Output()
	if err != nil {
		return nil
	}
	v := strings.TrimSpace(string(out))
	if v == "" {
		return nil // known to dpkg but not installed
	}
	if !strings.HasPrefix(v, WantVersion) {
		return fmt.Errorf("package version %q, tests need i2pd %s (Debian 12)", v, WantVersion)
	}
	return nil
}

// Options describe the router to start.
type Options struct {
	// ServerTunnels become `type = server` entries in tunnels.conf; each
	// makes i2pd create (or load) NAME.dat in the datadir.
	ServerTunnels []ServerTunnel
}

// ServerTunnel is one server tunnel. Its target (host 127.0.0.1, a free
// port) need not listen: tests use the tunnel for its keys and b32.
type ServerTunnel struct {
	// Name is the tunnel's section name; its key file is Name+".dat".
	Name string
	// SigType is written as `signaturetype`: the I2P signing type i2pd
	// uses when it creates the key file (7 Ed25519, 3 ECDSA-P521,
	// 11 RedDSA; 0 is DSA-SHA1, as in I2P).
	SigType int
	// KeysFile, if set, is an existing private key file copied in as
	// Name+".dat", so that i2pd loads it instead of creating one.
	KeysFile string
}

// Router is one running i2pd.
type Router struct {
	// Dir is the datadir (also holds i2pd.conf, tunnels.conf and i2pd.log).
	Dir string
	// I2CPAddr and HTTPAddr are host:port of the I2CP server and the web console.
	I2CPAddr string
	HTTPAddr string
	// Cmd is the running process.
	Cmd *exec.Cmd

	done    chan struct{} // closed once the process is reaped
	waitErr error         // valid after done is closed
}

// Start starts one router as described in the package doc and stops it at
// test cleanup (SIGTERM, then SIGKILL after 10 s). On test failure the tail
// of its log is printed. It does not wait for anything; see WaitI2CP and
// TunnelB32.
func Start(t testing.TB, opts Options) *Router {
	t.Helper()
	bin := Lookup(t)
	dir := t.TempDir()
	r := &Router{
		Dir:      dir,
		I2CPAddr: loopback(freePort(t)),
		HTTPAddr: loopback(freePort(t)),
		done:     make(chan struct{}),
	}
	tunnelPorts := make([]int, len(opts.ServerTunnels))
	for i := range tunnelPorts {
		tunnelPorts[i] = freePort(t)
	}
	if err := r.writeConfig(freePort(t), tunnelPorts, opts); err != nil {
		t.Fatalf("i2pdtest: %v", err)
	}
	if err := r.copyKeys(opts); err != nil {
		t.Fatalf("i2pdtest: %v", err)
	}
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatalf("i2pdtest: %v", err)
	}
	r.Cmd = exec.Command(bin, "--datadir="+dir, "--conf="+filepath.Join(dir, "i2pd.conf"))
	r.Cmd.Stdout, r.Cmd.Stderr = out, out
	if err := r.Cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("i2pdtest: start %s: %v", bin, err)
	}
	go func() {
		r.waitErr = r.Cmd.Wait()
		out.Close()
		close(r.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("i2pd (pid %d) log tail, %s:\n%s", r.Cmd.Process.Pid, r.LogPath(), tail(r.LogPath(), 30))
		}
		if err := r.Stop(); err != nil {
			t.Errorf("i2pdtest: %v", err)
		}
	})
	return r
}

// LogPath is the router's log file.
func (r *Router) LogPath() string { return filepath.Join(r.Dir, "i2pd.log") }

// KeyFile is the path of the private key file of the server tunnel name.
func (r *Router) KeyFile(name string) string { return filepath.Join(r.Dir, name+".dat") }

// Stop sends SIGTERM and waits up to 10 s, then kills. It is safe to call
// more than once; Start's cleanup calls it too.
func (r *Router) Stop() error {
	select {
	case <-r.done:
		return nil
	default:
	}
	_ = r.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
		return nil
	case <-time.After(stopTimeout):
		_ = r.Cmd.Process.Kill()
		<-r.done
		return fmt.Errorf("i2pd pid %d: no exit within %v of SIGTERM, killed", r.Cmd.Process.Pid, stopTimeout)
	}
}

// Exited reports whether the i2pd process has ended (it should not, until
// Stop).
func (r *Router) Exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// WaitI2CP waits until the I2CP port accepts connections.
func (r *Router) WaitI2CP(t testing.TB) {
	t.Helper()
	r.poll(t, "I2CP on "+r.I2CPAddr, func() (bool, error) {
		c, err := net.DialTimeout("tcp", r.I2CPAddr, time.Second)
		if err != nil {
			return false, nil
		}
		c.Close()
		return true, nil
	})
}

// TunnelB32 waits until the console lists the server tunnel name and
// returns its address, "<52 chars>.b32.i2p".
func (r *Router) TunnelB32(t testing.TB, name string) string {
	t.Helper()
	var b32 string
	r.poll(t, "tunnel "+name+" on the console", func() (bool, error) {
		tunnels, err := r.Tunnels()
		if err != nil {
			return false, nil // console not up yet
		}
		b32 = tunnels[name]
		return b32 != "", nil
	})
	return b32
}

// tunnelRE matches a tunnel entry of 2.45.1's /?page=i2p_tunnels:
//
//	<a href="/?page=local_destination&b32=B32">NAME</a> &#8658; B32.b32.i2p:PORT
var tunnelRE = regexp.MustCompile(`<a href="/\?page=local_destination&(?:amp;)?b32=([a-z2-7]{52})">([^<]*)</a>`)

// Tunnels reads the console's I2P tunnels page once and returns tunnel name
// to "<b32>.b32.i2p" (client and server tunnels alike).
func (r *Router) Tunnels() (map[string]string, error) {
	page, err := r.Console("i2p_tunnels")
	if err != nil {
		return nil, err
	}
	return parseTunnels(page), nil
}

// parseTunnels extracts tunnel name -> "<b32>.b32.i2p" from the HTML of the
// console's I2P tunnels page.
func parseTunnels(page string) map[string]string {
	m := make(map[string]string)
	for _, sub := range tunnelRE.FindAllStringSubmatch(page, -1) {
		m[html.UnescapeString(sub[2])] = sub[1] + ".b32.i2p"
	}
	return m
}

var consoleClient = &http.Client{Timeout: 5 * time.Second}

// Console fetches the web console page /?page=PAGE and returns its HTML.
func (r *Router) Console(page string) (string, error) {
	url := "http://" + r.HTTPAddr + "/?page=" + page
	resp, err := consoleClient.Get(url)
	if err != nil {
		return "", fmt.Errorf("console %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("console %s: read: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("console %s: status %s", url, resp.Status)
	}
	return string(body), nil
}

// errExited is reported when i2pd ends while a test waits for it.
var errExited = errors.New("i2pd exited")

// poll calls cond until it reports true, fails fast if i2pd exits, and fails
// the test after startTimeout.
func (r *Router) poll(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("i2pdtest: waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if r.Exited() {
			t.Fatalf("i2pdtest: waiting for %s: %v (%v)", what, errExited, r.waitErr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("i2pdtest: timed out after %v waiting for %s", startTimeout, what)
		}
		time.Sleep(pollInterval)
	}
}

func (r *Router) copyKeys(opts Options) error {
	for _, st := range opts.ServerTunnels {
		if st.KeysFile == "" {
			continue
		}
		b, err := os.ReadFile(st.KeysFile)
		if err != nil {
			return fmt.Errorf("keys for tunnel %s: %w", st.Name, err)
		}
		if err := os.WriteFile(r.KeyFile(st.Name), b, 0o600); err != nil {
			return fmt.Errorf("keys for tunnel %s: %w", st.Name, err)
		}
	}
	return nil
}

// writeConfig writes i2pd.conf and tunnels.conf; ntcpPort is the router's
// own (unpublished) transport port, tunnelPorts the server tunnels' targets.
func (r *Router) writeConfig(ntcpPort int, tunnelPorts []int, opts Options) error {
	if err := os.Mkdir(filepath.Join(r.Dir, "tunnels.d"), 0o755); err != nil {
		return fmt.Errorf("tunnels.d: %w", err)
	}
	_, httpPort, _ := net.SplitHostPort(r.HTTPAddr)
	_, i2cpPort, _ := net.SplitHostPort(r.I2CPAddr)
	conf := fmt.Sprintf(confTemplate, r.Dir, r.Dir, r.Dir, r.Dir, ntcpPort, httpPort, i2cpPort)
	if err := os.WriteFile(filepath.Join(r.Dir, "i2pd.conf"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("i2pd.conf: %w", err)
	}
	var tc strings.Builder
	seen := make(map[string]bool)
	for i, st := range opts.ServerTunnels {
		if st.Name == "" || strings.ContainsAny(st.Name, "[]/\\\n") || seen[st.Name] {
			return fmt.Errorf("tunnels.conf: bad or duplicate tunnel name %q", st.Name)
		}
		seen[st.Name] = true
		fmt.Fprintf(&tc, "[%s]\ntype = server\nhost = 127.0.0.1\nport = %d\nkeys = %s.dat\nsignaturetype = %d\n\n",
			st.Name, tunnelPorts[i], st.Name, st.SigType)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "tunnels.conf"), []byte(tc.String()), 0o644); err != nil {
		return fmt.Errorf("tunnels.conf: %w", err)
	}
	return nil
}

// confTemplate is TESTNET.md's single loopback router. Arguments: datadir
// (log, pid, tunconf, tunnelsdir), NTCP2 port, console port, I2CP port.
const confTemplate = `log = file
logfile = %s/i2pd.log
loglevel = info
pidfile = %s/i2pd.pid
tunconf = %s/tunnels.conf
tunnelsdir = %s/tunnels.d
netid = 77
ipv4 = true
ipv6 = false
nat = false
host = 127.0.0.1
address4 = 127.0.0.1
port = %d

[ntcp2]
enabled = true
published = false

[ssu2]
enabled = false

[http]
enabled = true
address = 127.0.0.1
port = %s

[i2cp]
enabled = true
address = 127.0.0.1
port = %s

[httpproxy]
enabled = false

[socksproxy]
enabled = false

[sam]
enabled = false

[bob]
enabled = false

[i2pcontrol]
enabled = false

[upnp]
enabled = false

[nettime]
enabled = false

[reseed]
verify = false
threshold = 0
urls = https://127.0.0.1:9/
yggurls = http://127.0.0.1:9/

[addressbook]
enabled = false
`

func loopback(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("i2pdtest: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

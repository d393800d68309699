package i2pdnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/imh-project/imh/i2p"
)

// WantVersion is the i2pd release the recipe is measured on; its quirks
// (198.18.0.0/15 not reserved, LeaseSet2 handling) are what the network and
// the tests rely on.
const WantVersion = "2.45.1"

// Fixed ports: each router has an address of its own inside the namespace,
// so they never collide.
const (
	NTCP2Port   = 12345
	ConsolePort = 7070
	I2CPPort    = 7654
)

// Timeouts, about 5x what TESTNET.md measured on 2 cores.
const (
	keysTimeout  = 30 * time.Second // router.info after the first start: < 1 s
	stopGrace    = 5 * time.Second  // SIGTERM exit: about 2 s
	killWait     = 5 * time.Second  // after SIGKILL
	closeTimeout = 60 * time.Second // whole teardown
	pollInterval = 100 * time.Millisecond
)

// Sentinel errors callers (tests deciding between skip and fail) test for.
var (
	ErrNotRoot           = errors.New("i2pdnet: needs root (network namespaces)")
	ErrMissingDependency = errors.New("i2pdnet: missing dependency")
	ErrWrongVersion      = errors.New("i2pdnet: wrong i2pd version")
	ErrNotIsolated       = errors.New("i2pdnet: namespace is not isolated")
	ErrOutsideNetwork    = errors.New("i2pdnet: address outside the test network")
	ErrClosed            = errors.New("i2pdnet: network closed")
	ErrRouterExited      = errors.New("i2pdnet: i2pd exited")
)

// Options describe the network to build.
type Options struct {
	// Routers is the number of routers, 198.18.0.1..Routers (default 5).
	Routers int
	// Floodfills is how many of the first routers are floodfills (default
	// 2). I2CP clients belong on the others: a 2.45.1 floodfill cannot
	// deliver to a LeaseSet2 it stores itself.
	Floodfills int
	// BaseDir holds the network's directory, BaseDir/<namespace>, removed
	// by Close (default os.TempDir(), where CleanupStale also looks).
	BaseDir string
	// Tunnels is extra tunnels.conf text per router index (1-based), e.g.
	// server tunnels whose LeaseSets the floodfills then store.
	Tunnels map[int]string
	// Files are written into router i's datadir (1-based) before its first
	// start, name to content: e.g. the private key file of a server tunnel,
	// so that a test knows the tunnel's b32 in advance. Names must be plain
	// file names.
	Files map[int]map[string][]byte
	// NoTransit lists routers (1-based) that refuse to be a hop of anyone
	// else's tunnels (i2pd's notransit). In a five-router network every
	// router is a hop of about a quarter of all tunnels, so killing one
	// breaks the others' tunnels too, which on a network of thousands of
	// routers almost never happens: a test that kills a service's router
	// makes it a NoTransit router to measure the service, not that.
	NoTransit []int
	// Log receives progress messages (default: discarded).
	Log *slog.Logger
	// NoSignalTeardown leaves SIGINT/SIGTERM to the caller, which must then
	// Close on them itself: for an interactive wrapper whose child shell
	// gets the terminal's Ctrl-C. Tests leave it false.
	NoSignalTeardown bool
}

func (o *Options) setDefaults() {
	if o.Routers == 0 {
		o.Routers = 5
	}
	if o.Floodfills == 0 {
		o.Floodfills = 2
	}
	if o.BaseDir == "" {
		o.BaseDir = os.TempDir()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports options no network can be built from.
func (o Options) Validate() error {
	switch {
	case o.Routers < 2 || o.Routers > 254:
		return fmt.Errorf("i2pdnet: routers %d, want 2..254", o.Routers)
	case o.Floodfills < 1 || o.Floodfills > o.Routers:
		return fmt.Errorf("i2pdnet: floodfills %d, want 1..%d", o.Floodfills, o.Routers)
	}
	for i := range o.Tunnels {
		if i < 1 || i > o.Routers {
			return fmt.Errorf("i2pdnet: tunnels for router %d, want 1..%d", i, o.Routers)
		}
	}
	for _, i := range o.NoTransit {
		if i < 1 || i > o.Routers {
			return fmt.Errorf("i2pdnet: notransit router %d, want 1..%d", i, o.Routers)
		}
	}
	for i, files := range o.Files {
		if i < 1 || i > o.Routers {
			return fmt.Errorf("i2pdnet: files for router %d, want 1..%d", i, o.Routers)
		}
		for name := range files {
			if name == "" || name != filepath.Base(name) || name == "." || name == ".." ||
				name == "i2pd.conf" || name == "tunnels.conf" {
				return fmt.Errorf("i2pdnet: router %d: bad file name %q", i, name)
			}
		}
	}
	return nil
}

// Router describes one router of the network.
type Router struct {
	// Index is 1-based; the router's address is 198.18.0.Index.
	Index     int
	Addr      netip.Addr
	Floodfill bool
	// NoTransit is set when the router refuses transit tunnels.
	NoTransit bool
	// Dir is the datadir: i2pd.conf, tunnels.conf, i2pd.log, router.info.
	Dir string
	// I2CPAddr, ConsoleAddr and NTCP2Addr are ip:port inside the namespace.
	I2CPAddr    string
	ConsoleAddr string
	NTCP2Addr   string
	// Hash is the router identity hash (known after bootstrap).
	Hash i2p.Hash
}

// Name is "r<Index>", used in logs.
func (r Router) Name() string { return "r" + strconv.Itoa(r.Index) }

// LogPath is the router's i2pd log file.
func (r Router) LogPath() string { return filepath.Join(r.Dir, "i2pd.log") }

// Timings are what Start measured.
type Timings struct {
	// Namespace: create it, add addresses, verify isolation.
	Namespace time.Duration
	// Bootstrap: first start until every router.info exists, stop, seed.zip.
	Bootstrap time.Duration
	// Total: all of Start, including the second start of every router.
	Total time.Duration
	// Ready: from the end of Start until WaitReady saw tunnels through the
	// network on every router (zero until WaitReady succeeds).
	Ready time.Duration
}

// Net is a running private network. Close it when done; it is also closed
// when the process gets SIGINT or SIGTERM.
type Net struct {
	ns      string
	ipBin   string
	i2pdBin string
	dir     string
	routers []Router
	log     *slog.Logger
	timings Timings

	mu       sync.Mutex
	procs    []*proc // i2pd processes of the current start
	closed   bool
	closeErr error
	done     chan struct{} // closed when Close has finished
}

// Start builds and starts the network (see the package doc). It needs root,
// ip(8) and Debian's i2pd 2.45.1. On error everything it made is torn down.
func Start(ctx context.Context, opts Options) (*Net, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	n, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	if !opts.NoSignalTeardown {
		register(n)
	}
	if err := n.start(ctx, opts); err != nil {
		if cerr := n.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return n, nil
}

// Check reports whether Start can run here: ErrNotRoot, ErrMissingDependency
// (ip or i2pd absent: tests skip, or fail when IMH_REQUIRE_I2PD=1) or
// ErrWrongVersion (always a failure).
func Check() error {
	_, _, err := deps()
	return err
}

func deps() (ipBin, i2pdBin string, err error) {
	if os.Geteuid() != 0 {
		return "", "", ErrNotRoot
	}
	if ipBin, err = findIP(); err != nil {
		return "", "", err
	}
	if i2pdBin, err = FindI2PD(); err != nil {
		return "", "", err
	}
	return ipBin, i2pdBin, nil
}

// prepare checks the dependencies and fills in a Net that owns nothing yet.
func prepare(opts Options) (*Net, error) {
	ipBin, i2pdBin, err := deps()
	if err != nil {
		return nil, err
	}
	ns, err := newNamespaceName()
	if err != nil {
		return nil, err
	}
	n := &Net{
		ns:      ns,
		ipBin:   ipBin,
		i2pdBin: i2pdBin,
		dir:     filepath.Join(opts.BaseDir, ns),
		log:     opts.Log.With("component", "i2pdnet", "netns", ns),
		done:    make(chan struct{}),
	}
	for i := 1; i <= opts.Routers; i++ {
		addr := netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})
		n.routers = append(n.routers, Router{
			Index:       i,
			Addr:        addr,
			Floodfill:   i <= opts.Floodfills,
			NoTransit:   slices.Contains(opts.NoTransit, i),
			Dir:         filepath.Join(n.dir, "r"+strconv.Itoa(i)),
			I2CPAddr:    netip.AddrPortFrom(addr, I2CPPort).String(),
			ConsoleAddr: netip.AddrPortFrom(addr, ConsolePort).String(),
			NTCP2Addr:   netip.AddrPortFrom(addr, NTCP2Port).String(),
		})
	}
	return n, nil
}

// FindI2PD returns the i2pd binary after checking with dpkg that the
// installed package is WantVersion: ErrMissingDependency if there is none,
// ErrWrongVersion if it is another release (or dpkg cannot tell).
func FindI2PD() (string, error) {
	bin, err := exec.LookPath("i2pd")
	if err != nil {
		bin = "/usr/sbin/i2pd"
		if _, serr := os.Stat(bin); serr != nil {
			return "", fmt.Errorf("%w: i2pd not found (apt-get install i2pd)", ErrMissingDependency)
		}
	}
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "i2pd").Output()
	if err != nil {
		return "", fmt.Errorf("%w: dpkg-query -W i2pd: %w (need Debian's i2pd %s)", ErrWrongVersion, err, WantVersion)
	}
	v := strings.TrimSpace(string(out))
	if v != WantVersion && !strings.HasPrefix(v, WantVersion+"-") {
		return "", fmt.Errorf("%w: package version %q, the test network needs i2pd %s", ErrWrongVersion, v, WantVersion)
	}
	return bin, nil
}

// start does the work of Start on a registered Net.
func (n *Net) start(ctx context.Context, opts Options) error {
	t0 := time.Now()
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return fmt.Errorf("network dir: %w", err)
	}
	addrs := make([]netip.Addr, len(n.routers))
	for i, r := range n.routers {
		addrs[i] = r.Addr
	}
	if err := createNamespace(ctx, n.ipBin, n.ns, addrs); err != nil {
		return err
	}
	if n.isClosed() {
		// Closed (signal) while the namespace was being made: Close may
		// have missed it.
		_ = deleteNamespace(context.Background(), n.ipBin, n.ns)
		return ErrClosed
	}
	if err := verifyIsolated(ctx, n.ipBin, n.ns); err != nil {
		return err
	}
	n.timings.Namespace = time.Since(t0)
	n.log.Info("namespace ready", "routers", len(n.routers), "took", n.timings.Namespace)

	for _, r := range n.routers {
		if err := writeRouterFiles(r, n.seedPath(), opts.Tunnels[r.Index], opts.Files[r.Index]); err != nil {
			return err
		}
	}
	t1 := time.Now()
	if err := n.bootstrap(ctx); err != nil {
		return err
	}
	n.timings.Bootstrap = time.Since(t1)
	n.log.Info("seed written", "took", n.timings.Bootstrap)
	if err := n.startAll(); err != nil {
		return err
	}
	n.mu.Lock()
	n.timings.Total = time.Since(t0)
	n.mu.Unlock()
	n.log.Info("routers started", "took", time.Since(t0))
	return nil
}

// bootstrap starts every router once, waits for its router.info, stops it,
// and writes seed.zip from all router.info files.
func (n *Net) bootstrap(ctx context.Context) error {
	if err := n.startAll(); err != nil {
		return err
	}
	deadline := time.Now().Add(keysTimeout)
	// Each router.info as it was complete before the stop: i2pd rewrites
	// the file when it stops, and one killed (or caught) in the middle of
	// that leaves it empty or short.
	before := make([][]byte, len(n.routers))
	for i, r := range n.routers {
		path := filepath.Join(r.Dir, "router.info")
		if err := n.waitFile(ctx, r, path, deadline); err != nil {
			return err
		}
		for {
			b, err := os.ReadFile(path)
			if _, herr := RouterInfoHash(b); err == nil && herr == nil {
				before[i] = b
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: router.info incomplete after %v", r.Name(), keysTimeout)
			}
			if err := sleepCtx(ctx, pollInterval); err != nil {
				return fmt.Errorf("%s: waiting for router.info: %w", r.Name(), err)
			}
		}
	}
	if err := n.stopAll(); err != nil {
		// router.info was complete before the stop; a kill costs nothing.
		n.log.Warn("bootstrap stop", "err", err)
	}
	var infos [][]byte
	for i := range n.routers {
		r := &n.routers[i]
		b := before[i]
		h, err := RouterInfoHash(b)
		if err != nil {
			return fmt.Errorf("%s: router.info: %w", r.Name(), err)
		}
		path := filepath.Join(r.Dir, "router.info")
		if after, err := os.ReadFile(path); err == nil {
			if ha, herr := RouterInfoHash(after); herr == nil && ha == h {
				b = after // the newest complete one
			} else {
				n.log.Warn("router.info damaged by the stop; restoring the copy made before", "router", r.Name(), "err", herr)
				if err := os.WriteFile(path, b, 0o644); err != nil {
					return fmt.Errorf("%s: %w", r.Name(), err)
				}
			}
		}
		r.Hash = h
		infos = append(infos, b)
	}
	return WriteSeedZip(n.seedPath(), infos)
}

// waitFile polls until path exists and is not empty, failing early if the
// router's process ends.
func (n *Net) waitFile(ctx context.Context, r Router, path string, deadline time.Time) error {
	p := n.proc(r.Index)
	for {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s: waiting for %s: %w (%v); log tail:\n%s", r.Name(), filepath.Base(path), ErrRouterExited, p.waitErr, tail(r.LogPath(), 20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %s after %v", r.Name(), filepath.Base(path), keysTimeout)
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return fmt.Errorf("%s: waiting for %s: %w", r.Name(), filepath.Base(path), err)
		}
	}
}

func (n *Net) seedPath() string { return filepath.Join(n.dir, "seed.zip") }

func (n *Net) nsPath() string { return filepath.Join(netnsDir, n.ns) }

// Namespace is the network namespace's name.
func (n *Net) Namespace() string { return n.ns }

// Dir is the network's directory (router datadirs, seed.zip); Close
// removes it.
func (n *Net) Dir() string { return n.dir }

// Timings returns what Start measured.
func (n *Net) Timings() Timings {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.timings
}

// Routers returns every router, index 1 first.
func (n *Net) Routers() []Router { return append([]Router(nil), n.routers...) }

// Router returns router i, 1-based (198.18.0.i). It panics if there is no
// router i, like an index out of range.
func (n *Net) Router(i int) Router {
	if i < 1 || i > len(n.routers) {
		panic(fmt.Sprintf("i2pdnet: no router %d (have 1..%d)", i, len(n.routers)))
	}
	return n.routers[i-1]
}

// Floodfills returns the floodfill routers.
func (n *Net) Floodfills() []Router {
	var ff []Router
	for _, r := range n.routers {
		if r.Floodfill {
			ff = append(ff, r)
		}
	}
	return ff
}

// Exec builds a command that runs name with args inside the namespace
// (`ip netns exec NS name args...`; ip execs name, so the Cmd's pid is
// name's). It is in a process group of its own, so a terminal's SIGINT
// reaches only the test, which then tears down; Close kills it if it still
// runs.
func (n *Net) Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, n.ipBin, append([]string{"netns", "exec", n.ns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = stopGrace
	return cmd
}

// PIDs lists the processes running inside the namespace now.
func (n *Net) PIDs(ctx context.Context) ([]int, error) {
	return namespacePIDs(ctx, n.ipBin, n.ns)
}

func (n *Net) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// Close stops every process in the namespace (SIGTERM, SIGKILL after 5 s),
// deletes the namespace and removes the network's directory. It may be
// called any number of times, from any goroutine; all calls return the
// first teardown's result once it is complete.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		<-n.done
		return n.closeErr
	}
	n.closed = true
	procs := n.procs
	n.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	t0 := time.Now()
	var errs []error
	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	if namespaceExists(n.ns) {
		if err := killNamespace(ctx, n.ipBin, n.ns, stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	// Our own children (normally gone with the namespace's processes).
	for _, p := range procs {
		if err := p.stop(stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	if err := deleteNamespace(ctx, n.ipBin, n.ns); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(n.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", n.dir, err))
	}
	unregister(n)
	n.closeErr = errors.Join(errs...)
	n.log.Info("network closed", "took", time.Since(t0), "err", n.closeErr)
	close(n.done)
	return n.closeErr
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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

// LogTail returns the last lines lines of router i's i2pd log, for failure
// output (read it before Close, which removes the files).
func (n *Net) LogTail(i, lines int) string { return tail(n.Router(i).LogPath(), lines) }

// Package demo is the engine of `imh demo` (and so of `make run`): a whole
// imh deployment on loopback, from nothing to a 12-lease LeaseSet, for a
// first look and for trying failures by hand.
//
// It plans the ports, makes a throwaway CA and the certificates of every
// child, starts the simulated network, 4 routers with their frontends and 3
// agents as child processes of the imh binary (internal/supervise), adds
// the routers, creates a destination and waits for its LeaseSet, serves a
// web page through a second destination, optionally kills the leader to
// show the takeover, and then prints a live status line until its context
// ends. It is a package of its own, not part of cmd/imh, so that the
// command stays flags and wiring; what the engine needs from the CLI (its
// API client with the CLI's error wording, its status table) comes in
// through Config.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/pki"
	"github.com/imh-project/imh/internal/progress"
	"github.com/imh-project/imh/internal/status"
	"github.com/imh-project/imh/internal/supervise"
)

// Demo layout: everything on loopback, ports counted from --base-port.
const (
	demoRouters      = 4
	demoAgents       = 3
	demoInbound      = 3
	demoDest         = "web"
	demoReadyTimeout = 90 * time.Second
	demoStopTimeout  = 10 * time.Second
	demoOperator     = "operator" // the client certificate printed for the operator's CLI
)

// DefaultBasePort is the first port of the demo's span unless told
// otherwise; PortSpan is how many ports from the base it uses.
const (
	DefaultBasePort = 7800
	PortSpan        = 40
)

// Config is one demo run.
type Config struct {
	Out        io.Writer // where the demo tells what it does
	Exe        string    // the imh binary the children run
	BasePort   int       // the first of the PortSpan loopback ports used
	KillLeader bool      // SIGKILL the leader once the LeaseSet is up, and show the takeover

	// Dial returns the operator's API client of the agent at addr,
	// presenting the certificate in files (the CLI's, so that the demo
	// reaches agents exactly as `imh status` would). The demo dials each
	// agent once and keeps the client.
	Dial func(addr string, files pki.Files) (*client.Client, error)
	// CallErr words the error of an API call as the CLI does; nil leaves
	// the client's errors as they are.
	CallErr func(error) error
}

type demo struct {
	cfg    Config
	out    io.Writer
	exe    string
	dir    string
	base   int
	procs  *supervise.Group
	agents []*supervise.Proc
	apis   []string // agent HTTP addresses, by agent index

	mu      sync.Mutex
	clients map[string]*client.Client // by agent address; see api
}

func (d *demo) port(off int) string { return "127.0.0.1:" + strconv.Itoa(d.base+off) }

// Port layout (offsets from the base): simnet 0 (http 1); router i (1..4)
// 10+i (http 20+i); agent i (1..3) raft 27+3i, gossip 28+3i, http 29+3i.
func (d *demo) simnetAddr() string      { return d.port(0) }
func (d *demo) routerAddr(i int) string { return d.port(10 + i) }
func (d *demo) routerHTTP(i int) string { return d.port(20 + i) }

// The frontend beside router i (multi-client mode).
func (d *demo) frontendName(i int) string { return "f" + strconv.Itoa(i) }
func (d *demo) frontendAddr(i int) string { return d.port(1 + i) }
func (d *demo) frontendHTTP(i int) string { return d.port(5 + i) }
func (d *demo) agentPorts(i int) [3]string {
	return [3]string{d.port(27 + 3*i), d.port(28 + 3*i), d.port(29 + 3*i)}
}
func (d *demo) agentDir(i int) string { return filepath.Join(d.dir, "agent"+strconv.Itoa(i)) }
func (d *demo) tlsDir() string        { return filepath.Join(d.dir, "tls") }

// tlsArgs are the TLS flags of the child (or operator) named name.
func (d *demo) tlsArgs(name string) []string {
	f := d.tlsFiles(name)
	return []string{"--ca-file", f.CA, "--cert-file", f.Cert, "--key-file", f.Key}
}

func (d *demo) tlsFiles(name string) pki.Files {
	return pki.Files{CA: filepath.Join(d.tlsDir(), pki.CAFile), Cert: filepath.Join(d.tlsDir(), name+".pem"),
		Key: filepath.Join(d.tlsDir(), name+"-key.pem")}
}

// api is the operator's API client of the agent at addr. It is built once
// per agent: the status line polls every second, and a client per poll
// would re-read the TLS files and leave a transport's idle connections
// behind each time.
func (d *demo) api(addr string) (*client.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.clients[addr]; c != nil {
		return c, nil
	}
	c, err := d.cfg.Dial(addr, d.tlsFiles(demoOperator))
	if err != nil {
		return nil, err // not kept: the next call tries again
	}
	if d.clients == nil {
		d.clients = map[string]*client.Client{}
	}
	d.clients[addr] = c
	return c, nil
}

// call runs f with the client of the agent at addr, its error worded as
// the CLI words it.
func call[T any](d *demo, addr string, f func(*client.Client) (T, error)) (T, error) {
	c, err := d.api(addr)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f(c)
	if d.cfg.CallErr != nil {
		err = d.cfg.CallErr(err)
	}
	return v, err
}

// makePKI creates the demo's throwaway CA and one certificate per child
// and for the operator.
func (d *demo) makePKI() error {
	if err := os.MkdirAll(d.tlsDir(), 0o700); err != nil {
		return err
	}
	now := time.Now()
	if err := pki.CreateCA(d.tlsDir(), now); err != nil {
		return err
	}
	reqs := []pki.LeafRequest{{Role: pki.RoleClient, Name: demoOperator}}
	for i := 1; i <= demoAgents; i++ {
		reqs = append(reqs, pki.LeafRequest{Role: pki.RoleAgent, Name: d.agentName(i)})
	}
	for i := 1; i <= demoRouters; i++ {
		reqs = append(reqs, pki.LeafRequest{Role: pki.RoleRouter, Name: "r" + strconv.Itoa(i)},
			pki.LeafRequest{Role: pki.RoleFrontend, Name: d.frontendName(i)})
	}
	for _, r := range reqs {
		if _, err := pki.IssueCert(d.tlsDir(), d.tlsDir(), r, now); err != nil {
			return err
		}
	}
	return nil
}
func (d *demo) agentName(i int) string { return "n" + strconv.Itoa(i) }
func (d *demo) agentArgs(i int) []string {
	p := d.agentPorts(i)
	args := []string{"agent", "--node-name", d.agentName(i), "--data-dir", d.agentDir(i),
		"--raft-bind", p[0], "--gossip-bind", p[1], "--http-bind", p[2],
		"--bootstrap-expect", strconv.Itoa(demoAgents), "--secret-file", filepath.Join(d.dir, "secret")}
	args = append(args, d.tlsArgs(d.agentName(i))...)
	for j := 1; j <= demoAgents; j++ {
		args = append(args, "--join", d.agentPorts(j)[1])
	}
	return args
}

// Run runs the demo until ctx ends (Ctrl-C), then stops every child and
// removes the demo's directory. An error is returned when a step fails;
// the children are stopped and the directory removed then too.
func Run(ctx context.Context, cfg Config) error {
	dir, err := os.MkdirTemp("", "imh-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	out := cfg.Out
	d := &demo{cfg: cfg, out: out, exe: cfg.Exe, dir: dir, base: cfg.BasePort, procs: &supervise.Group{
		Path: cfg.Exe, LogDir: dir, Env: demoEnv(), StopTimeout: demoStopTimeout, DieWithParent: true,
	}}
	defer func() {
		d.procs.StopAll()
		os.RemoveAll(dir)
		fmt.Fprintln(out, "\ndemo stopped, cleaned up", dir)
	}()
	if err := d.checkPorts(); err != nil {
		return err
	}
	if err := d.startAll(ctx); err != nil {
		return err
	}
	st, err := d.setUp(ctx)
	if err != nil {
		return err
	}
	if err := d.webDemo(ctx); err != nil {
		return err
	}
	if cfg.KillLeader {
		if err := d.killLeader(ctx, st); err != nil {
			return err
		}
	}
	d.live(ctx)
	return nil
}

// checkPorts fails early, with the port named, if one is taken.
func (d *demo) checkPorts() error {
	for off := 0; off < PortSpan; off++ {
		ln, err := net.Listen("tcp", d.port(off))
		if err != nil {
			return fmt.Errorf("demo: port %s is in use (choose another --base-port): %w", d.port(off), err)
		}
		ln.Close()
	}
	return nil
}

func (d *demo) startAll(ctx context.Context) error {
	secret, err := cluster.NewSecret()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "secret"), []byte(secret.Encode()+"\n"), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := d.makePKI(); err != nil {
		return fmt.Errorf("demo: throwaway CA: %w", err)
	}
	fmt.Fprintf(d.out, "imh demo: working in %s (child logs there; every link is mutual TLS from the throwaway CA in %s)\n\n", d.dir, d.tlsDir())
	fmt.Fprintf(d.out, "  simnet   %s  (status http://%s/status)\n", d.simnetAddr(), d.port(1))
	if _, err := d.start("simnet", "simnet", "serve", "--listen", d.simnetAddr(), "--http", d.port(1)); err != nil {
		return err
	}
	if err := supervise.WaitListening(ctx, d.simnetAddr(), demoReadyTimeout); err != nil {
		return fmt.Errorf("demo: simnet: %w", err)
	}
	for i := 1; i <= demoRouters; i++ {
		name := "r" + strconv.Itoa(i)
		fmt.Fprintf(d.out, "  router   %s  %s  (status http://%s/status)\n", name, d.routerAddr(i), d.routerHTTP(i))
		args := append([]string{"router", "serve", "--name", name, "--listen", d.routerAddr(i),
			"--http", d.routerHTTP(i), "--network", "simnet://" + d.simnetAddr()}, d.tlsArgs(name)...)
		if _, err := d.start(name, args...); err != nil {
			return err
		}
		fe := d.frontendName(i)
		fmt.Fprintf(d.out, "  frontend %s  %s  beside %s  (status http://%s/status)\n", fe, d.frontendAddr(i), name, d.frontendHTTP(i))
		args = append([]string{"frontend", "serve", "--name", fe, "--listen", d.frontendAddr(i),
			"--router", d.routerAddr(i), "--http", d.frontendHTTP(i)}, d.tlsArgs(fe)...)
		if _, err := d.start(fe, args...); err != nil {
			return err
		}
	}
	for i := 1; i <= demoAgents; i++ {
		p := d.agentPorts(i)
		fmt.Fprintf(d.out, "  agent    %s  raft %s  gossip %s  http %s\n", d.agentName(i), p[0], p[1], p[2])
		if err := os.MkdirAll(d.agentDir(i), 0o700); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		pr, err := d.start(d.agentName(i), d.agentArgs(i)...)
		if err != nil {
			return err
		}
		d.agents = append(d.agents, pr)
		d.apis = append(d.apis, p[2])
	}
	op := d.tlsFiles(demoOperator)
	fmt.Fprintf(d.out, "\n  operator environment (then: %s status):\n", d.exe)
	fmt.Fprintf(d.out, "    export IMH_HTTP_ADDR=%s IMH_CA_FILE=%s IMH_CERT_FILE=%s IMH_KEY_FILE=%s\n", d.apis[0], op.CA, op.Cert, op.Key)
	fmt.Fprintf(d.out, "  web console: https://%s/ui/ (any agent; the browser presents the operator certificate, see README)\n\n", d.apis[0])
	return nil
}

// start runs one child with its output in a log file.
func (d *demo) start(name string, args ...string) (*supervise.Proc, error) {
	p, err := d.procs.Start(name, args...)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return p, nil
}

// demoEnv keeps the children from picking up the user's IMH_* settings.
func demoEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IMH_") {
			env = append(env, kv)
		}
	}
	return env
}

// status asks the agents in turn (skipping dead ones) for `imh status`.
func (d *demo) status(ctx context.Context) (*status.Status, error) {
	var last error
	for i, addr := range d.apis {
		if !d.agents[i].Running() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := call(d, addr, func(c *client.Client) (*status.Status, error) { return c.Status(sctx) })
		cancel()
		if err == nil {
			return st, nil
		}
		last = err
	}
	if last == nil {
		last = errors.New("no agent running")
	}
	return nil, last
}

// waitStatus polls status until cond holds, saying on the demo's output
// what it waits for and how far the cluster is, with the elapsed time
// (the progress helper every long CLI wait shares).
func (d *demo) waitStatus(ctx context.Context, what string, cond func(*status.Status) bool) (*status.Status, error) {
	p := progress.New(d.out, what, false)
	var got *status.Status
	var exited error
	err := p.Poll(ctx, demoReadyTimeout, 200*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		st, err := d.status(ctx)
		if err == nil && cond(st) {
			got = st
			return true, "", nil
		}
		for _, proc := range d.procs.Procs() {
			if !proc.Running() && !slices.Contains(d.agents, proc) {
				exited = fmt.Errorf("demo: %s exited (%v); see %s", proc.Name(), proc.Err(), proc.LogPath())
				return true, "", nil
			}
		}
		if err != nil {
			return false, "", err
		}
		return false, demoState(st), nil
	})
	switch {
	case exited != nil:
		return nil, exited
	case err != nil:
		return nil, fmt.Errorf("demo: %w (logs in %s)", err, d.dir)
	}
	return got, nil
}

// routersUp counts the routers the leader reports up.
func routersUp(st *status.Status) int {
	up := 0
	for _, r := range st.Routers {
		if r.State == status.RouterUp {
			up++
		}
	}
	return up
}

// demoState is how far the demo's cluster is, for the progress lines.
func demoState(st *status.Status) string {
	up := routersUp(st)
	leader := st.Leader
	if leader == "" {
		leader = "none"
	}
	leases := "no destination yet"
	if ds := destOf(st); ds != nil {
		leases = fmt.Sprintf("%d leases published", ds.Leases)
	}
	return fmt.Sprintf("leader %s, %d of %d routers up, %s", leader, up, len(st.Routers), leases)
}

func destOf(st *status.Status) *status.Destination {
	for i := range st.Destinations {
		if st.Destinations[i].Name == demoDest {
			return &st.Destinations[i]
		}
	}
	return nil
}

// setUp waits for a leader, adds the routers, creates the destination and
// waits for its 12-lease LeaseSet, then prints everything.
func (d *demo) setUp(ctx context.Context) (*status.Status, error) {
	start := time.Now()
	st, err := d.waitStatus(ctx, "a leader", func(st *status.Status) bool { return st.Leader != "" })
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(d.out, "leader %s elected (term %d) %.1fs after start\n", st.Leader, st.Term, time.Since(start).Seconds())
	for i := 1; i <= demoRouters; i++ {
		in := cluster.RouterInfo{Name: "r" + strconv.Itoa(i), Addr: d.routerAddr(i)}
		if _, err := call(d, d.apis[0], func(c *client.Client) (cluster.RouterInfo, error) { return c.AddRouter(ctx, in) }); err != nil {
			return nil, fmt.Errorf("demo: router add %s: %w", in.Name, err)
		}
		fe := cluster.FrontendInfo{Name: d.frontendName(i), Addr: d.frontendAddr(i), Router: in.Name}
		if _, err := call(d, d.apis[0], func(c *client.Client) (cluster.FrontendInfo, error) { return c.AddFrontend(ctx, fe) }); err != nil {
			return nil, fmt.Errorf("demo: frontend add %s: %w", fe.Name, err)
		}
	}
	inbound := demoInbound
	req := cluster.DestinationRequest{Name: demoDest, Inbound: &inbound}
	info, err := call(d, d.apis[0], func(c *client.Client) (cluster.DestinationInfo, error) { return c.CreateDestination(ctx, req) })
	if err != nil {
		return nil, fmt.Errorf("demo: dest create %s: %w", demoDest, err)
	}
	fmt.Fprintf(d.out, "routers r1..r%d and their frontends f1..f%d added; destination %s created: %s\n", demoRouters, demoRouters, demoDest, info.B32)
	created := time.Now()
	want := demoRouters * demoInbound
	st, err = d.waitStatus(ctx, "the LeaseSet", func(st *status.Status) bool {
		ds := destOf(st)
		return ds != nil && ds.Leases == want && len(ds.LeasesByRouter) == demoRouters
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(d.out, "LeaseSet with %d leases published %.1fs after the destination was created\n\n", want, time.Since(created).Seconds())
	if err := st.WriteTable(d.out); err != nil {
		return nil, err
	}
	if err := d.printLeaseSet(ctx, st); err != nil {
		return nil, err
	}
	return st, nil
}

// printLeaseSet decodes the published LeaseSet and lists its leases with
// the router each tunnel belongs to.
func (d *demo) printLeaseSet(ctx context.Context, st *status.Status) error {
	ds := destOf(st)
	raw, err := i2p.Base64.DecodeString(ds.LeaseSet)
	if err != nil {
		return fmt.Errorf("demo: leaseset: %w", err)
	}
	ls, err := i2p.ParseLeaseSet2(raw)
	if err != nil {
		return fmt.Errorf("demo: leaseset: %w", err)
	}
	info, err := call(d, d.apis[0], func(c *client.Client) (cluster.DestinationInfo, error) { return c.Destination(ctx, demoDest) })
	if err != nil {
		return fmt.Errorf("demo: dest show: %w", err)
	}
	owner := map[string]string{}
	for _, t := range info.Tunnels {
		if t.Direction == "inbound" {
			owner[t.Gateway+"/"+strconv.FormatUint(uint64(t.ID), 10)] = t.Router
		}
	}
	verified := "signature valid"
	if err := ls.Verify(); err != nil {
		verified = "SIGNATURE INVALID: " + err.Error()
	}
	fmt.Fprintf(d.out, "\nLeaseSet of %s (%s)\n  published %d, expires %d (+%ds), %d leases, %s\n",
		demoDest, ls.Destination.B32(), ls.Published, ls.ExpiresAt(), ls.Expires, len(ls.Leases), verified)
	tw := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ROUTER\tGATEWAY\tTUNNEL\tENDS IN\tIN GATEWAY SET")
	for _, l := range ls.Leases {
		r := owner[l.Gateway.String()+"/"+strconv.FormatUint(uint64(l.TunnelID), 10)]
		in := slices.Contains(ds.GatewaySet, l.Gateway.String())
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%ds\t%t\n", r, status.ShortHex(l.Gateway.String()), l.TunnelID, int64(l.End)-time.Now().Unix(), in)
	}
	tw.Flush()
	fmt.Fprintf(d.out, "  gateway set: %d peers, policy enforced: %t\n\n", len(ds.GatewaySet), ds.GatewayPolicyEnforced)
	return nil
}

// killLeader SIGKILLs the leading agent, shows the takeover, and restarts
// the agent on its data directory.
func (d *demo) killLeader(ctx context.Context, before *status.Status) error {
	idx := -1
	for i := range d.agents {
		if d.agentName(i+1) == before.Leader {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("demo: leader %q is not one of the demo's agents", before.Leader)
	}
	p := d.agents[idx]
	ds0 := destOf(before)
	fmt.Fprintf(d.out, "killing the leader %s (SIGKILL)...\n", p.Name())
	killed := time.Now()
	p.Kill()
	if _, err := d.waitStatus(ctx, "a new leader", func(st *status.Status) bool {
		return st.Leader != "" && st.Leader != before.Leader && st.Term > before.Term
	}); err != nil {
		return err
	}
	took := time.Since(killed)
	st, err := d.waitStatus(ctx, "the new leader's live view", func(st *status.Status) bool {
		if st.Leader == "" || st.Leader == before.Leader {
			return false
		}
		for _, r := range st.Routers {
			if r.State != status.RouterUp {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	ds := destOf(st)
	same := ds.Published == ds0.Published && ds.LeaseSet == ds0.LeaseSet
	fmt.Fprintf(d.out, "%s leads (term %d) %.2fs after the kill; routers up again %.2fs after it; LeaseSet unchanged: %t (published %d)\n",
		st.Leader, st.Term, took.Seconds(), time.Since(killed).Seconds(), same, ds.Published)
	if err := p.Restart(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(d.out, "%s restarted on its data directory\n\n", p.Name())
	return nil
}

// live prints one status line a second until ctx ends (on a terminal it
// rewrites the same line; otherwise one line every 10 s).
func (d *demo) live(ctx context.Context) {
	tty := isTerminal(d.out)
	fmt.Fprintln(d.out, "live status (Ctrl-C to stop):")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		line := d.liveLine(ctx)
		switch {
		case tty:
			fmt.Fprintf(d.out, "\r\033[K%s", line)
		case n%10 == 0:
			fmt.Fprintln(d.out, line)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (d *demo) liveLine(ctx context.Context) string {
	st, err := d.status(ctx)
	if err != nil {
		return time.Now().Format(time.TimeOnly) + "  no answer: " + err.Error()
	}
	up := routersUp(st)
	leader := st.Leader
	if leader == "" {
		leader = "(none)"
	}
	line := fmt.Sprintf("%s  leader %s term %d  routers up %d/%d", time.Now().Format(time.TimeOnly), leader, st.Term, up, len(st.Routers))
	if ds := destOf(st); ds != nil {
		age := time.Now().Unix() - int64(ds.Published)
		line += fmt.Sprintf("  %s: %d leases (%s)  published %ds ago  payloads %s", ds.Name, ds.Leases, status.ByRouter(ds.LeasesByRouter), age, status.ByRouter(ds.PayloadsByRouter))
	}
	return line
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

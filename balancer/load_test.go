package balancer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/router"
	"github.com/imh-project/imh/router/simnet"
	"github.com/imh-project/imh/routerproto"
)

// pipeListener is an in-memory net.Listener: Dial hands it one end of a
// net.Pipe. Inside a synctest bubble the whole conversation runs on the
// fake clock.
type pipeListener struct {
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

var errListenerClosed = errors.New("pipe listener closed")

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errListenerClosed
	}
}

func (l *pipeListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, errListenerClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// loadResult is one run of the floodfill-load experiment.
type loadResult struct {
	Mode            string  `json:"mode"` // imh or baseline
	Routers         int     `json:"routers"`
	StoresPer10Min  float64 `json:"stores_per_10min"`
	RejectsPer10Min float64 `json:"rejected_per_10min"`
	FinalLeases     int     `json:"final_leases"`
	Deliveries      int     `json:"delivered_of_200"`
	// What an observer of the floodfills sees in the window: distinct
	// inbound gateways across the stored LeaseSets, and their lease counts.
	DistinctGateways int     `json:"distinct_gateways"`
	MeanLeases       float64 `json:"mean_leases"`
}

// Simulated time of one run: warm-up, then the measured window.
const (
	loadWarmup = 10 * time.Minute
	loadWindow = 30 * time.Minute
)

// TestFloodfillLoad measures what the floodfills see for one destination
// hosted on one stock router (the reference), and on N = 4, 16, 100 routers (3 inbound tunnels of 3 hops each): imh
// (one balancer, one LeaseSet) against today's multihoming (each router
// publishing its own LeaseSet, `imh simnet baseline`), on the same
// simulated network, over 30 simulated minutes after a 10-minute warm-up,
// in one process on synctest's clock. BenchmarkFloodfillLoad runs it.
func TestFloodfillLoad(t *testing.T) {
	if os.Getenv("IMH_FLOODFILL_LOAD") == "" {
		t.Skip("run by BenchmarkFloodfillLoad (make bench)")
	}
	var results []loadResult
	// A single stock router: what the LeaseSets of one router look like.
	t.Run("single-1", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := runLoad(t, "baseline", 1)
			r.Mode = "single"
			t.Logf("%+v", r)
			results = append(results, r)
		})
	})
	for _, n := range []int{4, 16, 100} {
		for _, mode := range []string{"imh", "baseline"} {
			t.Run(fmt.Sprintf("%s-%d", mode, n), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					r := runLoad(t, mode, n)
					t.Logf("%+v", r)
					results = append(results, r)
				})
			})
		}
	}
	body, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("FLOODFILL-LOAD %s\n", bytes.ReplaceAll(body, []byte("\n"), nil))
	if dir := os.Getenv("IMH_BENCH_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "balancer-floodfill.json"), append(body, '\n'), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func runLoad(t *testing.T, mode string, n int) loadResult {
	ncfg := simnet.DefaultConfig()
	ncfg.Seed = 2026
	sn, err := simnet.New(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := newFakeCluster(1)
	keys, ek := cl.addDest(t, "web", 11, fsm.DefaultSettings())
	h := keys.Destination().Hash()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var links []simnet.Link
	for i := range n {
		l, err := sn.Attach(fmt.Sprintf("r%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, l)
	}
	switch mode {
	case "baseline":
		cfg := simnet.DefaultBaselineConfig(keys)
		cfg.LeaseSetKey = ek
		wg.Go(func() {
			if _, err := simnet.RunBaseline(ctx, simnet.RealClock(), links, cfg, nil); err != nil {
				t.Error(err)
			}
		})
	case "imh":
		listeners := map[string]*pipeListener{}
		for i, l := range links {
			rcfg := router.DefaultConfig()
			rcfg.Name = l.Name()
			rt, err := router.New(rcfg, router.NewSimnetBackend(l))
			if err != nil {
				t.Fatal(err)
			}
			ln := newPipeListener()
			addr := fmt.Sprintf("127.0.0.1:%d", 20000+i)
			listeners[addr] = ln
			cl.mustApply(t, &fsm.RouterPut{Name: l.Name(), Addr: addr})
			wg.Go(func() { _ = rt.Serve(ctx, ln) })
		}
		cfg := DefaultConfig()
		cfg.Cluster, cfg.Rand = cl, newRand(uint64(n))
		cfg.Dial = func(ctx context.Context, _, addr string) (RouterConn, error) {
			nc, err := listeners[addr].dial(ctx)
			if err != nil {
				return nil, err
			}
			c, err := routerproto.NewClient(ctx, nc, routerproto.DefaultClientConfig())
			if err != nil {
				return nil, err
			}
			return NewClientConn(c), nil
		}
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = b.Run(ctx) })
	}
	time.Sleep(loadWarmup)
	s0 := sn.DestStatus(h)
	time.Sleep(loadWindow)
	s1 := sn.DestStatus(h)
	res, err := sn.Send(ctx, simnet.SendConfig{Dest: h, Count: 10, Clients: 20, Mode: simnet.ModeOneway, Behaviour: simnet.BehaviourMix})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	for _, l := range links {
		l.Close()
	}
	windows := float64(loadWindow) / float64(10*time.Minute)
	r := loadResult{
		Mode: mode, Routers: n,
		StoresPer10Min:  float64(s1.Stores-s0.Stores) / windows,
		RejectsPer10Min: float64(s1.Rejected-s0.Rejected) / windows,
		Deliveries:      res.Delivered,
	}
	gateways := map[i2p.Hash]bool{}
	leases, stored := 0, 0
	for _, e := range s1.History[len(s1.History)-min(len(s1.History), s1.Stores-s0.Stores):] {
		raw, err := i2p.Base64.DecodeString(e.LeaseSet)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := i2p.ParseLeaseSet2(raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls.Leases {
			gateways[l.Gateway] = true
		}
		leases += len(ls.Leases)
		stored++
	}
	r.DistinctGateways = len(gateways)
	if stored > 0 {
		r.MeanLeases = float64(leases) / float64(stored)
	}
	if hist := s1.History; len(hist) > 0 {
		if raw, err := i2p.Base64.DecodeString(hist[len(hist)-1].LeaseSet); err == nil {
			if ls, err := i2p.ParseLeaseSet2(raw); err == nil {
				r.FinalLeases = len(ls.Leases)
			}
		}
	}
	return r
}

// BenchmarkFloodfillLoad runs TestFloodfillLoad in a child test process
// (synctest needs a *testing.T) and reports floodfill stores per 10
// simulated minutes for imh and the baseline at N = 4, 16, 100 routers.
func BenchmarkFloodfillLoad(b *testing.B) {
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFloodfillLoad$", "-test.v", "-test.timeout=60m")
		cmd.Env = append(os.Environ(), "IMH_FLOODFILL_LOAD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("floodfill load: %v\n%s", err, out)
		}
		var results []loadResult
		for _, line := range strings.Split(string(out), "\n") {
			if rest, ok := strings.CutPrefix(line, "FLOODFILL-LOAD "); ok {
				if err := json.Unmarshal([]byte(rest), &results); err != nil {
					b.Fatal(err)
				}
			}
		}
		if len(results) == 0 {
			b.Fatalf("no results in:\n%s", out)
		}
		for _, r := range results {
			b.ReportMetric(r.StoresPer10Min, fmt.Sprintf("stores/10min-%s-%d", r.Mode, r.Routers))
		}
	}
}

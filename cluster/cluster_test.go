package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/clustertest"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/status"
)

// leaderWorkTracker records, per node, how many leader work functions run
// at once (must never exceed one) and how many were started.
type leaderWorkTracker struct {
	mu      sync.Mutex
	active  map[string]int
	started map[string]int
	overlap atomic.Bool
}

func newTracker() *leaderWorkTracker {
	return &leaderWorkTracker{active: map[string]int{}, started: map[string]int{}}
}

func (tr *leaderWorkTracker) work(n *clustertest.Node) func(ctx context.Context) error {
	node := n.Name
	return func(ctx context.Context) error {
		if c := n.Cluster(); c == nil || c.NodeName() != node {
			return errors.New("leader work started on a node that is not running")
		}
		tr.mu.Lock()
		tr.active[node]++
		tr.started[node]++
		if tr.active[node] > 1 {
			tr.overlap.Store(true)
		}
		tr.mu.Unlock()
		<-ctx.Done()
		tr.mu.Lock()
		tr.active[node]--
		tr.mu.Unlock()
		return ctx.Err()
	}
}

func (tr *leaderWorkTracker) activeTotal() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, v := range tr.active {
		n += v
	}
	return n
}

// applyOn proposes cmd on the current leader of h (applyRetrying).
func applyOn(t *testing.T, h *clustertest.Harness, cmd fsm.Command) {
	t.Helper()
	applyRetrying(t, 15*time.Second, func() *cluster.Cluster { return h.Nodes[h.Leader(10*time.Second)].Cluster() }, cmd)
}

// applyRetrying proposes cmd on the cluster that leader returns, asking
// again while leadership moves, for up to within (a loaded machine can
// cause a spurious election, and elections right after bootstrap are
// normal; the commands the tests apply are idempotent, so a retry after an
// unknown outcome is safe). Any other error fails the test.
func applyRetrying(t *testing.T, within time.Duration, leader func() *cluster.Cluster, cmd fsm.Command) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := leader().Apply(ctx, cmd)
		cancel()
		switch {
		case err == nil:
			return
		case (errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrLeadershipLost)) && time.Now().Before(deadline):
			continue
		}
		t.Fatalf("apply %s: %v", cmd.Type(), err)
	}
}

func TestInmemClusterPartitionHealKill(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	h := clustertest.New(t, 3, clustertest.Options{LeaderWork: tr.work})
	l := h.Leader(10 * time.Second)
	if term, ok := h.Nodes[l].Cluster().LeadershipTerm(); !ok || term == 0 {
		t.Fatalf("leadership term %d %v", term, ok)
	}
	applyOn(t, h, &fsm.RouterPut{Name: "r1", Addr: "127.0.0.1:7001"})
	h.WaitConverged(5 * time.Second)
	h.WaitFor(5*time.Second, "one leader work running", func() bool { return tr.activeTotal() == 1 })

	// Partition the leader: the other two elect a new one and go on.
	h.Partition(l)
	nl := h.Leader(10 * time.Second)
	if nl == l {
		t.Fatal("isolated node still leads the majority")
	}
	applyOn(t, h, &fsm.RouterPut{Name: "r2", Addr: "127.0.0.1:7002"})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	err := h.Nodes[l].Cluster().Apply(ctx, &fsm.RouterPut{Name: "r3", Addr: "127.0.0.1:7003"})
	cancel()
	if err == nil {
		t.Fatal("isolated old leader committed a write")
	}
	h.WaitFor(10*time.Second, "isolated node steps down", func() bool {
		_, ok := h.Nodes[l].Cluster().LeadershipTerm()
		return !ok
	})

	// Heal: the old leader catches up and drops its uncommitted entry.
	h.Heal()
	h.Leader(10 * time.Second)
	h.WaitConverged(10 * time.Second)
	if _, ok := h.Nodes[l].Cluster().State().Router("r3"); ok {
		t.Fatal("uncommitted write of the isolated leader survived")
	}
	if _, ok := h.Nodes[l].Cluster().State().Router("r2"); !ok {
		t.Fatal("old leader did not catch up")
	}

	// Kill the leader; the rest go on; the killed node restarts and catches up.
	k := h.Leader(10 * time.Second)
	h.Kill(k)
	if nl = h.Leader(10 * time.Second); nl == k {
		t.Fatal("killed node still leads")
	}
	applyOn(t, h, &fsm.RouterPut{Name: "r4", Addr: "127.0.0.1:7004"})
	h.Restart(k)
	h.Leader(10 * time.Second)
	h.WaitConverged(10 * time.Second)
	for _, n := range h.Nodes {
		if got := len(n.Cluster().State().Routers()); got != 3 {
			t.Fatalf("%s has %d routers, want 3 (r1 r2 r4)", n.Name, got)
		}
	}
	h.WaitFor(5*time.Second, "exactly one leader work running", func() bool { return tr.activeTotal() == 1 })
	if tr.overlap.Load() {
		t.Fatal("two leader works ran at once on one node")
	}
}

// api calls the HTTP API and decodes the answer into out (if non-nil). A
// 503 (no leader: an election under load) is retried for up to 10 s.
func api(t *testing.T, method, addr, path string, in, out any) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code := apiOnce(t, method, addr, path, in, out)
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return code
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiClient keeps no idle connections: tests restart agents on the same
// addresses, and a POST handed a pooled connection to the agent that was
// stopped fails with EOF (net/http retries only idempotent requests).
var apiClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// apiOnce is api without the retry.
func apiOnce(t *testing.T, method, addr, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	if resp.StatusCode != http.StatusOK {
		var eb cluster.ErrorBody
		if err := json.Unmarshal(raw, &eb); err != nil || eb.Error == "" || eb.Code == "" {
			t.Fatalf("%s %s: status %d without an error body: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

func ptr[T any](v T) *T { return &v }

type fakeLive struct{}

func (fakeLive) Router(name string) (status.RouterLive, bool) {
	return status.RouterLive{State: status.RouterUp, Capabilities: []string{"fast-tier"}}, true
}

// Frontend knows f1 only, as a leader knows a frontend it has dialed but
// not one just added.
func (fakeLive) Frontend(name string) (status.FrontendLive, bool) {
	if name != "f1" {
		return status.FrontendLive{}, false
	}
	return status.FrontendLive{State: status.RouterUp, Router: "r1", Destinations: []status.FrontendDestLive{
		{Name: "web", Attached: true, BackendUp: true, KeyExpires: time.Unix(1_790_000_000, 0).UTC(), Open: 2, Accepted: 5, BytesIn: 100, BytesOut: 4096},
	}}, true
}

func (fakeLive) Destination(name string) (status.DestinationLive, bool) {
	v := 19.0
	return status.DestinationLive{GatewaySet: []string{"ab"}, GatewayPolicyEnforced: true, ActiveRouter: "r1",
		Invisibility: &status.Invisibility{WindowMs: 3_600_000, SpanMs: 3_600_000, Stores: 22, Atypical: 1, Features: []status.InvisibilityFigure{
			{Name: "gateway_set", Unit: "gateways", Value: &v, SingleRouter: status.RouterRange{Low: 15, Median: 17, High: 18}, Verdict: "atypical"},
		}}}, true
}

func TestAPIForwardingAndErrors(t *testing.T) {
	t.Parallel()
	h := clustertest.New(t, 3, clustertest.Options{})
	l := h.Leader(10 * time.Second)
	f := (l + 1) % 3
	fa := h.Nodes[f].HTTPAddr

	if code := api(t, "POST", fa, "/v1/routers", cluster.RouterInfo{Name: "r1", Addr: "127.0.0.1:7001"}, nil); code != 200 {
		t.Fatalf("router add through follower: %d", code)
	}
	var info cluster.DestinationInfo
	if code := api(t, "POST", fa, "/v1/destinations", cluster.DestinationRequest{Name: "web", Inbound: ptr(4), Service: ptr("echo")}, &info); code != 200 {
		t.Fatalf("dest create through follower: %d", code)
	}
	if info.Inbound != 4 || info.Service != "echo" || info.Policy != "spread" || len(info.B32) != 60 || info.Frontends {
		t.Fatalf("created %+v", info)
	}
	var fi cluster.FrontendInfo
	if code := api(t, "POST", fa, "/v1/frontends", cluster.FrontendInfo{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"}, &fi); code != 200 || fi.Router != "r1" {
		t.Fatalf("frontend add through follower: %d %+v", code, fi)
	}
	for _, tt := range []struct {
		method, path string
		in           any
		want         int
	}{
		{"POST", "/v1/routers", cluster.RouterInfo{Name: "r1", Addr: "127.0.0.1:9"}, 409},
		{"POST", "/v1/routers", cluster.RouterInfo{Name: "bad name", Addr: "127.0.0.1:9"}, 400},
		{"POST", "/v1/routers", map[string]string{"nmae": "x"}, 400},
		{"DELETE", "/v1/routers/nope", nil, 404},
		{"POST", "/v1/destinations", cluster.DestinationRequest{Name: "web"}, 409},
		{"POST", "/v1/destinations", cluster.DestinationRequest{Name: "x", KeyFile: "AAAA"}, 400},
		{"POST", "/v1/destinations", cluster.DestinationRequest{Name: "x", Policy: ptr("random")}, 400},
		{"PATCH", "/v1/destinations/web", cluster.DestinationRequest{Policy: ptr("failover")}, 200},
		{"POST", "/v1/destinations", cluster.DestinationRequest{Name: "x", Hops: ptr(99)}, 400},
		{"PATCH", "/v1/destinations/web", cluster.DestinationRequest{Hops: ptr(2)}, 200},
		{"PATCH", "/v1/destinations/nope", cluster.DestinationRequest{Hops: ptr(2)}, 404},
		{"GET", "/v1/destinations/nope", nil, 404},
		{"GET", "/v1/destinations/nope/leaseset", nil, 404},
		{"POST", "/v1/frontends", cluster.FrontendInfo{Name: "f1", Addr: "127.0.0.1:9", Router: "r1"}, 409},
		{"POST", "/v1/frontends", cluster.FrontendInfo{Name: "f2", Addr: "127.0.0.1:7102", Router: "r1"}, 409},
		{"POST", "/v1/frontends", cluster.FrontendInfo{Name: "bad name", Addr: "127.0.0.1:9", Router: "r2"}, 400},
		{"POST", "/v1/frontends", cluster.FrontendInfo{Name: "f2", Addr: "nowhere", Router: "r2"}, 400},
		{"POST", "/v1/frontends", map[string]string{"name": "f2", "adr": "127.0.0.1:9"}, 400},
		{"POST", "/v1/frontends", cluster.FrontendInfo{Name: "f2", Addr: "127.0.0.1:7102", Router: "r2"}, 200}, // r2 comes later
		{"POST", "/v1/frontends", cluster.FrontendInfo{Name: "f3", Addr: "127.0.0.1:7103", Router: "r3"}, 200},
		{"DELETE", "/v1/frontends/f3", nil, 200},
		{"DELETE", "/v1/frontends/f3", nil, 404},
		{"PATCH", "/v1/destinations/web", cluster.DestinationRequest{Frontends: ptr(true)}, 200},
		{"PATCH", "/v1/destinations/web", map[string]any{"frontends": "on"}, 400},
		{"POST", "/v1/routers", cluster.RouterInfo{Name: "r1b", Addr: "127.0.0.1:7001"}, 400}, // r1's address
		// What no route takes is answered with the ErrorBody too.
		{"GET", "/v1/nothing-here", nil, 404},
		{"GET", "/", nil, 404},
		{"PUT", "/v1/routers", nil, 405},
		{"POST", "/v1/status", nil, 405},
	} {
		if got := api(t, tt.method, fa, tt.path, tt.in, nil); got != tt.want {
			t.Errorf("%s %s %+v: status %d, want %d", tt.method, tt.path, tt.in, got, tt.want)
		}
	}
	// Reads are local: wait until the follower has applied the writes.
	h.WaitConverged(5 * time.Second)
	var list cluster.DestinationList
	api(t, "GET", fa, "/v1/destinations", nil, &list)
	if len(list.Destinations) != 1 || list.Destinations[0].Hops != 2 || list.Destinations[0].Inbound != 4 || list.Destinations[0].Policy != "failover" || !list.Destinations[0].Frontends {
		t.Fatalf("list %+v", list)
	}
	// Before the first publish the LeaseSet is there, empty.
	var lsi cluster.LeaseSetInfo
	if code := api(t, "GET", fa, "/v1/destinations/web/leaseset", nil, &lsi); code != 200 || lsi.Name != "web" || lsi.B32 != info.B32 || lsi.Leases == nil || len(lsi.Leases) != 0 || lsi.Published != 0 {
		t.Fatalf("leaseset before a publish: %d %+v", code, lsi)
	}
	var fl cluster.FrontendList
	api(t, "GET", fa, "/v1/frontends", nil, &fl)
	wantFronts := []cluster.FrontendInfo{{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"}, {Name: "f2", Addr: "127.0.0.1:7102", Router: "r2"}}
	if !slices.Equal(fl.Frontends, wantFronts) {
		t.Fatalf("frontends %+v, want %+v", fl.Frontends, wantFronts)
	}
	// Settings a PATCH leaves out stay; frontends goes off again.
	if code := api(t, "PATCH", fa, "/v1/destinations/web", cluster.DestinationRequest{Frontends: ptr(false)}, &info); code != 200 || info.Frontends || info.Hops != 2 {
		t.Fatalf("frontends off: %d %+v", code, info)
	}
	var st struct {
		Leader  string `json:"leader"`
		Peers   []any  `json:"peers"`
		Routers []struct {
			State string `json:"state"`
		} `json:"routers"`
		Frontends []struct {
			Name         string `json:"name"`
			State        string `json:"state"`
			Destinations []any  `json:"destinations"`
		} `json:"frontends"`
	}
	api(t, "GET", fa, "/v1/status", nil, &st)
	if st.Leader != h.Nodes[h.Leader(10*time.Second)].Name || len(st.Peers) != 3 || len(st.Routers) != 1 || st.Routers[0].State != "unknown" {
		t.Fatalf("status %+v", st)
	}
	// Without a live view the frontends are there, unknown, with a list
	// (not null) of destinations.
	if len(st.Frontends) != 2 || st.Frontends[0].Name != "f1" || st.Frontends[0].State != status.RouterUnknown || st.Frontends[0].Destinations == nil {
		t.Fatalf("frontends without a live view: %+v", st.Frontends)
	}

	// With a live view on the leader, a follower's status carries it.
	for _, n := range h.Nodes { // only the leader's is served
		n.Cluster().SetLiveView(fakeLive{})
	}
	api(t, "GET", fa, "/v1/status", nil, &st)
	if st.Routers[0].State != status.RouterUp {
		t.Fatalf("follower status without the leader's live view: %+v", st)
	}
	var full status.Status
	api(t, "GET", fa, "/v1/status", nil, &full)
	if d := full.Destinations[0]; d.ActiveRouter != "r1" || !d.GatewayPolicyEnforced || len(d.GatewaySet) != 1 {
		t.Fatalf("destination live fields: %+v", d)
	}
	if inv := full.Destinations[0].Invisibility; inv == nil || inv.Stores != 22 || len(inv.Features) != 1 || *inv.Features[0].Value != 19 || inv.Features[0].SingleRouter.High != 18 {
		t.Fatalf("the leader's invisibility figures did not cross to the follower: %+v", inv)
	}
	var shown cluster.DestinationInfo
	api(t, "GET", fa, "/v1/destinations/"+full.Destinations[0].Name, nil, &shown)
	if inv := shown.Invisibility; inv == nil || inv.Stores != 22 {
		t.Fatalf("dest show on a follower without the leader's figures: %+v", inv)
	}
	// The leader's view of its frontends crosses to the follower; one it
	// does not know stays unknown.
	wantLive := []status.Frontend{
		{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1", State: status.RouterUp, Destinations: []status.FrontendDestLive{
			{Name: "web", Attached: true, BackendUp: true, KeyExpires: time.Unix(1_790_000_000, 0).UTC(), Open: 2, Accepted: 5, BytesIn: 100, BytesOut: 4096},
		}},
		{Name: "f2", Addr: "127.0.0.1:7102", Router: "r2", State: status.RouterUnknown, Destinations: []status.FrontendDestLive{}},
	}
	if !reflect.DeepEqual(full.Frontends, wantLive) {
		t.Fatalf("follower's frontends %+v, want %+v", full.Frontends, wantLive)
	}
	var onLeader status.Status
	api(t, "GET", h.Nodes[h.Leader(10*time.Second)].HTTPAddr, "/v1/status", nil, &onLeader)
	if !reflect.DeepEqual(onLeader.Frontends, wantLive) {
		t.Fatalf("leader's frontends %+v, want %+v", onLeader.Frontends, wantLive)
	}

	// The sealed keys open with the cluster's secret and are not the plain file.
	d, _ := h.Nodes[f].Cluster().State().Destination("web")
	plain, err := h.Nodes[f].Cluster().Open(d.SealedKeys, d.Hash(), fsm.FieldKeys)
	if err != nil || bytes.Contains(d.SealedKeys, plain[len(plain)-32:]) {
		t.Fatalf("sealed keys: %v", err)
	}

	// Lose the majority: writes fail with no_leader (exit 1 in the CLI).
	h.Kill(l)
	h.Kill((l + 2) % 3)
	if code := apiOnce(t, "POST", fa, "/v1/routers", cluster.RouterInfo{Name: "r2", Addr: "127.0.0.1:7002"}, nil); code != 503 {
		t.Fatalf("write without quorum: status %d, want 503", code)
	}
	err = h.Nodes[f].Cluster().Apply(t.Context(), &fsm.RouterPut{Name: "r2", Addr: "127.0.0.1:7002"})
	if !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("apply without quorum: %v", err)
	}
}

// TestInmemSnapshotInstall compacts the leader's log while a node is down,
// so that node can only catch up through InstallSnapshot (fsm Persist and
// Restore through raft).
func TestInmemSnapshotInstall(t *testing.T) {
	t.Parallel()
	h := clustertest.New(t, 3, clustertest.Options{TrailingLogs: 1})
	l := h.Leader(10 * time.Second)
	down := (l + 1) % 3
	h.Kill(down)
	for i := range 30 {
		applyOn(t, h, &fsm.RouterPut{Name: fmt.Sprintf("r%d", i), Addr: fmt.Sprintf("127.0.0.1:%d", 7100+i)})
	}
	if err := h.Nodes[h.Leader(10*time.Second)].Cluster().TakeSnapshot(); err != nil {
		t.Fatal(err)
	}
	applyOn(t, h, &fsm.RouterPut{Name: "after", Addr: "127.0.0.1:7000"}) // a new address: r0..r29 are at 7100..7129
	h.Restart(down)
	h.WaitConverged(10 * time.Second)
	if got := len(h.Nodes[down].Cluster().State().Routers()); got != 31 {
		t.Fatalf("restarted node has %d routers, want 31", got)
	}
}

// TestInternalDestinationPut: a sealed put from another agent is applied
// only if its blobs open under this cluster's secret and match.
func TestInternalDestinationPut(t *testing.T) {
	t.Parallel()
	h := clustertest.New(t, 3, clustertest.Options{})
	l := h.Leader(10 * time.Second)
	good, _ := cluster.NewSealer(h.Secret())
	other, _ := cluster.NewSecret()
	bad, _ := cluster.NewSealer(other)
	keys, _ := i2p.NewPrivateKeys(rand.Reader)
	raw, _ := keys.MarshalBinary()
	lsk, _ := i2p.NewLeaseSetKey(rand.Reader)
	h0 := keys.Destination().Hash()
	var elsewhere i2p.Hash
	elsewhere[0] = 1
	sealFor := func(s *cluster.Sealer, name string, lsPub []byte, dest i2p.Hash, kf, lf fsm.SealedField) []byte {
		sk, _ := s.Seal(raw, dest, kf)
		sl, _ := s.Seal(lsk.Private(), dest, lf)
		b, err := fsm.Encode(&fsm.DestinationPut{Name: name, Destination: keys.Destination().Bytes(), SealedKeys: sk,
			SealedLeaseSetKey: sl, LeaseSetPublicKey: lsPub, Settings: fsm.DefaultSettings()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	put := func(s *cluster.Sealer, name string, lsPub []byte) []byte {
		return sealFor(s, name, lsPub, h0, fsm.FieldKeys, fsm.FieldLeaseSetKey)
	}
	post := func(addr string, body []byte) int {
		resp, err := http.Post("http://"+addr+"/v1/internal/destination-put", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	la := h.Nodes[l].HTTPAddr
	wrongPub := bytes.Repeat([]byte{1}, 32)
	for _, tt := range []struct {
		name string
		body []byte
		want int
	}{
		{"other secret", put(bad, "x", lsk.Public()), 400},
		{"public key mismatch", put(good, "x", wrongPub), 400},
		{"sealed for another destination", sealFor(good, "x", lsk.Public(), elsewhere, fsm.FieldKeys, fsm.FieldLeaseSetKey), 400},
		{"fields swapped", sealFor(good, "x", lsk.Public(), h0, fsm.FieldLeaseSetKey, fsm.FieldKeys), 400},
		{"not a put", func() []byte { b, _ := fsm.Encode(&fsm.RouterRemove{Name: "r"}); return b }(), 400},
		{"garbage", []byte{1, 2, 3}, 400},
		{"good, through a follower", put(good, "web", lsk.Public()), 200},
	} {
		addr := la
		if tt.want == 200 {
			addr = h.Nodes[(l+1)%3].HTTPAddr
		}
		if got := post(addr, tt.body); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
	if _, ok := h.Nodes[l].Cluster().State().Destination("x"); ok {
		t.Fatal("a refused put was applied")
	}
}

// TestConsistentReadAndStateHash: a ?consistent=1 read through a follower
// sees a write acknowledged just before (the follower's local state may
// not have it yet); an isolated old leader refuses a consistent read (503)
// instead of answering from its stale state; every agent reports the same
// state hash at the same index.
func TestConsistentReadAndStateHash(t *testing.T) {
	t.Parallel()
	h := clustertest.New(t, 3, clustertest.Options{})
	l := h.Leader(10 * time.Second)
	fa := h.Nodes[(l+1)%3].HTTPAddr
	for i := range 5 {
		name := fmt.Sprintf("r%d", i)
		if code := api(t, "POST", h.Nodes[l].HTTPAddr, "/v1/routers", cluster.RouterInfo{Name: name, Addr: fmt.Sprintf("127.0.0.1:%d", 7001+i)}, nil); code != 200 {
			t.Fatalf("router add: %d", code)
		}
		var list cluster.RouterList
		if code := api(t, "GET", fa, "/v1/routers?consistent=1", nil, &list); code != 200 || len(list.Routers) != i+1 {
			t.Fatalf("consistent read after write %d: %d %+v", i, code, list)
		}
	}
	if code := api(t, "GET", fa, "/v1/destinations/nope?consistent=1", nil, nil); code != 404 {
		t.Fatalf("consistent read of a missing destination: %d", code)
	}
	h.WaitConverged(5 * time.Second)
	var want cluster.StateHashBody
	for i, n := range h.Nodes {
		var got cluster.StateHashBody
		if code := api(t, "GET", n.HTTPAddr, "/v1/state-hash", nil, &got); code != 200 || got.Node != n.Name || len(got.Hash) != 64 {
			t.Fatalf("state-hash of %s: %d %+v", n.Name, code, got)
		}
		if i > 0 && (got.Index != want.Index || got.Hash != want.Hash) {
			t.Fatalf("state-hash of %s %+v, of %s %+v", n.Name, got, h.Nodes[0].Name, want)
		}
		want = got
	}

	h.Partition(l)
	nl := h.Leader(10 * time.Second)
	if code := api(t, "POST", h.Nodes[nl].HTTPAddr, "/v1/routers", cluster.RouterInfo{Name: "late", Addr: "127.0.0.1:7100"}, nil); code != 200 {
		t.Fatalf("router add on the new leader: %d", code)
	}
	// The isolated agent may still believe it leads for a moment: either
	// way it must not answer the consistent read from its own stale state.
	var list cluster.RouterList
	if code := api(t, "GET", h.Nodes[l].HTTPAddr, "/v1/routers?consistent=1", nil, &list); code == 200 && len(list.Routers) != 6 {
		t.Fatalf("isolated old leader answered a consistent read with %d routers (stale)", len(list.Routers))
	}
	h.Heal()
}

package status

import (
	"bytes"
	"testing"

	"github.com/imh-project/imh/internal/golden"
)

// tableFixture is a status with every section the tables print: a peer
// of each kind, a router with and without capabilities, a frontend with
// and without destinations, an inbound shortfall, and invisibility
// figures that are atypical, typical, unknown, an error and absent.
func tableFixture() *Status {
	v1, v2 := 31.0, 2.345
	figs := []InvisibilityFigure{
		{Name: "gateway_set", Unit: "peers", Value: &v1, SingleRouter: RouterRange{Low: 15, Median: 17.5, High: 20}, Verdict: "atypical"},
		{Name: "gateway_churn", Unit: "per hour", Value: &v2, SingleRouter: RouterRange{Low: 1, Median: 2, High: 3}, Verdict: "typical"},
		{Name: "stores_per_10m", Unit: "stores", SingleRouter: RouterRange{Low: 1.5, Median: 1.5, High: 1.5}, Verdict: "unknown"},
		{Name: "max_gap", Unit: "s", Value: &v1, SingleRouter: RouterRange{Low: 0.001, Median: 10, High: 100.126}, Verdict: "atypical"},
	}
	return &Status{
		Term: 7, Node: "a1",
		Peers:   []Peer{{Name: "a1", RaftAddr: "127.0.0.1:7001", State: "follower", Voter: true}, {Name: "a2-long-name", RaftAddr: "127.0.0.1:7002", State: "candidate"}},
		Routers: []Router{{Name: "r1", Addr: "127.0.0.1:7101", State: RouterUp, Capabilities: []string{"fasttier", "sendvia"}}, {Name: "r2", Addr: "h:1", State: RouterDown}},
		Frontends: []Frontend{
			{Name: "f1", Router: "r1", State: RouterUp, Destinations: []FrontendDestLive{{Name: "web", Attached: true, BackendUp: true, Open: 2, BytesIn: 100, BytesOut: 4096}, {Name: "api"}}},
			{Name: "f2", Router: "r2", State: RouterUnknown},
		},
		Destinations: []Destination{
			{Name: "web", B32: "abc.b32.i2p", Policy: "spread", Service: "echo", Leases: 5, Published: 1700000000, LeasesByRouter: map[string]int{"r2": 2, "r1": 3},
				UpstreamInbound: map[string]InboundCount{"r2": {Have: 1, Want: 3}, "r1": {Have: 3, Want: 3}},
				Invisibility:    &Invisibility{WindowMs: 3600000, SpanMs: 3599600, Stores: 12, Atypical: 2, Features: figs}},
			{Name: "api", B32: "def.b32.i2p", Policy: "failover", Service: "tcp://127.0.0.1:80"},
			{Name: "err", B32: "ghi.b32.i2p", Policy: "spread", Service: "none", Invisibility: &Invisibility{Error: "no history"}},
		},
	}
}

// TestWriteTables pins the human forms byte for byte (docs/cli.md is a
// contract): imh status, the routers table and dest show's invisibility.
func TestWriteTables(t *testing.T) {
	st := tableFixture()
	for _, tc := range []struct {
		golden string
		write  func(*bytes.Buffer) error
	}{
		{"table-status.txt", func(b *bytes.Buffer) error { return st.WriteTable(b) }},
		{"table-empty.txt", func(b *bytes.Buffer) error { return (&Status{Leader: "a1"}).WriteTable(b) }},
		{"table-routers.txt", func(b *bytes.Buffer) error { return WriteRouters(b, st.Routers) }},
		{"table-invisibility.txt", func(b *bytes.Buffer) error {
			for _, inv := range []*Invisibility{nil, st.Destinations[2].Invisibility, st.Destinations[0].Invisibility} {
				if err := WriteInvisibility(b, inv); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		var b bytes.Buffer
		if err := tc.write(&b); err != nil {
			t.Fatalf("%s: %v", tc.golden, err)
		}
		golden.Equal(t, "testdata/"+tc.golden, b.Bytes())
	}
}

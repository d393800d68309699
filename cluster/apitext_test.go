package cluster

import (
	"bytes"
	"testing"

	"github.com/imh-project/imh/internal/golden"
	"github.com/imh-project/imh/internal/status"
)

// destFixture is a destination with every part dest show prints: settings,
// leases by router, invisibility figures and tunnels (a long gateway cut
// short, a tunnel without hops).
func destFixture() DestinationInfo {
	v := 18.0
	return DestinationInfo{
		Name: "web", B32: "abc.b32.i2p", LeaseSetPublicKey: "KEY=", Inbound: 3, Outbound: 2, Hops: 1,
		Policy: "failover", Service: "tcp://127.0.0.1:80", Frontends: true, Published: 1700000000, Leases: 3,
		LeasesByRouter: map[string]int{"r1": 3},
		Tunnels: []TunnelInfo{
			{Router: "r1", Direction: "inbound", ID: 42, Gateway: "0123456789abcdef0123", Hops: []string{"aa"}, Expires: 1700000600},
			{Router: "r2-long", Direction: "outbound", ID: 7, Gateway: "ab", Expires: 1700000500},
		},
		Invisibility: &status.Invisibility{SpanMs: 60000, Stores: 2, Features: []status.InvisibilityFigure{{Name: "lease_count", Unit: "leases", Value: &v, Verdict: "typical"}}},
	}
}

// listFixtures are the bodies of dest list, frontend list, cluster peers,
// cluster secret status and rotate, with an unknown last contact, an agent
// that did not answer and a rotation that changed nothing.
func listFixtures() (DestinationList, FrontendList, PeersBody, SecretStatus, []SecretRotateResult) {
	d := destFixture()
	dl := DestinationList{Destinations: []DestinationInfo{d, {Name: "x", B32: "y.b32.i2p", Policy: "spread", Service: "none"}}}
	fl := FrontendList{Frontends: []FrontendInfo{{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"}, {Name: "f-two", Addr: "h:1", Router: "r2"}}}
	pb := PeersBody{Peers: []PeerInfo{{Name: "a1", RaftAddr: "127.0.0.1:7001", State: "leader", Voter: true, CommitIndex: 12}, {Name: "a2", RaftAddr: "127.0.0.1:7002", State: "left", LastContactMs: -1}, {Name: "a3", RaftAddr: "127.0.0.1:7003", State: "follower", Voter: true, LastContactMs: 35, CommitIndex: 11}}}
	agents := []SecretAgent{{Name: "a1", KeyIDs: []string{"k2", "k1"}, SealingKey: "k2", GossipMembers: 3}, {Name: "a2"}}
	ss := SecretStatus{Agents: agents}
	rr := []SecretRotateResult{{KeyID: "k2", Previous: "k1", Changed: true, Resealed: 4, Agents: agents}, {KeyID: "k2", Agents: agents[:1]}}
	return dl, fl, pb, ss, rr
}

// TestAPIText pins the human forms of the API bodies byte for byte
// (docs/cli.md is a contract); the golden files were captured from the
// CLI's printers before they moved here.
func TestAPIText(t *testing.T) {
	var b bytes.Buffer
	d := destFixture()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.WriteTable(&b))
	must((&DestinationInfo{Name: "x"}).WriteTable(&b))
	golden.Equal(t, "testdata/apitext-dest-show.txt", b.Bytes())

	b.Reset()
	dl, fl, pb, ss, rr := listFixtures()
	must(dl.WriteTable(&b))
	must(fl.WriteTable(&b))
	must(pb.WriteTable(&b))
	must(ss.WriteTable(&b))
	must(SecretStatus{KeyID: "k9"}.WriteTable(&b))
	for _, r := range rr {
		must(r.WriteText(&b))
	}
	for _, d := range dl.Destinations {
		must(d.WriteSettings(&b))
	}
	golden.Equal(t, "testdata/apitext-lists.txt", b.Bytes())
	if n := pb.Voters(); n != 2 {
		t.Errorf("Voters() = %d, want 2", n)
	}
}

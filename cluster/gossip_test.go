package cluster

import (
	"encoding/json"
	"testing"

	"github.com/hashicorp/memberlist"
)

// TestHTTPAddrOfOutlivesGossip: a node gossip declared dead keeps the API
// address it last gossiped, so a follower whose gossip is cut off (while
// raft still follows the leader) forwards writes instead of answering that
// the leader's address is unknown; a node never seen has none.
func TestHTTPAddrOfOutlivesGossip(t *testing.T) {
	c := &Cluster{staticHTTP: map[string]string{}, memberTable: map[string]member{}, lastHTTP: map[string]string{}}
	meta, err := json.Marshal(nodeMeta{RaftAddr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:8001", InRaft: true})
	if err != nil {
		t.Fatal(err)
	}
	n := &memberlist.Node{Name: "n2", Meta: meta, State: memberlist.StateAlive}
	c.noteMember(n, true)
	if got := c.httpAddrOf("n2"); got != "127.0.0.1:8001" {
		t.Fatalf("alive member: httpAddrOf = %q", got)
	}
	n.State = memberlist.StateDead
	c.noteMember(n, false)
	if len(c.members()) != 0 {
		t.Fatalf("a dead member is still listed: %v", c.members())
	}
	if got := c.httpAddrOf("n2"); got != "127.0.0.1:8001" {
		t.Errorf("after gossip lost it: httpAddrOf = %q, want its last address", got)
	}
	meta2, _ := json.Marshal(nodeMeta{RaftAddr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:9001", InRaft: true})
	c.noteMember(&memberlist.Node{Name: "n2", Meta: meta2, State: memberlist.StateAlive}, true)
	if got := c.httpAddrOf("n2"); got != "127.0.0.1:9001" {
		t.Errorf("back at a new address: httpAddrOf = %q", got)
	}
	if got := c.httpAddrOf("n3"); got != "" {
		t.Errorf("never seen: httpAddrOf = %q", got)
	}
}

package cluster_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/clustertest"
	"github.com/imh-project/imh/fsm"
)

// opensEverywhere reports whether every running node opens both sealed
// fields of every destination it holds, with its own secrets.
func opensEverywhere(h *clustertest.Harness) bool {
	for _, n := range h.Nodes {
		c := n.Cluster()
		if c == nil {
			continue
		}
		for _, d := range c.State().Destinations() {
			if _, err := c.Open(d.SealedKeys, d.Hash(), fsm.FieldKeys); err != nil {
				return false
			}
			if _, err := c.Open(d.SealedLeaseSetKey, d.Hash(), fsm.FieldLeaseSetKey); err != nil {
				return false
			}
		}
	}
	return true
}

// sealedUnder reports whether every node records key and holds every
// destination's blobs in format 2 under it.
func sealedUnder(h *clustertest.Harness, key fsm.KeyID) bool {
	for _, n := range h.Nodes {
		c := n.Cluster()
		if c == nil || c.State().SealKeyID() != key {
			return false
		}
		for _, d := range c.State().Destinations() {
			for _, b := range [][]byte{d.SealedKeys, d.SealedLeaseSetKey} {
				if id, ok := fsm.SealedKeyID(b); !ok || id != key {
					return false
				}
			}
		}
	}
	return true
}

func restartWith(h *clustertest.Harness, i int, secret, previous cluster.Secret) {
	h.Kill(i)
	h.Nodes[i].SetSecrets(secret, previous)
	h.Restart(i)
}

// TestSecretRotation runs the documented procedure in process: the new
// secret installed beside the old one agent by agent (nothing switches);
// a rotation refused while an agent lacks it; the rotation; every agent
// restarted with the new secret only. Keys open on every node throughout,
// and writes keep working.
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	h := clustertest.New(t, 3, clustertest.Options{})
	oldS := h.Secret()
	newS, _ := cluster.NewSecret()
	l := h.Leader(10 * time.Second)
	if code := api(t, "POST", h.Nodes[l].HTTPAddr, "/v1/destinations", cluster.DestinationRequest{Name: "web"}, nil); code != 200 {
		t.Fatalf("create web: %d", code)
	}
	h.WaitConverged(10 * time.Second)

	// Step 1, two agents of three: nothing switches, and a rotation on
	// a leader holding the new secret is refused (409) because one agent
	// lacks it; on a leader without it there is nothing to switch to.
	restartWith(h, 0, newS, oldS)
	restartWith(h, 1, newS, oldS)
	h.WaitConverged(10 * time.Second)
	var res cluster.SecretRotateResult
	code := api(t, "POST", h.Nodes[2].HTTPAddr, "/v1/secret/rotate", nil, &res)
	switch l := h.Leader(10 * time.Second); {
	case l == 2 && (code != 200 || res.KeyID != oldS.KeyID().String()):
		t.Fatalf("leader with the old secret only: %d %+v", code, res)
	case l != 2 && code != http.StatusConflict:
		t.Fatalf("rotation with an agent lacking the new secret: status %d, want 409", code)
	}
	if !opensEverywhere(h) {
		t.Fatal("keys stopped opening before the rotation")
	}
	if code := api(t, "POST", h.Nodes[0].HTTPAddr, "/v1/destinations", cluster.DestinationRequest{Name: "mid"}, nil); code != 200 {
		t.Fatalf("create during step 1: %d", code)
	}
	h.WaitConverged(10 * time.Second)

	// Step 1, the last agent; step 2: the rotation.
	restartWith(h, 2, newS, oldS)
	h.WaitConverged(10 * time.Second)
	res = cluster.SecretRotateResult{}
	if code := api(t, "POST", h.Nodes[1].HTTPAddr, "/v1/secret/rotate", nil, &res); code != 200 {
		t.Fatalf("rotate: %d", code)
	}
	if !res.Changed || res.Resealed != 2 || res.KeyID != newS.KeyID().String() || len(res.Agents) != 3 {
		t.Fatalf("rotate: %+v", res)
	}
	h.WaitFor(10*time.Second, "every node sealed under the new key", func() bool { return sealedUnder(h, newS.KeyID()) })
	if !opensEverywhere(h) {
		t.Fatal("keys do not open after the rotation")
	}
	// Again: nothing left to do.
	res = cluster.SecretRotateResult{}
	if code := api(t, "POST", h.Nodes[0].HTTPAddr, "/v1/secret/rotate", nil, &res); code != 200 || res.Changed {
		t.Fatalf("second rotate: %d %+v", code, res)
	}

	// Step 3: the new secret only, one agent at a time; then a write.
	for i := range h.Nodes {
		restartWith(h, i, newS, cluster.Secret{})
		h.WaitConverged(10 * time.Second)
		if !opensEverywhere(h) {
			t.Fatalf("keys do not open after restarting n%d with the new secret only", i+1)
		}
	}
	if code := api(t, "POST", h.Nodes[2].HTTPAddr, "/v1/destinations", cluster.DestinationRequest{Name: "after"}, nil); code != 200 {
		t.Fatalf("create after the rotation: %d", code)
	}
	h.WaitFor(10*time.Second, "every node sealed under the new key", func() bool { return sealedUnder(h, newS.KeyID()) })

	// An agent started with the old secret only opens nothing.
	restartWith(h, 0, oldS, cluster.Secret{})
	h.WaitConverged(10 * time.Second)
	d, _ := h.Nodes[0].Cluster().State().Destination("web")
	if _, err := h.Nodes[0].Cluster().Open(d.SealedKeys, d.Hash(), fsm.FieldKeys); err == nil {
		t.Fatal("the old secret alone opened keys sealed after the rotation")
	}
}

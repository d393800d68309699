package balancer

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/fsm"
)

// TestTunnelRecordRetried: tunnels whose TunnelRecorded failed are
// recorded on a later step, so a follower that takes over knows them.
func TestTunnelRecordRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2, allCaps, fsm.DefaultSettings())
		h.cl.failRecords = 3
		run := h.start(5, 9)
		defer run.stop(t)
		time.Sleep(time.Minute)
		live := map[fsm.TunnelKey]bool{}
		for _, r := range h.routers {
			for _, tun := range r.live() {
				live[fsm.TunnelKey{Router: r.name, Destination: "web", Direction: toFSMDir(tun.Direction), ID: tun.TunnelID}] = true
			}
		}
		h.cl.mu.Lock()
		left := h.cl.failRecords
		h.cl.mu.Unlock()
		if left != 0 || len(live) == 0 {
			t.Fatalf("%d record failures left, %d live tunnels: the test did not exercise a failure", left, len(live))
		}
		recorded := map[fsm.TunnelKey]bool{}
		for _, tun := range h.cl.State().Tunnels("web") {
			recorded[tun.TunnelKey] = true
		}
		for k := range live {
			if !recorded[k] {
				t.Errorf("live tunnel %+v never recorded in the fsm", k)
			}
		}
	})
}

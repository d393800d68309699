//go:build integration

package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// A testPool bounds how many tests of one kind run at once. The suite is
// mostly waiting: an i2pd network spends minutes building tunnels on an idle
// CPU, while the multi-process cluster tests are CPU-bound and timing
// sensitive. Running them side by side, each kind capped by its own pool,
// halves the wall time of the suite without letting two Raft clusters race
// each other for the CPU.
//
// Every parallel test joins exactly one pool, so `go test -parallel` can be
// set high (make test passes 64) and the pools do the limiting: a test that
// waits for its pool holds no slot another kind needs.
type testPool struct {
	name  string
	slots chan struct{}
}

// The pools of the suite. Their sizes can be changed from the environment
// (IMH_TEST_<NAME>_PARALLEL) to run the suite on a larger or a smaller
// machine; 1 everywhere runs every test of a kind one after another.
var (
	// i2pdPool: tests that start stock i2pd routers (one on loopback or a
	// private network in a namespace). Mostly idle while tunnels build.
	i2pdPool = newTestPool("i2pd", 2)
	// clusterPool: tests that run several imh agents and simulated routers
	// and measure failover or delivery; they need the CPU to themselves
	// within their kind.
	clusterPool = newTestPool("cluster", 1)
	// lightPool: short multi-process tests (cluster operations, first-day
	// traps) that tolerate company.
	lightPool = newTestPool("light", 2)
)

// newTestPool returns a pool of size def, or of the size in
// IMH_TEST_<NAME>_PARALLEL when that is a positive integer. A bad value
// panics at start-up: a mistyped knob must not silently serialise or
// overload a run.
func newTestPool(name string, def int) *testPool {
	size := def
	env := "IMH_TEST_" + strings.ToUpper(name) + "_PARALLEL"
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			panic(fmt.Sprintf("%s=%q: want a positive integer", env, v))
		}
		size = n
	}
	return &testPool{name: name, slots: make(chan struct{}, size)}
}

// join marks t parallel and then waits for a slot of the pool, released
// when t ends. Call it first in the test, before anything starts.
func (p *testPool) join(t *testing.T) {
	t.Helper()
	t.Parallel()
	p.slots <- struct{}{}
	t.Cleanup(func() { <-p.slots })
}

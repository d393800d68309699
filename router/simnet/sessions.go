package simnet

import (
	"sync"
	"time"

	"github.com/imh-project/imh/i2p"
)

// sessionTable holds the end-to-end sessions that a reply bound to the
// router that sent it: while bound, a message of that sender to that
// destination through another router's lease cannot be decrypted
// (session_bound_elsewhere). It is shared by Clients (whose replies are
// modelled) and Endpoints (whose replies are real router sends), so both
// obey the same rule.
type sessionTable struct {
	mu      sync.Mutex
	m       map[sessionKey]sessionBinding
	inserts int
}

// sessionKey is one sender's session with one destination.
type sessionKey struct {
	sender *Client
	dest   i2p.Hash
}

type sessionBinding struct {
	router string
	until  time.Time
}

// pruneEvery is how many bindings are made between two sweeps of the
// expired ones.
const pruneEvery = 4096

// bind binds sender's session with dest to router from now until until;
// every pruneEvery bindings it forgets those expired at now.
func (t *sessionTable) bind(sender *Client, dest i2p.Hash, router string, now, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[sessionKey]sessionBinding)
	}
	t.m[sessionKey{sender, dest}] = sessionBinding{router: router, until: until}
	t.inserts++
	if t.inserts < pruneEvery {
		return
	}
	t.inserts = 0
	for k, b := range t.m {
		if !now.Before(b.until) {
			delete(t.m, k)
		}
	}
}

// boundElsewhere reports whether sender's session with dest is bound, at
// now, to a router other than router.
func (t *sessionTable) boundElsewhere(sender *Client, dest i2p.Hash, router string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.m[sessionKey{sender, dest}]
	return ok && b.router != router && now.Before(b.until)
}

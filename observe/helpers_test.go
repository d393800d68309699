package observe_test

import (
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/observe"
	"github.com/imh-project/imh/observe/observetest"
)

// synth runs observetest.Synth or fails the test.
func synth(t testing.TB, c observetest.Synth) *observe.History {
	t.Helper()
	h, err := c.History()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// leaseOf is a lease written compactly in tests.
type leaseOf struct {
	gw  byte // first byte of the gateway hash
	id  uint32
	end uint32
}

// store signs a LeaseSet of leases published and stored at at.
func store(t testing.TB, k *i2p.PrivateKeys, x *i2p.LeaseSetKey, at time.Time, ls ...leaseOf) observe.Store {
	t.Helper()
	leases := make([]i2p.Lease2, len(ls))
	for i, l := range ls {
		leases[i] = i2p.Lease2{Gateway: i2p.Hash{l.gw}, TunnelID: l.id, End: l.end}
	}
	s, err := observetest.SignedStore(k, x, at, uint32(at.Unix()), leases)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

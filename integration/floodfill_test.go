//go:build integration

package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/eventually"
	"github.com/imh-project/imh/internal/i2pdnet"
)

// floodfillStore is what waitFloodfillStore found: the LeaseSet as the
// first floodfill to store it shows it, and when each floodfill had it.
type floodfillStore struct {
	First   i2pdnet.LeaseSetInfo
	FirstAt time.Time
	At      map[string]time.Duration
}

// String lists the floodfills that store it, with the times, for logs.
func (s floodfillStore) String() string {
	var parts []string
	for name, d := range s.At {
		parts = append(parts, fmt.Sprintf("%s:%v", name, d.Round(time.Millisecond)))
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, " ") + "]"
}

// waitFloodfillStore waits until at least one floodfill of n stores a
// LeaseSet that match accepts, failing the test after within, then gives
// the other floodfills up to spread more to store it too (reported, not
// required).
//
// One is what is required because that is all stock i2pd 2.45.1 promises:
// a router publishes to the floodfill closest to the destination, and
// 2.45.1 floodfills do not flood a LeaseSet2 on to each other; the second
// floodfill gets it only when the publisher's own verification lookup
// misses there and it republishes, which depends on timing. Lookups from
// the network find it in either case.
func waitFloodfillStore(ctx context.Context, t *testing.T, n *i2pdnet.Net, within, spread time.Duration, what string, match func(i2pdnet.LeaseSetInfo) bool) floodfillStore {
	t.Helper()
	t0 := time.Now()
	got := floodfillStore{At: map[string]time.Duration{}}
	poll := func() {
		for _, ff := range n.Floodfills() {
			if _, ok := got.At[ff.Name()]; ok {
				continue
			}
			lss, err := n.LeaseSets(ctx, ff.Index)
			if err != nil {
				continue
			}
			for _, ls := range lss {
				if match(ls) {
					if len(got.At) == 0 {
						got.First, got.FirstAt = ls, time.Now()
					}
					got.At[ff.Name()] = time.Since(t0)
					break
				}
			}
		}
	}
	eventually.True(t, within, what+" stored at a floodfill", func() bool {
		poll()
		return len(got.At) > 0
	})
	eventually.Within(spread, func() bool {
		poll()
		return len(got.At) >= len(n.Floodfills())
	})
	return got
}

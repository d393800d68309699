package balancer

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
)

func testKeys(t testing.TB) (*i2p.PrivateKeys, *i2p.LeaseSetKey) {
	t.Helper()
	seed := bytes.Repeat([]byte{7}, 32)
	k, err := i2p.NewEd25519PrivateKeys(seed, [32]byte{1}, bytes.Repeat([]byte{2}, 256))
	if err != nil {
		t.Fatal(err)
	}
	ek, err := i2p.ParseLeaseSetKey(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k, ek
}

func TestBuildLeaseSetPublished(t *testing.T) {
	keys, ek := testKeys(t)
	now := uint32(t0.Unix())
	leases := grid([]string{"r1", "r2"}, 3) // ends 300..302 s after t0
	for _, tc := range []struct {
		name      string
		highWater uint32
		want      uint32
		err       error
	}{
		{"first leaseset: now", 0, now, nil},
		{"high-water in the past: now", now - 100, now, nil},
		{"same second as the last: one more", now, now + 1, nil},
		{"high-water ahead (clock behind the fsm): after it", now + 5, now + 6, nil},
		{"at the limit ahead", now + 29, now + 30, nil},
		{"too far ahead: refused", now + 30, 0, ErrPublishTooSoon},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls, err := BuildLeaseSet(LeaseSetParams{Keys: keys, EncKey: ek, Leases: leases, Now: t0.Add(300 * time.Millisecond), HighWater: tc.highWater})
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if ls.Published != tc.want || ls.Published <= tc.highWater {
				t.Fatalf("published %d, want %d (high-water %d)", ls.Published, tc.want, tc.highWater)
			}
			if want := now + 302 - ls.Published; uint32(ls.Expires) != want {
				t.Fatalf("expires %d, want %d", ls.Expires, want)
			}
		})
	}
}

// Republishing faster than once a second never repeats or reverses
// published, and keeps it within MaxPublishedAhead of the clock.
func TestBuildLeaseSetMonotonic(t *testing.T) {
	keys, ek := testKeys(t)
	var hw uint32
	leases := grid([]string{"r1"}, 3)
	for i := range 50 {
		now := t0.Add(time.Duration(i) * 700 * time.Millisecond)
		ls, err := BuildLeaseSet(LeaseSetParams{Keys: keys, EncKey: ek, Leases: leases, Now: now, HighWater: hw})
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		if ls.Published <= hw || int64(ls.Published) > now.Unix()+int64(MaxPublishedAhead/time.Second) {
			t.Fatalf("build %d: published %d after %d at %d", i, ls.Published, hw, now.Unix())
		}
		hw = ls.Published
	}
}

// A leader whose clock is minutes behind the one that published last
// (a failover to a slow host) publishes a strictly newer LeaseSet at once:
// the routers' clocks, through the fresh leases' end times, say the high
// water is not ahead of the network. Without fresh leases it still waits.
func TestBuildLeaseSetClockBehind(t *testing.T) {
	keys, ek := testKeys(t)
	good := t0
	hw := uint32(good.Unix()) // the old leader published just now, by a good clock
	slow := good.Add(-5 * time.Minute)
	fresh := grid([]string{"r1", "r2"}, 3)
	for i := range fresh {
		fresh[i].End = good.Add(TunnelLifetime - 20*time.Second) // built 20 s ago
	}
	ls, err := BuildLeaseSet(LeaseSetParams{Keys: keys, EncKey: ek, Leases: fresh, Now: slow, HighWater: hw})
	if err != nil {
		t.Fatalf("slow leader with fresh leases: %v", err)
	}
	if ls.Published != hw+1 {
		t.Fatalf("published %d, want %d (high water + 1)", ls.Published, hw+1)
	}
	// Leases as old as the slow clock say nothing newer: refused as before.
	stale := grid([]string{"r1"}, 3)
	for i := range stale {
		stale[i].End = slow.Add(TunnelLifetime)
	}
	if _, err := BuildLeaseSet(LeaseSetParams{Keys: keys, EncKey: ek, Leases: stale, Now: slow, HighWater: hw}); !errors.Is(err, ErrPublishTooSoon) {
		t.Fatalf("slow leader, leases from its own time: err %v, want ErrPublishTooSoon", err)
	}
}

func TestBuildLeaseSetContent(t *testing.T) {
	keys, ek := testKeys(t)
	leases := []Lease{
		tun("r1", 1, 9*time.Minute),
		tun("r2", 2, 10*time.Minute),
		tun("r3", 3, -time.Second), // ended: dropped
		tun("r4", 4, 20*time.Minute),
	}
	ls, err := BuildLeaseSet(LeaseSetParams{Keys: keys, EncKey: ek, Leases: leases, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Leases) != 3 || ls.Expires != uint16(MaxExpires/time.Second) {
		t.Fatalf("%d leases, expires %d", len(ls.Leases), ls.Expires)
	}
	b, err := ls.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	p, err := i2p.ParseLeaseSet2(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if !p.Destination.Equal(keys.Destination()) || len(p.Keys) != 1 || p.Keys[0].Type != i2p.EncX25519 || !bytes.Equal(p.Keys[0].Key, ek.Public()) {
		t.Fatal("wrong destination or encryption key")
	}
	if p.Leases[0] != leases[0].Lease2() || p.TimeStatus(t0) != i2p.TimeOK {
		t.Fatalf("lease %v, time %s", p.Leases[0], p.TimeStatus(t0))
	}

	for _, tc := range []struct {
		name string
		p    LeaseSetParams
		err  error
	}{
		{"no leases", LeaseSetParams{Keys: keys, EncKey: ek, Now: t0}, ErrNoLeases},
		{"only ended leases", LeaseSetParams{Keys: keys, EncKey: ek, Now: t0, Leases: leases[2:3]}, ErrNoLeases},
		{"no keys", LeaseSetParams{Leases: leases, Now: t0}, ErrNoLeases},
	} {
		_, err := BuildLeaseSet(tc.p)
		if !errors.Is(err, tc.err) {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
}

// BenchmarkBuildLeaseSet measures choosing 16 of 64 leases, building,
// signing and encoding one LeaseSet2.
func BenchmarkBuildLeaseSet(b *testing.B) {
	keys, ek := testKeys(b)
	names := []string{"r1", "r2", "r3", "r4"}
	in := SelectInput{Now: t0, Routers: routers(names...), Tunnels: grid(names, 16), PerRouter: 16, Max: 16}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sel := Spread{}.Select(in)
		ls, err := BuildLeaseSet(LeaseSetParams{Keys: keys, EncKey: ek, Leases: sel.Leases, Now: t0, HighWater: uint32(i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ls.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

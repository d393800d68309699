package i2p

import (
	"crypto/ed25519"
	"testing"
)

// Benchmarks for the LeaseSet2 hot path of the balancer: every lease
// request makes it build and sign one merged LeaseSet2 (goal < 100 µs with
// 16 leases), and routers and tests verify them.

func BenchmarkLeaseSet2BuildSign(b *testing.B) {
	tmpl, k := newTestLeaseSet(b, MaxLeases)
	b.ReportAllocs()
	for b.Loop() {
		ls := &LeaseSet2{
			Destination: tmpl.Destination,
			Published:   tmpl.Published,
			Expires:     tmpl.Expires,
			Keys:        tmpl.Keys,
			Leases:      append([]Lease2(nil), tmpl.Leases...),
		}
		if err := ls.Sign(k); err != nil {
			b.Fatal(err)
		}
		if _, err := ls.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLeaseSet2Verify(b *testing.B) {
	ls, k := newTestLeaseSet(b, MaxLeases)
	raw := signMarshal(b, ls, k)
	b.ReportAllocs()
	for b.Loop() {
		p, err := ParseLeaseSet2(raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

// The stdlib floor under the two benchmarks above: one Ed25519 signature or
// verification over a message the size of a 16-lease LeaseSet2. On a loaded
// machine compare against these rather than against the absolute goal.
func BenchmarkEd25519SignBaseline(b *testing.B) {
	k := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	msg := make([]byte, 1144)
	for b.Loop() {
		ed25519.Sign(k, msg)
	}
}

func BenchmarkEd25519VerifyBaseline(b *testing.B) {
	k := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	msg := make([]byte, 1144)
	sig := ed25519.Sign(k, msg)
	pub := k.Public().(ed25519.PublicKey)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
	}
}

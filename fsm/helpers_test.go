package fsm

import (
	"bytes"
	"testing"

	"github.com/imh-project/imh/i2p"
)

// testKeys makes deterministic Ed25519 keys from one seed byte.
func testKeys(t testing.TB, seed byte) *i2p.PrivateKeys {
	t.Helper()
	var block [32]byte
	block[0] = seed
	k, err := i2p.NewEd25519PrivateKeys(bytes.Repeat([]byte{seed}, 32), block, bytes.Repeat([]byte{seed ^ 0x5a}, 256))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// destPut builds a DestinationPut for keys with fixed stand-ins for the
// sealed blobs (the fsm never opens them).
func destPut(t testing.TB, name string, k *i2p.PrivateKeys) *DestinationPut {
	t.Helper()
	return &DestinationPut{
		Name: name, Destination: k.Destination().Bytes(),
		SealedKeys:        []byte("sealed-keys-" + name),
		SealedLeaseSetKey: []byte("sealed-lskey-" + name),
		LeaseSetPublicKey: bytes.Repeat([]byte{0x42}, 32),
		Settings:          DefaultSettings(),
	}
}

// signedLeaseSet builds a signed LeaseSet2 with n leases published at pub.
func signedLeaseSet(t testing.TB, k *i2p.PrivateKeys, pub uint32, n int) []byte {
	t.Helper()
	ls := &i2p.LeaseSet2{
		Destination: k.Destination(), Published: pub, Expires: 600,
		Keys: []i2p.EncryptionKey{{Type: i2p.EncX25519, Key: bytes.Repeat([]byte{0x42}, 32)}},
	}
	for i := range n {
		var gw i2p.Hash
		gw[0] = byte(i + 1)
		ls.Leases = append(ls.Leases, i2p.Lease2{Gateway: gw, TunnelID: uint32(1000 + i), End: pub + 600})
	}
	if err := ls.Sign(k); err != nil {
		t.Fatal(err)
	}
	b, err := ls.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tunnel(router, dest string, dir Direction, id uint32, expires uint32) Tunnel {
	var gw, hop i2p.Hash
	gw[0], hop[0] = byte(id), byte(id+1)
	return Tunnel{
		TunnelKey: TunnelKey{Router: router, Destination: dest, Direction: dir, ID: id},
		Gateway:   gw, Hops: []i2p.Hash{gw, hop}, Expires: expires,
	}
}

// sampleLog is a fixed log touching every command type.
func sampleLog(t testing.TB) []Command {
	web := Settings{Inbound: 3, Outbound: 2, Hops: 3, Policy: PolicyFailover, Service: ServiceTCP, ServiceAddr: "127.0.0.1:8080", Frontends: true}
	return append(sampleLogV1(t),
		&FrontendPut{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"},
		&FrontendPut{Name: "f2", Addr: "127.0.0.1:7102", Router: "r2"},
		&FrontendPut{Name: "f3", Addr: "127.0.0.1:7103", Router: "r3"}, // r3 was removed
		&FrontendRemove{Name: "f2"},
		&DestinationSet{Name: "web", Settings: web},
	)
}

// sampleLogV1 is the sample log of snapshot version 1 (testdata/golden-v1.snap):
// every command type before frontends existed.
func sampleLogV1(t testing.TB) []Command {
	k1, k2 := testKeys(t, 1), testKeys(t, 2)
	return []Command{
		&RouterPut{Name: "r1", Addr: "127.0.0.1:7001"},
		&RouterPut{Name: "r2", Addr: "127.0.0.1:7002"},
		&RouterPut{Name: "r3", Addr: "127.0.0.1:7003"},
		destPut(t, "web", k1),
		destPut(t, "mail", k2),
		&DestinationSet{Name: "mail", Settings: Settings{Inbound: 2, Outbound: 1, Hops: 2, Policy: PolicySpread, Service: ServiceEcho}},
		&TunnelRecorded{Tunnel: tunnel("r1", "web", Inbound, 11, 1790000600)},
		&TunnelRecorded{Tunnel: tunnel("r2", "web", Inbound, 12, 1790000700)},
		&TunnelRecorded{Tunnel: tunnel("r2", "web", Outbound, 13, 1790000800)},
		&TunnelRecorded{Tunnel: tunnel("r3", "mail", Inbound, 14, 1790000100)},
		&TunnelExpired{Key: TunnelKey{Router: "r2", Destination: "web", Direction: Outbound, ID: 13}},
		&LeaseSetPublished{Destination: "web", LeaseSet: signedLeaseSet(t, k1, 1790000000, 2), Published: 1790000000, Routers: []string{"r1", "r2"}},
		&TunnelsPruned{Before: 1790000200},
		&RouterRemove{Name: "r3"},
		&LeaseSetPublished{Destination: "mail", LeaseSet: signedLeaseSet(t, k2, 1790000050, 1), Published: 1790000050, Routers: []string{"r1"}},
		&DestinationRemove{Name: "mail"},
	}
}

func applyAll(t testing.TB, s *State, log []Command) {
	t.Helper()
	for i, c := range log {
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("encode %d (%s): %v", i, c.Type(), err)
		}
		if err := s.Apply(uint64(i+1), b); err != nil {
			t.Fatalf("apply %d (%s): %v", i, c.Type(), err)
		}
	}
}

package frontendproto

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/imh-project/imh/i2p"
)

// testKeys is a fixed Destination key (Ed25519 seed 00..1f, padding block
// a0..bf, as in I2P-WIRE section 9), so that golden frames are stable.
func testKeys(t testing.TB) *i2p.PrivateKeys {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	var block [32]byte
	for i := range seed {
		seed[i], block[i] = byte(i), 0xa0+byte(i)
	}
	k, err := i2p.NewEd25519PrivateKeys(seed, block, make([]byte, 256))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// transientPub is the public half of a fixed transient Ed25519 key (seed
// of 32 × 0x33).
func transientPub() []byte {
	seed := []byte(strings.Repeat("\x33", ed25519.SeedSize))
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}

// bigDest is a Destination with the largest signing key I2P knows
// (RSA-4096: 384 excess bytes in the certificate), for size limits.
func bigDest(t testing.TB) *i2p.Destination {
	t.Helper()
	pub := make([]byte, i2p.SigRSA4096.PublicKeyLen())
	for i := range pub {
		pub[i] = byte(i)
	}
	var filler [384]byte
	d, err := i2p.NewDestination(i2p.SigRSA4096, pub, i2p.EncElGamal, nil, filler)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// goldenCase is one fixed message and the testdata file that pins it.
type goldenCase struct {
	file string
	msg  Message
}

// goldenCases are built from fixed inputs only (Ed25519 signatures are
// deterministic), one or more per message type.
func goldenCases(t testing.TB) []goldenCase {
	t.Helper()
	k := testKeys(t)
	d := k.Destination()
	off, err := k.SignOffline(1735691400, i2p.SigEd25519, transientPub())
	if err != nil {
		t.Fatal(err)
	}
	grant, err := k.Sign([]byte("imh grant example: transient key may data-attach to r1"))
	if err != nil {
		t.Fatal(err)
	}
	return []goldenCase{
		{"assign.hex", &Assign{Term: 7, Leader: "agent-1", Frontend: "fe-a", Assignments: []Assignment{
			{Name: "web", Destination: d, Router: "r1", Service: "127.0.0.1:8080", Policy: PolicySpread},
			{Name: "irc", Destination: d, Router: "r2", Service: "10.0.0.5:6667", Policy: PolicyFailover, Active: true, Draining: true},
		}}},
		{"assign_empty.hex", &Assign{Term: 1, Leader: "agent-2", Frontend: "fe-b"}},
		{"keyrequest.hex", &KeyRequest{Name: "web", TransientType: i2p.SigEd25519, TransientKey: transientPub()}},
		{"keygrant.hex", &KeyGrant{Name: "web", Offline: off, Router: "r1", Grant: grant}},
		{"keyrefused.hex", &KeyRefused{Name: "web", Reason: "not assigned to this frontend"}},
		{"report.hex", &Report{Frontend: "fe-a", Router: "r1", Dests: []DestReport{
			{Name: "web", Attached: true, BackendUp: true, KeyExpires: 1735691400, Open: 3, Accepted: 120, Refused: 2,
				BytesIn: 0x0102030405, BytesOut: 0x0a0b0c0d0e, Errors: 1, LastError: "dial 127.0.0.1:8080: connection refused"},
			{Name: "irc", Attached: false, BackendUp: true},
		}}},
	}
}

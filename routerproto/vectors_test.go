package routerproto

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/imh-project/imh/i2p"
)

// The I2P-WIRE section 9 inputs.
func vectorSeed() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func vectorBlock() (blk [32]byte) {
	for i := range blk {
		blk[i] = 0xa0 + byte(i)
	}
	return blk
}

func vectorKeys(t testing.TB) *i2p.PrivateKeys {
	t.Helper()
	k, err := i2p.NewEd25519PrivateKeys(vectorSeed(), vectorBlock(), make([]byte, 256))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vectorLeaseSetKey(t testing.TB) *i2p.LeaseSetKey {
	t.Helper()
	b := make([]byte, 32)
	for i := range b {
		b[i] = 0x40 + byte(i)
	}
	k, err := i2p.ParseLeaseSetKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vectorLeaseSet(t testing.TB) *i2p.LeaseSet2 {
	t.Helper()
	keys := vectorKeys(t)
	const published = 1735689600
	var g1, g2 i2p.Hash
	for i := range g1 {
		g1[i], g2[i] = 0x11, 0x22
	}
	ls := &i2p.LeaseSet2{
		Destination: keys.Destination(),
		Published:   published,
		Expires:     600,
		Keys:        []i2p.EncryptionKey{vectorLeaseSetKey(t).EncryptionKey()},
		Leases: []i2p.Lease2{
			{Gateway: g1, TunnelID: 0x01020304, End: published + 600},
			{Gateway: g2, TunnelID: 0x0a0b0c0d, End: published + 590},
		},
	}
	if err := ls.Sign(keys); err != nil {
		t.Fatal(err)
	}
	return ls
}

func readHexFile(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return unhex(t, strings.Join(strings.Fields(string(raw)), ""))
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// TestVectorGetDate reproduces I2P-WIRE 4.2/9: protocol byte + GetDate("0.9.67").
func TestVectorGetDate(t *testing.T) {
	got, err := AppendFrame([]byte{ProtocolByte}, &GetDate{Version: "0.9.67"})
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "2a 00000007 20 06 302e392e3637")
	if !bytes.Equal(got, want) {
		t.Fatalf("GetDate\n got %x\nwant %x", got, want)
	}
}

// TestVectorCreateSession reproduces the 570-byte CreateSession of
// I2P-WIRE 9 exactly (Ed25519 signatures are deterministic) and decodes it
// back, verifying the signature over the received bytes.
func TestVectorCreateSession(t *testing.T) {
	opts := i2p.Mapping{
		"i2cp.dontPublishLeaseSet": "true",
		"i2cp.leaseSetEncType":     "4",
		"i2cp.leaseSetType":        "3",
		"inbound.quantity":         "3",
	}
	sc, err := SignSessionConfig(vectorKeys(t), opts, 0x000001941f297c00)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(&CreateSession{Config: sc})
	if err != nil {
		t.Fatal(err)
	}
	want := readHexFile(t, "createsession.hex")
	if !bytes.Equal(got, want) {
		t.Fatalf("CreateSession differs from I2P-WIRE 9\n got %x\nwant %x", got, want)
	}
	m, n, err := SplitFrame(want)
	if err != nil || n != len(want) {
		t.Fatalf("decode: n=%d err=%v", n, err)
	}
	cs := m.(*CreateSession)
	if err := cs.Config.Verify(); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if cs.Config.Date != 0x000001941f297c00 || cs.Config.Options["inbound.quantity"] != "3" {
		t.Fatalf("decoded %+v", cs.Config)
	}
	if got := cs.Config.Destination.B32(); got != "juyrhhfieocxnfoqxq3grsvemlkpqlnk42tx4we3qof4cu5jhu3a.b32.i2p" {
		t.Fatalf("b32 %s", got)
	}
	// A flipped signature byte must fail verification.
	bad := bytes.Clone(want)
	bad[len(bad)-1] ^= 1
	m, _, err = SplitFrame(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.(*CreateSession).Config.Verify(); err == nil {
		t.Fatal("tampered signature verified")
	}
}

// TestVectorCreateLeaseSet2 reproduces the 628-byte CreateLeaseSet2 of
// I2P-WIRE 9 exactly and decodes it back.
func TestVectorCreateLeaseSet2(t *testing.T) {
	lk := vectorLeaseSetKey(t)
	msg := &CreateLeaseSet2{
		SessionID:   0x1234,
		LeaseSet:    vectorLeaseSet(t),
		PrivateKeys: []LeaseSetPrivateKey{{Type: i2p.EncX25519, Key: lk.Private()}},
	}
	got, err := Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := readHexFile(t, "createleaseset2.hex")
	if !bytes.Equal(got, want) {
		t.Fatalf("CreateLeaseSet2 differs from I2P-WIRE 9\n got %x\nwant %x", got, want)
	}
	m, n, err := SplitFrame(want)
	if err != nil || n != len(want) {
		t.Fatalf("decode: n=%d err=%v", n, err)
	}
	cl := m.(*CreateLeaseSet2)
	if err := cl.LeaseSet.Verify(); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if cl.SessionID != 0x1234 || len(cl.LeaseSet.Leases) != 2 || !bytes.Equal(cl.PrivateKeys[0].Key, lk.Private()) {
		t.Fatalf("decoded %+v", cl)
	}
	if s := cl.PrivateKeys[0].String(); strings.Contains(s, "4041") {
		t.Fatalf("private key leaked in String: %s", s)
	}
}

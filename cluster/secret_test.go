package cluster

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
)

func TestSecretParseAndHide(t *testing.T) {
	t.Parallel()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseSecret(" " + s.Encode() + "\n")
	if err != nil || p != s {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "abc", "AAAA", s.Encode()[:20]} {
		if _, err := ParseSecret(bad); !errors.Is(err, ErrBadSecret) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if bytes.Contains([]byte(out), []byte(s.Encode())) {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if bytes.Equal(s.GossipKey(), s.derive(infoSealing)) || len(s.GossipKey()) != 32 {
		t.Fatal("gossip and sealing keys must differ and be 32 bytes")
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	s1, _ := NewSecret()
	s2, _ := NewSecret()
	a, _ := NewSealer(s1)
	b, _ := NewSealer(s2)
	var dest i2p.Hash
	dest[0] = 7
	plain := []byte("private key file bytes")
	sealed, err := a.Seal(plain, dest, fsm.FieldKeys)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("plaintext visible in sealed blob")
	}
	if id, ok := fsm.SealedKeyID(sealed); !ok || id != s1.KeyID() || s1.KeyID() == s2.KeyID() {
		t.Fatalf("blob names key %v (%v), want %s", id, ok, s1.KeyID())
	}
	again, _ := a.Seal(plain, dest, fsm.FieldKeys)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of the same bytes are equal: nonce reuse")
	}
	got, err := a.Open(sealed, dest, fsm.FieldKeys)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v", err)
	}
	if _, err := b.Open(sealed, dest, fsm.FieldKeys); !errors.Is(err, ErrSealed) {
		t.Fatalf("other secret opened it: %v", err)
	}
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	otherID := bytes.Clone(sealed)
	otherID[1] ^= 1
	for _, blob := range [][]byte{nil, {1}, {2}, bad, otherID, append([]byte{1}, sealed[1:]...), append([]byte{3}, sealed[1:]...)} {
		if _, err := a.Open(blob, dest, fsm.FieldKeys); !errors.Is(err, ErrSealed) {
			t.Fatalf("corrupt blob opened: %v", err)
		}
	}
}

// TestSealSwapAttack: a blob copied into another destination's record, or
// into the other field of its own, does not open.
func TestSealSwapAttack(t *testing.T) {
	t.Parallel()
	s, _ := NewSecret()
	a, _ := NewSealer(s)
	var web, mail i2p.Hash
	web[0], mail[0] = 1, 2
	sealed, err := a.Seal([]byte("web's key file"), web, fsm.FieldKeys)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		dest  i2p.Hash
		field fsm.SealedField
	}{
		{"into another destination", mail, fsm.FieldKeys},
		{"into the other field", web, fsm.FieldLeaseSetKey},
		{"both", mail, fsm.FieldLeaseSetKey},
	} {
		if _, err := a.Open(sealed, tt.dest, tt.field); !errors.Is(err, ErrSealed) {
			t.Errorf("%s: opened (%v)", tt.name, err)
		}
	}
	if _, err := a.Open(sealed, web, fsm.FieldKeys); err != nil {
		t.Fatalf("in place: %v", err)
	}
}

// goldenSecret is bytes 0..31; goldenNonce a0..ab.
func goldenSealer(t *testing.T) (*Sealer, [sealNonce]byte) {
	var s Secret
	for i := range s.b {
		s.b[i] = byte(i)
	}
	sl, err := NewSealer(s)
	if err != nil {
		t.Fatal(err)
	}
	var nonce [sealNonce]byte
	for i := range nonce {
		nonce[i] = byte(0xa0 + i)
	}
	return sl, nonce
}

// Golden blobs of "imh golden plaintext" under goldenSealer. Format 1 was
// written by imh before format 2 (by the code of commit 20ffa9b): it must
// keep opening, for any destination and field.
const (
	goldenSealV1 = "01a0a1a2a3a4a5a6a7a8a9aaabae9977d270321b7f70d16025f19a9fc1d354ed0060ae2bddd0f1b4252eafb3e222837f89"
	goldenSealV2 = "02b1d5311fed04bc5ea0a1a2a3a4a5a6a7a8a9aaabae9977d270321b7f70d16025f19a9fc1d354ed00b23c5d1162cff9300fe1b2e9da2b145d"
)

func TestSealGolden(t *testing.T) {
	t.Parallel()
	sl, nonce := goldenSealer(t)
	var dest i2p.Hash
	for i := range dest {
		dest[i] = byte(0x10 + i)
	}
	plain := "imh golden plaintext"
	v2 := sl.sealWith(nonce, []byte(plain), dest, fsm.FieldLeaseSetKey)
	if hex.EncodeToString(v2) != goldenSealV2 {
		t.Fatalf("format 2 changed: %x", v2)
	}
	if sl.KeyID().String() != "b1d5311fed04bc5e" {
		t.Fatalf("key id changed: %s", sl.KeyID())
	}
	for name, g := range map[string]string{"v1": goldenSealV1, "v2": goldenSealV2} {
		blob, _ := hex.DecodeString(g)
		got, err := sl.Open(blob, dest, fsm.FieldLeaseSetKey)
		if err != nil || string(got) != plain {
			t.Fatalf("golden %s: %q, %v", name, got, err)
		}
	}
	v1, _ := hex.DecodeString(goldenSealV1)
	if got, err := sl.Open(v1, i2p.Hash{}, fsm.FieldKeys); err != nil || string(got) != plain {
		t.Fatalf("format 1 is bound to nothing: %v", err)
	}
}

// TestKeyring: blobs of either secret open; the active secret follows the
// state's key id (the previous one before any rotation).
func TestKeyring(t *testing.T) {
	t.Parallel()
	oldS, _ := NewSecret()
	newS, _ := NewSecret()
	oldOnly, _ := newKeyring(oldS, Secret{})
	both, _ := newKeyring(newS, oldS)
	var dest i2p.Hash
	dest[3] = 9
	ml, err := both.gossipKeyring()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		state    fsm.KeyID
		k        *keyring
		active   fsm.KeyID
		held     bool
		gossipOK bool
	}{
		{"alone, no rotation", fsm.KeyID{}, oldOnly, oldS.KeyID(), true, true},
		{"both, no rotation yet: the previous", fsm.KeyID{}, both, oldS.KeyID(), true, true},
		{"both, rotated", newS.KeyID(), both, newS.KeyID(), true, true},
		{"alone, rotated away", newS.KeyID(), oldOnly, oldS.KeyID(), false, true},
	} {
		active, _, held, err := tt.k.follow(tt.state)
		if err != nil || active != tt.active || held != tt.held {
			t.Fatalf("%s: active %s held %v (%v)", tt.name, active, held, err)
		}
	}
	if !bytes.Equal(ml.GetPrimaryKey(), newS.GossipKey()) || len(ml.GetKeys()) != 2 {
		t.Fatal("gossip keyring did not follow: want the new key primary and both installed")
	}
	oldBlob, _ := oldOnly.Seal([]byte("k"), dest, fsm.FieldKeys)
	newBlob, _ := both.Seal([]byte("k"), dest, fsm.FieldKeys)
	for _, blob := range [][]byte{oldBlob, newBlob} {
		if _, err := both.Open(blob, dest, fsm.FieldKeys); err != nil {
			t.Fatalf("both secrets held: %v", err)
		}
	}
	if _, err := oldOnly.Open(newBlob, dest, fsm.FieldKeys); !errors.Is(err, ErrSealed) {
		t.Fatalf("a blob under a secret not held: %v", err)
	}
	v1, _ := hex.DecodeString(goldenSealV1)
	gs, _ := goldenSealer(t)
	var golden Secret
	for i := range golden.b {
		golden.b[i] = byte(i)
	}
	withGolden, _ := newKeyring(newS, golden)
	if got, err := withGolden.Open(v1, dest, fsm.FieldKeys); err != nil || string(got) != "imh golden plaintext" || gs.KeyID() != golden.KeyID() {
		t.Fatalf("format 1 under the previous secret: %v", err)
	}
}

func TestReadSecretFile(t *testing.T) {
	t.Parallel()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", s.Encode()+"\n")
	empty := write("empty", " \n")
	bad := write("bad", "not base64 of 32 bytes\n")
	for _, tt := range []struct {
		name, path, wantErr string
	}{
		{"as keygen writes it", good, ""},
		{"missing", filepath.Join(dir, "missing"), "secret file: open "},
		{"empty", empty, "secret file " + empty + " is empty"},
		{"not a secret", bad, "secret from " + bad + ": " + ErrBadSecret.Error()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadSecretFile(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ReadSecretFile: %v, want an error starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.KeyID() != s.KeyID() {
				t.Fatalf("ReadSecretFile: key %v, %v; want %v", got.KeyID(), err, s.KeyID())
			}
		})
	}
}

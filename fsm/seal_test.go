package fsm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/imh-project/imh/internal/golden"
)

var (
	keyA = KeyID{0xa1, 2, 3, 4, 5, 6, 7, 8}
	keyB = KeyID{0xb1, 2, 3, 4, 5, 6, 7, 8}
)

// v2Blob is a stand-in for a format 2 sealed blob under id (the fsm reads
// only the header).
func v2Blob(id KeyID, tag string) []byte {
	return append(append([]byte{SealVersion2}, id[:]...), tag...)
}

// resealAll re-seals every destination of s under id.
func resealAll(s *State, id KeyID) *SecretRotated {
	c := &SecretRotated{KeyID: id}
	for _, d := range s.Destinations() {
		c.Dests = append(c.Dests, Resealed{Name: d.Name, Destination: d.Destination,
			SealedKeys: v2Blob(id, "keys-"+d.Name), SealedLeaseSetKey: v2Blob(id, "lskey-"+d.Name)})
	}
	return c
}

// sampleLogV3 is sampleLog, a rotation to keyA and a destination put under
// it: the log of testdata/golden-v3.snap.
func sampleLogV3(t testing.TB) []Command {
	log := sampleLog(t)
	s := New()
	applyAll(t, s, log)
	put := destPut(t, "mail", testKeys(t, 3))
	put.SealedKeys, put.SealedLeaseSetKey = v2Blob(keyA, "keys-mail"), v2Blob(keyA, "lskey-mail")
	return append(log, resealAll(s, keyA), put)
}

func TestSealedKeyID(t *testing.T) {
	if id, ok := SealedKeyID(v2Blob(keyA, "x")); !ok || id != keyA {
		t.Fatalf("v2 blob: %v %v", id, ok)
	}
	for _, blob := range [][]byte{nil, {2, 1, 2}, append([]byte{1}, keyA[:]...), []byte("sealed-keys-web")} {
		if _, ok := SealedKeyID(blob); ok {
			t.Fatalf("%x read as a v2 header", blob)
		}
	}
	if FieldKeys.String() != "keys" || FieldLeaseSetKey.String() != "leaseset-key" {
		t.Fatal("field names are bound into sealed blobs: never rename them")
	}
}

func TestSecretRotated(t *testing.T) {
	base := func(t *testing.T) *State {
		s := New()
		applyAll(t, s, sampleLog(t)[:5]) // routers, web and mail with format 1 stand-ins
		return s
	}
	k1, k9 := testKeys(t, 1), testKeys(t, 9)
	for _, tt := range []struct {
		name string
		cmd  func(s *State) *SecretRotated
		want error
	}{
		{"every destination", func(s *State) *SecretRotated { return resealAll(s, keyA) }, nil},
		{"zero key id", func(s *State) *SecretRotated { return resealAll(s, KeyID{}) }, ErrInvalid},
		{"one missing", func(s *State) *SecretRotated {
			c := resealAll(s, keyA)
			c.Dests = c.Dests[1:]
			return c
		}, ErrInvalid},
		{"listed twice", func(s *State) *SecretRotated {
			c := resealAll(s, keyA)
			c.Dests = append(c.Dests, c.Dests[0])
			return c
		}, ErrInvalid},
		{"blob under another key", func(s *State) *SecretRotated {
			c := resealAll(s, keyA)
			c.Dests[1].SealedLeaseSetKey = v2Blob(keyB, "x")
			return c
		}, ErrInvalid},
		{"format 1 blob", func(s *State) *SecretRotated {
			c := resealAll(s, keyA)
			c.Dests[0].SealedKeys = []byte("sealed-keys-x")
			return c
		}, ErrInvalid},
		{"re-created meanwhile", func(s *State) *SecretRotated {
			c := resealAll(s, keyA)
			c.Dests[1].Destination = k9.Destination().Bytes()
			return c
		}, ErrInvalid},
		{"a removed one is skipped", func(s *State) *SecretRotated {
			c := resealAll(s, keyA)
			c.Dests = append(c.Dests, Resealed{Name: "gone", Destination: k1.Destination().Bytes(),
				SealedKeys: v2Blob(keyA, "k"), SealedLeaseSetKey: v2Blob(keyA, "l")})
			return c
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := base(t)
			before := s.Snapshot()
			c := tt.cmd(s)
			err := s.ApplyCommand(10, c)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				if !bytes.Equal(before, s.Snapshot()) {
					t.Fatal("a refused rotation changed the state")
				}
				return
			}
			if s.SealKeyID() != keyA {
				t.Fatalf("key id %s", s.SealKeyID())
			}
			for _, d := range s.Destinations() {
				if id, ok := SealedKeyID(d.SealedKeys); !ok || id != keyA {
					t.Fatalf("%s keys not re-sealed", d.Name)
				}
				if id, ok := SealedKeyID(d.SealedLeaseSetKey); !ok || id != keyA {
					t.Fatalf("%s leaseset key not re-sealed", d.Name)
				}
			}
			if _, ok := s.Destination("gone"); ok {
				t.Fatal("a skipped name was created")
			}
			after := s.Snapshot()
			if err := s.ApplyCommand(10, c); err != nil || !bytes.Equal(after, s.Snapshot()) {
				t.Fatalf("applied twice: %v, or the state changed", err)
			}
		})
	}
}

// TestDestinationPutAfterRotation: once a key id is recorded, a put is
// accepted only with format 2 blobs under it, so nothing new is sealed
// under a secret the cluster left.
func TestDestinationPutAfterRotation(t *testing.T) {
	k := testKeys(t, 7)
	put := func(keys, lskey []byte) *DestinationPut {
		p := destPut(t, "new", k)
		p.SealedKeys, p.SealedLeaseSetKey = keys, lskey
		return p
	}
	before := New()
	if err := before.ApplyCommand(1, put([]byte("format 1"), v2Blob(keyB, "l"))); err != nil {
		t.Fatalf("before any rotation anything goes: %v", err)
	}
	for _, tt := range []struct {
		name string
		put  *DestinationPut
		want error
	}{
		{"under the key", put(v2Blob(keyA, "k"), v2Blob(keyA, "l")), nil},
		{"format 1", put([]byte("format 1"), v2Blob(keyA, "l")), ErrInvalid},
		{"another key", put(v2Blob(keyA, "k"), v2Blob(keyB, "l")), ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			if err := s.ApplyCommand(1, &SecretRotated{KeyID: keyA}); err != nil {
				t.Fatal(err)
			}
			err := s.ApplyCommand(2, tt.put)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSecretRotatedRoundTrip(t *testing.T) {
	for _, c := range sampleLogV3(t)[len(sampleLog(t)):] {
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", c.Type(), err)
		}
		if b2, err := Encode(d); err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%s: re-encoded differently (%v)", c.Type(), err)
		}
		if _, err := Decode(b[:len(b)-1]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s truncated: %v", c.Type(), err)
		}
	}
}

// TestGoldenSnapshotV3: a state with a recorded key id snapshots as
// version 3 and restores to the same bytes; a state without one still
// writes version 2 (TestGoldenSnapshot).
func TestGoldenSnapshotV3(t *testing.T) {
	s := New()
	applyAll(t, s, sampleLogV3(t))
	path := filepath.Join("testdata", "golden-v3.snap")
	if golden.Updating() {
		if err := os.WriteFile(path, s.Snapshot(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(golden, s.Snapshot()) {
		t.Fatal("snapshot bytes differ from testdata/golden-v3.snap: a format change needs a new snapshot version")
	}
	if golden[len(snapshotMagic)+1] != snapshotVersion3 {
		t.Fatalf("version %d", golden[len(snapshotMagic)+1])
	}
	r := New()
	if err := r.Restore(golden); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if r.SealKeyID() != keyA || !bytes.Equal(r.Snapshot(), golden) {
		t.Fatalf("restored key id %s, or different bytes", r.SealKeyID())
	}
}

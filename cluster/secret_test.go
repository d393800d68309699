package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestSecretParseAndHide(t *testing.T) {
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
	s1, _ := NewSecret()
	s2, _ := NewSecret()
	a, _ := NewSealer(s1)
	b, _ := NewSealer(s2)
	plain := []byte("private key file bytes")
	sealed, err := a.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("plaintext visible in sealed blob")
	}
	again, _ := a.Seal(plain)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of the same bytes are equal: nonce reuse")
	}
	got, err := a.Open(sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v", err)
	}
	if _, err := b.Open(sealed); !errors.Is(err, ErrSealed) {
		t.Fatalf("other secret opened it: %v", err)
	}
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	for _, blob := range [][]byte{nil, {1}, bad, append([]byte{2}, sealed[1:]...)} {
		if _, err := a.Open(blob); !errors.Is(err, ErrSealed) {
			t.Fatalf("corrupt blob opened: %v", err)
		}
	}
}

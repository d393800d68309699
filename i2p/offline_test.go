package i2p

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

func TestOfflineSignatureSignedBytes(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	o := &OfflineSignature{Expires: 1800000000, TransientType: SigEd25519, TransientKey: key}
	want := "6b49d2000007" + hex.EncodeToString(key) // expires u32 | type u16 | key
	if got := hex.EncodeToString(o.SignedBytes()); got != want {
		t.Fatalf("signed bytes %s, want %s", got, want)
	}
}

func TestOfflineSignatureVerify(t *testing.T) {
	k := s9Keys(t)
	other, err := NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpub, _, _ := ed25519.GenerateKey(rand.Reader)
	o, err := k.SignOffline(1800000000, SigEd25519, tpub)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Verify(k.Destination()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, tt := range []struct {
		name string
		dest *Destination
		edit func(*OfflineSignature)
		want error
	}{
		{"another destination", other.Destination(), func(*OfflineSignature) {}, ErrBadSignature},
		{"expiry changed", k.Destination(), func(o *OfflineSignature) { o.Expires++ }, ErrBadSignature},
		{"another transient key", k.Destination(), func(o *OfflineSignature) { o.TransientKey[0] ^= 1 }, ErrBadSignature},
		{"short transient key", k.Destination(), func(o *OfflineSignature) { o.TransientKey = o.TransientKey[:31] }, ErrBadSignature},
		{"type changed", k.Destination(), func(o *OfflineSignature) { o.TransientType = SigECDSAP256 }, ErrBadSignature},
		{"unknown type", k.Destination(), func(o *OfflineSignature) { o.TransientType = 99 }, ErrUnknownSigType},
		{"no signature", k.Destination(), func(o *OfflineSignature) { o.Signature = nil }, ErrBadSignature},
		{"no destination", nil, func(*OfflineSignature) {}, ErrBadSignature},
	} {
		c := &OfflineSignature{Expires: o.Expires, TransientType: o.TransientType, TransientKey: bytes.Clone(o.TransientKey), Signature: bytes.Clone(o.Signature)}
		tt.edit(c)
		if err := c.Verify(tt.dest); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	var none *OfflineSignature
	if err := none.Verify(k.Destination()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("nil: err = %v", err)
	}
}

func TestOfflineSignatureExpired(t *testing.T) {
	o := &OfflineSignature{Expires: 1000}
	for _, tt := range []struct {
		now  time.Time
		want bool
	}{
		{time.Unix(999, 0), false},
		{time.Unix(1000, 0), false},
		{time.Unix(1000, int64(time.Millisecond)), true},
		{time.Unix(1001, 0), true},
	} {
		if got := o.Expired(tt.now); got != tt.want {
			t.Errorf("Expired(%v) = %v, want %v", tt.now.Unix(), got, tt.want)
		}
	}
}

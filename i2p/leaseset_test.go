package i2p

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/imh-project/imh/internal/wire"
)

func TestLeaseConversion(t *testing.T) {
	gw := s9Hash(t, s9DestHash)
	tests := []struct {
		name  string
		endMs uint64
		endS  uint32
		back  uint64
	}{
		{"whole second", 1735690200000, 1735690200, 1735690200000},
		{"truncates ms", 1735690200999, 1735690200, 1735690200000},
		{"zero", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Lease{Gateway: gw, TunnelID: 0x01020304, EndMs: tt.endMs}
			l2 := l.ToLease2()
			if l2 != (Lease2{Gateway: gw, TunnelID: 0x01020304, End: tt.endS}) {
				t.Fatalf("ToLease2 = %+v", l2)
			}
			if back := l2.ToLease(); back.EndMs != tt.back || back.Gateway != gw || back.TunnelID != 0x01020304 {
				t.Fatalf("ToLease = %+v", back)
			}
		})
	}
}

func TestLeaseEncoding(t *testing.T) {
	gw := s9Hash(t, s9DestHash)
	// I2P-WIRE 6.1: gateway(32) tunnel(4) end ms(8); 6.3: gateway tunnel end s(4).
	wantL := s9DestHash + "01020304" + "000001941f3354e8"
	wantL2 := s9DestHash + "01020304" + "67748a58"
	l := Lease{Gateway: gw, TunnelID: 0x01020304, EndMs: 1735690245352}
	if got := hex.EncodeToString(l.AppendBinary(nil)); got != wantL {
		t.Fatalf("Lease = %s, want %s", got, wantL)
	}
	l2 := Lease2{Gateway: gw, TunnelID: 0x01020304, End: 1735690840}
	if got := hex.EncodeToString(l2.AppendBinary(nil)); got != wantL2 {
		t.Fatalf("Lease2 = %s, want %s", got, wantL2)
	}
	r := wire.NewReader(unhex(t, wantL))
	if got := ReadLease(r); got != l || r.Finish() != nil {
		t.Fatalf("ReadLease = %+v, %v", got, r.Finish())
	}
	r = wire.NewReader(unhex(t, wantL2))
	if got := ReadLease2(r); got != l2 || r.Finish() != nil {
		t.Fatalf("ReadLease2 = %+v, %v", got, r.Finish())
	}
	r = wire.NewReader(unhex(t, wantL)[:43])
	if ReadLease(r); r.Err() == nil {
		t.Fatal("43-byte lease read")
	}
	r = wire.NewReader(unhex(t, wantL2)[:39])
	if ReadLease2(r); r.Err() == nil {
		t.Fatal("39-byte lease2 read")
	}
}

// newTestLeaseSet returns an unsigned LS2 of the section-9 Destination with
// n leases.
func newTestLeaseSet(t testing.TB, n int) (*LeaseSet2, *PrivateKeys) {
	t.Helper()
	k := s9Keys(t)
	lk, err := ParseLeaseSetKey(unhex(t, s9X25519Priv))
	if err != nil {
		t.Fatal(err)
	}
	ls := &LeaseSet2{Destination: k.Destination(), Published: s9Published, Expires: 600, Keys: []EncryptionKey{lk.EncryptionKey()}}
	for i := range n {
		var gw Hash
		gw[0], gw[31] = byte(i), 0xee
		ls.Leases = append(ls.Leases, Lease2{Gateway: gw, TunnelID: uint32(1000 + i), End: s9Published + 600 - uint32(i)})
	}
	return ls, k
}

func signMarshal(t testing.TB, ls *LeaseSet2, k *PrivateKeys) []byte {
	t.Helper()
	if err := ls.Sign(k); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	b, err := ls.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return b
}

func TestLeaseSet2LeaseCounts(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16} {
		ls, k := newTestLeaseSet(t, n)
		b := signMarshal(t, ls, k)
		if len(b) != 503+40*n {
			t.Errorf("%d leases: %d bytes, want %d", n, len(b), 503+40*n)
		}
		p, err := ParseLeaseSet2(b)
		if err != nil || len(p.Leases) != n || p.Verify() != nil {
			t.Errorf("%d leases: parse %v", n, err)
		}
	}
	ls, k := newTestLeaseSet(t, 17)
	if err := ls.Sign(k); !errors.Is(err, ErrTooManyLeases) {
		t.Fatalf("Sign 17 leases: err = %v", err)
	}
	// A received LS2 claiming 17 leases (with all their bytes) is rejected.
	ls16, k := newTestLeaseSet(t, 16)
	b := signMarshal(t, ls16, k)
	extra := append(bytes.Clone(b[:len(b)-64]), bytes.Repeat([]byte{0x33}, 40)...)
	extra[438] = 17
	extra = append(extra, b[len(b)-64:]...)
	if _, err := ParseLeaseSet2(extra); !errors.Is(err, ErrTooManyLeases) {
		t.Fatalf("parse 17 leases: err = %v", err)
	}
}

func TestLeaseSet2Keys(t *testing.T) {
	x1, _ := NewLeaseSetKey(rand.Reader)
	x2, _ := NewLeaseSetKey(rand.Reader)
	tests := []struct {
		name    string
		keys    []EncryptionKey
		wantErr bool
	}{
		{"none", nil, true},
		{"one", []EncryptionKey{x1.EncryptionKey()}, false},
		{"x25519 then elgamal", []EncryptionKey{x1.EncryptionKey(), {Type: EncElGamal, Key: pattern(1, 256)}}, false},
		{"unknown type kept by length", []EncryptionKey{{Type: 99, Key: pattern(1, 5)}, x2.EncryptionKey()}, false},
		{"MLKEM768 then X25519", []EncryptionKey{{Type: EncMLKEM768X25519, Key: pattern(9, 32)}, x1.EncryptionKey()}, false},
		{"eight", []EncryptionKey{x1.EncryptionKey(), x2.EncryptionKey(), x1.EncryptionKey(), x2.EncryptionKey(),
			x1.EncryptionKey(), x2.EncryptionKey(), x1.EncryptionKey(), x2.EncryptionKey()}, false},
		{"nine", []EncryptionKey{x1.EncryptionKey(), x2.EncryptionKey(), x1.EncryptionKey(), x2.EncryptionKey(),
			x1.EncryptionKey(), x2.EncryptionKey(), x1.EncryptionKey(), x2.EncryptionKey(), x1.EncryptionKey()}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls, k := newTestLeaseSet(t, 2)
			ls.Keys = tt.keys
			err := ls.Sign(k)
			if tt.wantErr {
				if !errors.Is(err, ErrBadLeaseSet) {
					t.Fatalf("Sign err = %v", err)
				}
				return
			}
			b := signMarshal(t, ls, k)
			p, err := ParseLeaseSet2(b)
			if err != nil || p.Verify() != nil || len(p.Keys) != len(tt.keys) {
				t.Fatalf("parse: %v", err)
			}
			for i := range tt.keys {
				if p.Keys[i].Type != tt.keys[i].Type || !bytes.Equal(p.Keys[i].Key, tt.keys[i].Key) {
					t.Fatalf("key %d = %+v", i, p.Keys[i])
				}
			}
		})
	}
	// Received: numk 0, and an X25519 key with the wrong length.
	ls, k := newTestLeaseSet(t, 1)
	b := signMarshal(t, ls, k)
	zero := append(bytes.Clone(b[:401]), 0)
	zero = append(zero, b[438:]...)
	if _, err := ParseLeaseSet2(zero); !errors.Is(err, ErrBadLeaseSet) {
		t.Fatalf("numk 0: err = %v", err)
	}
	short := bytes.Clone(b)
	short[405] = 31
	if _, err := ParseLeaseSet2(short); !errors.Is(err, ErrBadLeaseSet) {
		t.Fatalf("31-byte X25519 key: err = %v", err)
	}
}

func TestLeaseSet2OptionsSorted(t *testing.T) {
	ls, k := newTestLeaseSet(t, 1)
	ls.Options = Mapping{"z.last": "1", "a.first": "2", "m": ""}
	b := signMarshal(t, ls, k)
	want := "\x00\x1c" + "\x07a.first=\x012;" + "\x01m=\x00;" + "\x06z.last=\x011;"
	if got := string(b[399 : 399+len(want)]); got != want {
		t.Fatalf("options %q, want %q", got, want)
	}
	p, err := ParseLeaseSet2(b)
	if err != nil || p.Verify() != nil || len(p.Options) != 3 || p.Options["a.first"] != "2" {
		t.Fatalf("parse: %v %v", err, p.Options)
	}
	ls.Options = Mapping{"k": string(make([]byte, 256))}
	if err := ls.Sign(k); err == nil {
		t.Fatal("256-byte option value accepted")
	}
}

// TestLeaseSet2UnsortedOptions: a LeaseSet whose signer put its options in
// another order verifies over the received bytes (as i2pd does) and
// re-marshals unchanged; once a field changes, the canonical encoding is used.
func TestLeaseSet2UnsortedOptions(t *testing.T) {
	ls, k := newTestLeaseSet(t, 1)
	ls.Options = Mapping{"a": "1", "b": "2"}
	b := signMarshal(t, ls, k)
	i := bytes.Index(b, []byte("\x01a=\x011;\x01b=\x012;"))
	if i < 0 {
		t.Fatal("options not found")
	}
	copy(b[i:], "\x01b=\x012;\x01a=\x011;")
	msg := append([]byte{3}, b[:len(b)-64]...)
	seed := unhex(t, s9Seed)
	copy(b[len(b)-64:], ed25519.Sign(ed25519.NewKeyFromSeed(seed), msg))
	p, err := ParseLeaseSet2(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(); err != nil {
		t.Fatalf("Verify over received bytes: %v", err)
	}
	if got, _ := p.MarshalBinary(); !bytes.Equal(got, b) {
		t.Fatal("re-marshal changed the bytes")
	}
	p.Options["c"] = "3"
	if err := p.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("changed options still verify: %v", err)
	}
	delete(p.Options, "c")
	if err := p.Verify(); err != nil {
		t.Fatalf("restored options: %v", err)
	}
	p.Leases[0].TunnelID++
	if err := p.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("changed lease still verifies: %v", err)
	}
}

func TestLeaseSet2Tampered(t *testing.T) {
	raw := s9LeaseSetBytes(t)
	verified := 0
	for i := range raw {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		p, err := ParseLeaseSet2(b)
		if err != nil {
			continue // structure broken: rejected before any signature check
		}
		if err := p.Verify(); err == nil {
			t.Fatalf("flipping byte %d still verifies", i)
		}
		verified++
	}
	if verified < 500 {
		t.Fatalf("only %d of %d tampered copies parsed", verified, len(raw))
	}
	for _, n := range []int{0, 390, 391, 398, 438, 582, 584} {
		b := append(bytes.Clone(raw), 0)[:n]
		if _, err := ParseLeaseSet2(b); !errors.Is(err, ErrBadLeaseSet) {
			t.Errorf("%d bytes: err = %v", n, err)
		}
	}
}

func TestLeaseSet2SignErrors(t *testing.T) {
	ls, _ := newTestLeaseSet(t, 1)
	other, _ := NewPrivateKeys(rand.Reader)
	if err := ls.Sign(other); !errors.Is(err, ErrBadLeaseSet) {
		t.Fatalf("foreign keys: err = %v", err)
	}
	if _, err := ls.MarshalBinary(); !errors.Is(err, ErrBadLeaseSet) {
		t.Fatalf("unsigned marshal: err = %v", err)
	}
	if _, err := (&LeaseSet2{}).SignedBytes(); !errors.Is(err, ErrBadLeaseSet) {
		t.Fatalf("no destination: err = %v", err)
	}
	ls.Flags = FlagOffline
	if _, err := ls.SignedBytes(); !errors.Is(err, ErrBadLeaseSet) {
		t.Fatalf("offline flag without block: err = %v", err)
	}
}

func TestLeaseSet2Offline(t *testing.T) {
	ls, k := newTestLeaseSet(t, 2)
	tpub, tpriv, _ := ed25519.GenerateKey(rand.Reader)
	o, err := k.SignOffline(s9Published+86400, SigEd25519, tpub)
	if err != nil {
		t.Fatal(err)
	}
	ls.Offline = o
	if err := ls.SignTransient(tpriv); err != nil {
		t.Fatalf("SignTransient: %v", err)
	}
	b, err := ls.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// I2P-WIRE 6.5 layout after flags (@397): expires(4) type(2) key(32) sig(64).
	wantBlock := "6775d7000007" + hex.EncodeToString(tpub) + hex.EncodeToString(o.Signature)
	if hex.EncodeToString(b[397:399]) != "0001" || hex.EncodeToString(b[399:399+6+32+64]) != wantBlock {
		t.Fatalf("offline block %x", b[397:399+6+32+64])
	}
	if len(b) != 583+6+32+64 {
		t.Fatalf("%d bytes", len(b))
	}
	p, err := ParseLeaseSet2(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Offline == nil || p.Offline.Expires != s9Published+86400 || p.Offline.TransientType != SigEd25519 {
		t.Fatalf("offline = %+v", p.Offline)
	}
	if err := p.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got, _ := p.MarshalBinary(); !bytes.Equal(got, b) {
		t.Fatal("offline LS2 does not round-trip")
	}
	// The LS signature is by the transient key, not the Destination's.
	if k.Destination().Verify(append([]byte{3}, b[:len(b)-64]...), b[len(b)-64:]) == nil {
		t.Fatal("Destination key verifies the transient signature")
	}
	for _, tt := range []struct {
		name string
		off  int
	}{
		{"offline expiry", 399},
		{"transient key", 405},
		{"offline signature", 437},
		{"lease", len(b) - 70},
		{"ls signature", len(b) - 1},
	} {
		bad := bytes.Clone(b)
		bad[tt.off] ^= 0x80
		p, err := ParseLeaseSet2(bad)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if err := p.Verify(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("tampered %s: err = %v", tt.name, err)
		}
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if err := ls.SignTransient(other); !errors.Is(err, ErrBadLeaseSet) {
		t.Fatalf("mismatched transient key: err = %v", err)
	}
	ls.Offline = nil
	if err := ls.SignTransient(tpriv); !errors.Is(err, ErrBadLeaseSet) {
		t.Fatalf("no block: err = %v", err)
	}
	if _, err := k.SignOffline(1, SigEd25519, tpub[:31]); err == nil {
		t.Fatal("31-byte transient key certified")
	}
}

func TestLeaseSet2TimeStatus(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(s, 0) }
	const p = s9Published
	tests := []struct {
		name    string
		now     time.Time
		offline uint32
		want    TimeStatus
	}{
		{"at publication", at(p), 0, TimeOK},
		{"midway", at(p + 300), 0, TimeOK},
		{"one second before expiry", at(p + 599), 0, TimeOK},
		{"at expiry", at(p + 600), 0, TimeExpired},
		{"long after", at(p + 86400*365), 0, TimeExpired},
		{"clock 60s behind publisher", at(p - 60), 0, TimeOK},
		{"published in the future", at(p - 61), 0, TimeNotYetValid},
		{"far past", at(0), 0, TimeNotYetValid},
		{"offline key expired", at(p + 300), p + 200, TimeExpired},
		{"offline key valid", at(p + 300), p + 400, TimeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls, _ := newTestLeaseSet(t, 1)
			if tt.offline != 0 {
				ls.Offline = &OfflineSignature{Expires: tt.offline, TransientType: SigEd25519}
			}
			if got := ls.TimeStatus(tt.now); got != tt.want {
				t.Fatalf("TimeStatus = %s, want %s", got, tt.want)
			}
		})
	}
	ls, _ := newTestLeaseSet(t, 1)
	ls.Expires = 3600 // expiry beyond what routers accept
	if got := ls.TimeStatus(at(p)); got != TimeNotYetValid {
		t.Fatalf("1h expiry: %s", got)
	}
}

// TestLeaseSet2ClockIndependent: the 2025 section-9 LeaseSet is long expired
// and one published in 2100 is not yet valid, yet both decode and verify.
func TestLeaseSet2ClockIndependent(t *testing.T) {
	p, err := ParseLeaseSet2(s9LeaseSetBytes(t))
	if err != nil || p.Verify() != nil {
		t.Fatalf("section 9: %v", err)
	}
	if got := p.TimeStatus(time.Now()); got != TimeExpired {
		t.Fatalf("section 9 now: %s", got)
	}
	ls, k := newTestLeaseSet(t, 1)
	ls.Published = 4102444800 // 2100-01-01
	b := signMarshal(t, ls, k)
	f, err := ParseLeaseSet2(b)
	if err != nil || f.Verify() != nil {
		t.Fatalf("2100: %v", err)
	}
	if got := f.TimeStatus(time.Now()); got != TimeNotYetValid {
		t.Fatalf("2100 now: %s", got)
	}
}

func TestLeaseSet2TimeStatusNear2106(t *testing.T) {
	ls, _ := newTestLeaseSet(t, 1)
	ls.Published = 0xFFFFFF00 // 2106; published + 600 wraps a u32
	if got := ls.TimeStatus(time.Unix(0xFFFFFF00+10, 0)); got != TimeOK {
		t.Fatalf("TimeStatus = %s, want ok", got)
	}
}

package routerproto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/imh-project/imh/i2p"
)

// offlineFixture is a Destination with a transient Ed25519 key it certified.
type offlineFixture struct {
	keys      *i2p.PrivateKeys
	transient ed25519.PrivateKey
	off       *i2p.OfflineSignature
}

func newOfflineFixture(t *testing.T, keys *i2p.PrivateKeys) offlineFixture {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	off, err := keys.SignOffline(1800000000, i2p.SigEd25519, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return offlineFixture{keys: keys, transient: priv, off: off}
}

func newKeys(t *testing.T) *i2p.PrivateKeys {
	t.Helper()
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signed builds a config of f's Destination with opts (taken as they are:
// no offline options added) signed by priv, bypassing SignTransient's checks.
func (f offlineFixture) signed(t *testing.T, opts i2p.Mapping, priv ed25519.PrivateKey) *SessionConfig {
	t.Helper()
	sc := &SessionConfig{Destination: f.keys.Destination(), Options: opts, Date: 1234}
	msg, err := sc.SignedBytes()
	if err != nil {
		t.Fatal(err)
	}
	sc.Signature = ed25519.Sign(priv, msg)
	return sc
}

// offlineOptions returns opts plus the offline options of off, written
// by hand.
func offlineOptions(opts i2p.Mapping, off *i2p.OfflineSignature) i2p.Mapping {
	o := maps.Clone(opts)
	o[OptOfflineExpiration] = strconv.FormatUint(uint64(off.Expires), 10)
	o[OptTransientKey] = strconv.Itoa(int(off.TransientType)) + ":" + i2p.Base64.EncodeToString(off.TransientKey)
	o[OptOfflineSignature] = i2p.Base64.EncodeToString(off.Signature)
	return o
}

// offlineCreateSessionBody is a CreateSession body signed by a transient
// key with an attach grant, for the fuzz corpus.
func offlineCreateSessionBody(tb testing.TB) []byte {
	keys := vectorKeys(tb)
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	off, err := keys.SignOffline(1800000000, i2p.SigEd25519, priv.Public().(ed25519.PublicKey))
	if err != nil {
		tb.Fatal(err)
	}
	grant, err := SignAttachGrant(keys, "r-a", off)
	if err != nil {
		tb.Fatal(err)
	}
	sc := &SessionConfig{Destination: keys.Destination(), Date: 1234, Options: i2p.Mapping{
		OptAttach: "data", OptGrantRouter: "r-a", OptGrant: i2p.Base64.EncodeToString(grant),
	}}
	if err := sc.SignTransient(priv, off); err != nil {
		tb.Fatal(err)
	}
	body, err := (&CreateSession{Config: sc}).AppendBody(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

func TestOfflineSessionConfigRoundTrip(t *testing.T) {
	f := newOfflineFixture(t, vectorKeys(t))
	opts := i2p.Mapping{OptAttach: "data"}
	sc := &SessionConfig{Destination: f.keys.Destination(), Options: opts, Date: 1234}
	if err := sc.SignTransient(f.transient, f.off); err != nil {
		t.Fatal(err)
	}
	if len(opts) != 1 {
		t.Fatalf("SignTransient changed the caller's map: %v", opts)
	}
	if got := sc.Options[OptTransientKey]; !strings.HasPrefix(got, "7:") || sc.Options[OptOfflineExpiration] != "1800000000" {
		t.Fatalf("offline options %v", sc.Options)
	}
	if err := sc.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	body, err := (&CreateSession{Config: sc}).AppendBody(nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(TypeCreateSession, body)
	if err != nil {
		t.Fatal(err)
	}
	got := m.(*CreateSession).Config
	if err := got.Verify(); err != nil {
		t.Fatalf("Verify after decoding: %v", err)
	}
	off, err := got.Offline()
	if err != nil || off == nil {
		t.Fatalf("Offline: %v, %v", off, err)
	}
	if off.Expires != f.off.Expires || off.TransientType != i2p.SigEd25519 ||
		!bytes.Equal(off.TransientKey, f.off.TransientKey) || !bytes.Equal(off.Signature, f.off.Signature) {
		t.Fatalf("decoded offline signature %+v, want %+v", off, f.off)
	}
	if again, err := m.AppendBody(nil); err != nil || !bytes.Equal(again, body) {
		t.Fatalf("re-encoding changed the bytes (err %v)", err)
	}
	// Signed by the transient key: the Destination's key does not verify it.
	msg, _ := got.SignedBytes()
	if f.keys.Destination().Verify(msg, got.Signature) == nil {
		t.Fatal("the Destination key verifies a transient signature")
	}
	if plain, _ := SignSessionConfig(f.keys, opts, 1234); plain != nil {
		if off, err := plain.Offline(); off != nil || err != nil {
			t.Fatalf("config without offline options: %v, %v", off, err)
		}
	}
}

func TestOfflineSessionConfigVerifyFails(t *testing.T) {
	f := newOfflineFixture(t, newKeys(t))
	g := newOfflineFixture(t, newKeys(t)) // another Destination, another transient key
	base := i2p.Mapping{OptAttach: "data"}
	good := offlineOptions(base, f.off)
	if err := f.signed(t, good, f.transient).Verify(); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	without := func(k string) i2p.Mapping { o := maps.Clone(good); delete(o, k); return o }
	with := func(k, v string) i2p.Mapping { o := maps.Clone(good); o[k] = v; return o }
	// The other Destination's certificate of f's transient key.
	byOther, err := g.keys.SignOffline(f.off.Expires, i2p.SigEd25519, f.off.TransientKey)
	if err != nil {
		t.Fatal(err)
	}
	// A P-256 transient key, certified: only Ed25519 may sign configs.
	p256, err := f.keys.SignOffline(f.off.Expires, i2p.SigECDSAP256, bytes.Repeat([]byte{1}, 64))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		sc   *SessionConfig
		want error
	}{
		{"signed by another transient key", f.signed(t, good, g.transient), i2p.ErrBadSignature},
		{"transient key not the certified one", f.signed(t, with(OptTransientKey, "7:"+i2p.Base64.EncodeToString(g.off.TransientKey)), g.transient), i2p.ErrBadSignature},
		{"offline signature by another destination", f.signed(t, offlineOptions(base, byOther), f.transient), i2p.ErrBadSignature},
		{"offline expiry changed", f.signed(t, with(OptOfflineExpiration, "1800000001"), f.transient), i2p.ErrBadSignature},
		{"no expiration", f.signed(t, without(OptOfflineExpiration), f.transient), ErrBadSessionConfig},
		{"no transient key", f.signed(t, without(OptTransientKey), f.transient), ErrBadSessionConfig},
		{"no offline signature", f.signed(t, without(OptOfflineSignature), f.transient), ErrBadSessionConfig},
		{"expiration not decimal", f.signed(t, with(OptOfflineExpiration, "soon"), f.transient), ErrBadSessionConfig},
		{"expiration beyond u32", f.signed(t, with(OptOfflineExpiration, "4294967296"), f.transient), ErrBadSessionConfig},
		{"transient key without type", f.signed(t, with(OptTransientKey, i2p.Base64.EncodeToString(f.off.TransientKey)), f.transient), ErrBadSessionConfig},
		{"transient key of unknown type", f.signed(t, with(OptTransientKey, "99:"+i2p.Base64.EncodeToString(f.off.TransientKey)), f.transient), ErrBadSessionConfig},
		{"transient key too short", f.signed(t, with(OptTransientKey, "7:"+i2p.Base64.EncodeToString(f.off.TransientKey[:31])), f.transient), ErrBadSessionConfig},
		{"offline signature not base64", f.signed(t, with(OptOfflineSignature, "!!"), f.transient), ErrBadSessionConfig},
		{"P-256 transient key", f.signed(t, offlineOptions(base, p256), f.transient), i2p.ErrUnsupportedSigType},
	} {
		if err := tt.sc.Verify(); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}

	// An option changed after signing (as received: the bytes differ).
	sc := &SessionConfig{Destination: f.keys.Destination(), Options: base, Date: 1234}
	if err := sc.SignTransient(f.transient, f.off); err != nil {
		t.Fatal(err)
	}
	body, err := (&CreateSession{Config: sc}).AppendBody(nil)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(body, []byte("data"))
	body[i] = 'D'
	m, err := Decode(TypeCreateSession, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.(*CreateSession).Config.Verify(); !errors.Is(err, i2p.ErrBadSignature) {
		t.Fatalf("tampered option: Verify = %v", err)
	}
}

func TestSignTransientRefuses(t *testing.T) {
	f := newOfflineFixture(t, newKeys(t))
	g := newOfflineFixture(t, newKeys(t))
	d := f.keys.Destination()
	for _, tt := range []struct {
		name string
		sc   *SessionConfig
		priv ed25519.PrivateKey
		off  *i2p.OfflineSignature
	}{
		{"no destination", &SessionConfig{}, f.transient, f.off},
		{"no offline signature", &SessionConfig{Destination: d}, f.transient, nil},
		{"key not the certified one", &SessionConfig{Destination: d}, g.transient, f.off},
		{"certified by another destination", &SessionConfig{Destination: d}, g.transient, g.off},
		{"short key", &SessionConfig{Destination: d}, f.transient[:32], f.off},
	} {
		if err := tt.sc.SignTransient(tt.priv, tt.off); !errors.Is(err, ErrBadSessionConfig) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestAttachGrant(t *testing.T) {
	f := newOfflineFixture(t, newKeys(t))
	g := newOfflineFixture(t, newKeys(t))
	d := f.keys.Destination()

	want := hex.EncodeToString([]byte("imh-attach-grant-v1")) + "00" + "03" + hex.EncodeToString([]byte("r-a")) +
		"6b49d2000007" + hex.EncodeToString(f.off.TransientKey)
	if got := hex.EncodeToString(AttachGrantBytes("r-a", f.off)); got != want {
		t.Fatalf("grant bytes\n%s, want\n%s", got, want)
	}

	sig, err := SignAttachGrant(f.keys, "r-a", f.off)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyAttachGrant(d, "r-a", f.off, sig); err != nil {
		t.Fatalf("VerifyAttachGrant: %v", err)
	}
	// The same Destination's certificate of another transient key.
	other, err := f.keys.SignOffline(f.off.Expires, i2p.SigEd25519, g.off.TransientKey)
	if err != nil {
		t.Fatal(err)
	}
	later, err := f.keys.SignOffline(f.off.Expires+1, i2p.SigEd25519, f.off.TransientKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		d      *i2p.Destination
		router string
		off    *i2p.OfflineSignature
	}{
		{"another router", d, "r-b", f.off},
		{"a router whose name extends it", d, "r-a2", f.off},
		{"another transient key", d, "r-a", other},
		{"another expiry", d, "r-a", later},
		{"another destination", g.keys.Destination(), "r-a", f.off},
		{"no router", d, "", f.off},
		{"no offline signature", d, "r-a", nil},
		{"no destination", nil, "r-a", f.off},
	} {
		if err := VerifyAttachGrant(tt.d, tt.router, tt.off, sig); !errors.Is(err, ErrBadGrant) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	long := strings.Repeat("r", MaxGrantRouterLen+1)
	if AttachGrantBytes(long, f.off) != nil {
		t.Error("grant bytes for a 256-byte router name")
	}
	if _, err := SignAttachGrant(f.keys, long, f.off); !errors.Is(err, ErrBadGrant) {
		t.Errorf("sign for a 256-byte name: %v", err)
	}
	if _, err := SignAttachGrant(nil, "r-a", f.off); !errors.Is(err, ErrBadGrant) {
		t.Errorf("sign without keys: %v", err)
	}

	sc := &SessionConfig{Options: i2p.Mapping{OptGrantRouter: "r-a", OptGrant: i2p.Base64.EncodeToString(sig)}}
	if router, got, err := sc.AttachGrant(); err != nil || router != "r-a" || !bytes.Equal(got, sig) {
		t.Fatalf("AttachGrant: %q %x %v", router, got, err)
	}
	for _, opts := range []i2p.Mapping{
		{OptGrantRouter: "r-a"},
		{OptGrant: i2p.Base64.EncodeToString(sig)},
		{OptGrantRouter: "", OptGrant: i2p.Base64.EncodeToString(sig)},
		{OptGrantRouter: "r-a", OptGrant: "!!"},
	} {
		if _, _, err := (&SessionConfig{Options: opts}).AttachGrant(); !errors.Is(err, ErrBadGrant) {
			t.Errorf("AttachGrant of %v: %v", opts, err)
		}
	}
}

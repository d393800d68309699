package i2p

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// Key lengths of I2P-WIRE 3.1 and 3.2, typed in from the document's tables.
var sigTable = []struct {
	t                SigType
	name             string
	pub, priv, sig   int
	certExcessSigKey int
}{
	{0, "DSA_SHA1", 128, 20, 40, 0},
	{1, "ECDSA_SHA256_P256", 64, 32, 64, 0},
	{2, "ECDSA_SHA384_P384", 96, 48, 96, 0},
	{3, "ECDSA_SHA512_P521", 132, 66, 132, 4},
	{4, "RSA_SHA256_2048", 256, 512, 256, 128},
	{5, "RSA_SHA384_3072", 384, 768, 384, 256},
	{6, "RSA_SHA512_4096", 512, 1024, 512, 384},
	{7, "EdDSA_SHA512_Ed25519", 32, 32, 64, 0},
	{8, "EdDSA_SHA512_Ed25519ph", 32, 32, 64, 0},
	{11, "RedDSA_SHA512_Ed25519", 32, 32, 64, 0},
}

var encTable = []struct {
	t         EncType
	name      string
	pub, priv int
}{
	{0, "ElGamal", 256, 256},
	{1, "EC_P256", 64, 32},
	{2, "EC_P384", 96, 48},
	{3, "EC_P521", 132, 66},
	{4, "ECIES_X25519", 32, 32},
	{5, "MLKEM512_X25519", 32, 32},
	{6, "MLKEM768_X25519", 32, 32},
	{7, "MLKEM1024_X25519", 32, 32},
}

func TestTypeTables(t *testing.T) {
	for _, s := range sigTable {
		if !s.t.Known() || s.t.String() != s.name || s.t.PublicKeyLen() != s.pub ||
			s.t.PrivateKeyLen() != s.priv || s.t.SignatureLen() != s.sig {
			t.Errorf("sig type %d: %s pub %d priv %d sig %d", s.t, s.t, s.t.PublicKeyLen(), s.t.PrivateKeyLen(), s.t.SignatureLen())
		}
	}
	for _, e := range encTable {
		if !e.t.Known() || e.t.String() != e.name || e.t.PublicKeyLen() != e.pub || e.t.PrivateKeyLen() != e.priv {
			t.Errorf("enc type %d: %s pub %d priv %d", e.t, e.t, e.t.PublicKeyLen(), e.t.PrivateKeyLen())
		}
	}
	for _, u := range []SigType{9, 10, 12, 20, 65280, 65535} {
		if u.Known() || u.String() != "SigType("+strconv.Itoa(int(u))+")" {
			t.Errorf("sig type %d known as %s", u, u)
		}
	}
	for _, u := range []EncType{8, 255, 65535} {
		if u.Known() || u.String() != "EncType("+strconv.Itoa(int(u))+")" {
			t.Errorf("enc type %d known as %s", u, u)
		}
	}
}

// pattern returns n bytes counting up from start, so keys are recognisable.
func pattern(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// handDestination lays out a KeysAndCert by the rules of I2P-WIRE 2.4,
// independently of NewDestination: crypto key left-aligned, signing key
// right-aligned, excess (signing first) in the key certificate.
func handDestination(sig SigType, sigPub []byte, enc EncType, encPub []byte) []byte {
	area := bytes.Repeat([]byte{0xcc}, 384)
	copy(area, encPub)
	var ex []byte
	if len(sigPub) <= 128 {
		copy(area[384-len(sigPub):], sigPub)
	} else {
		copy(area[256:], sigPub[:128])
		ex = sigPub[128:]
	}
	cert := []byte{byte(sig >> 8), byte(sig), byte(enc >> 8), byte(enc)}
	cert = append(cert, ex...)
	out := append(area, 5, byte(len(cert)>>8), byte(len(cert)))
	return append(out, cert...)
}

func TestParseCertificate(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		typ     uint8
		payload string
		n       int
		wantErr bool
	}{
		{"null", "000000", 0, "", 3, false},
		{"key ed25519", "05000400070000", 5, "00070000", 7, false},
		{"key with trailing", "05000400070000ffff", 5, "00070000", 7, false},
		{"hidden", "020000", 2, "", 3, false},
		{"empty", "", 0, "", 0, true},
		{"short header", "0500", 0, "", 0, true},
		{"short payload", "050004000700", 0, "", 0, true},
		{"oversize length", "05ffff", 0, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, n, err := ParseCertificate(unhex(t, tt.in))
			if tt.wantErr {
				if err == nil || !errors.Is(err, ErrBadCertificate) {
					t.Fatalf("err = %v, want ErrBadCertificate", err)
				}
				return
			}
			if err != nil || c.Type != tt.typ || hex.EncodeToString(c.Payload) != tt.payload || n != tt.n {
				t.Fatalf("got %d %x n=%d err=%v", c.Type, c.Payload, n, err)
			}
			if b, _ := c.AppendBinary(nil); hex.EncodeToString(b) != tt.in[:2*n] {
				t.Fatalf("re-encoded %x", b)
			}
		})
	}
}

func TestKeyCertificateEverySigType(t *testing.T) {
	for _, s := range sigTable {
		t.Run(s.name, func(t *testing.T) {
			ex := pattern(0x80, s.certExcessSigKey)
			payload := append([]byte{0, byte(s.t), 0, 0}, ex...)
			c := Certificate{Type: CertKey, Payload: payload}
			kc, err := c.KeyCertificate()
			if err != nil {
				t.Fatalf("KeyCertificate: %v", err)
			}
			if kc.SigType != s.t || kc.EncType != EncElGamal || !bytes.Equal(kc.SigExcess, ex) || len(kc.EncExcess) != 0 {
				t.Fatalf("got %+v", kc)
			}
			if got := kc.Certificate(); got.Type != CertKey || !bytes.Equal(got.Payload, payload) {
				t.Fatalf("re-encoded %x", got.Payload)
			}
			for _, bad := range []int{-1, +1} {
				n := len(payload) + bad
				p := append(bytes.Clone(payload), 0xaa)[:n]
				if _, err := (Certificate{Type: CertKey, Payload: p}).KeyCertificate(); !errors.Is(err, ErrBadCertificate) {
					t.Errorf("payload of %d bytes (want %d): err = %v", n, len(payload), err)
				}
			}
		})
	}
}

func TestKeyCertificateEveryEncType(t *testing.T) {
	for _, e := range encTable {
		t.Run(e.name, func(t *testing.T) {
			c := Certificate{Type: CertKey, Payload: []byte{0, 7, byte(e.t >> 8), byte(e.t)}}
			kc, err := c.KeyCertificate()
			if err != nil || kc.SigType != SigEd25519 || kc.EncType != e.t {
				t.Fatalf("got %+v, %v", kc, err)
			}
			c.Payload = append(c.Payload, 0)
			if _, err := c.KeyCertificate(); !errors.Is(err, ErrBadCertificate) {
				t.Fatalf("excess byte accepted: %v", err)
			}
		})
	}
}

func TestKeyCertificateRejects(t *testing.T) {
	tests := []struct {
		name string
		c    Certificate
		want error
	}{
		{"not a key cert", Certificate{Type: CertNull}, ErrBadCertificate},
		{"short", Certificate{Type: CertKey, Payload: []byte{0, 7, 0}}, ErrBadCertificate},
		{"unknown sig 9", Certificate{Type: CertKey, Payload: []byte{0, 9, 0, 0}}, ErrUnknownSigType},
		{"unknown sig 12", Certificate{Type: CertKey, Payload: []byte{0, 12, 0, 0}}, ErrUnknownSigType},
		{"unknown enc 8", Certificate{Type: CertKey, Payload: []byte{0, 7, 0, 8}}, ErrUnknownEncType},
		{"unknown enc 255", Certificate{Type: CertKey, Payload: []byte{0, 7, 0, 255}}, ErrUnknownEncType},
		{"P521 without excess", Certificate{Type: CertKey, Payload: []byte{0, 3, 0, 0}}, ErrBadCertificate},
		{"P521 with 3 excess", Certificate{Type: CertKey, Payload: []byte{0, 3, 0, 0, 1, 2, 3}}, ErrBadCertificate},
		{"P521 with 5 excess", Certificate{Type: CertKey, Payload: []byte{0, 3, 0, 0, 1, 2, 3, 4, 5}}, ErrBadCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.c.KeyCertificate(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDestinationEveryType parses a hand-made KeysAndCert for every signing
// and crypto type pair and checks keys, hash, base64 and b32.
func TestDestinationEveryType(t *testing.T) {
	b32 := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	for _, s := range sigTable {
		for _, e := range encTable {
			t.Run(s.name+"/"+e.name, func(t *testing.T) {
				sigPub, encPub := pattern(0x10, s.pub), pattern(0x40, e.pub)
				raw := handDestination(s.t, sigPub, e.t, encPub)
				if want := 391 + s.certExcessSigKey; len(raw) != want {
					t.Fatalf("hand layout %d bytes, want %d", len(raw), want)
				}
				d, n, err := ParseDestination(append(bytes.Clone(raw), 1, 2, 3))
				if err != nil || n != len(raw) {
					t.Fatalf("parse: n=%d err=%v", n, err)
				}
				if d.SigType() != s.t || d.EncType() != e.t || !bytes.Equal(d.Bytes(), raw) || d.Len() != len(raw) {
					t.Fatalf("parsed %s/%s len %d", d.SigType(), d.EncType(), d.Len())
				}
				if !bytes.Equal(d.SigningPublicKey(), sigPub) {
					t.Errorf("signing key %x, want %x", d.SigningPublicKey(), sigPub)
				}
				if !bytes.Equal(d.EncryptionPublicKey(), encPub) {
					t.Errorf("encryption key %x, want %x", d.EncryptionPublicKey(), encPub)
				}
				h := sha256.Sum256(raw)
				if d.Hash() != Hash(h) || d.B32() != b32.EncodeToString(h[:])+".b32.i2p" || len(d.B32()) != 60 {
					t.Errorf("hash %s b32 %s", d.Hash(), d.B32())
				}
				if got, err := Base64.DecodeString(d.Base64()); err != nil || !bytes.Equal(got, raw) ||
					strings.ContainsAny(d.Base64(), "+/_") {
					t.Errorf("base64 %q does not round-trip: %v", d.Base64(), err)
				}
				kc, err := d.Certificate().KeyCertificate()
				if err != nil || kc.SigType != s.t || kc.EncType != e.t {
					t.Errorf("Certificate() = %+v, %v", kc, err)
				}
				// NewDestination lays out the same bytes from the same keys.
				var filler [keyAreaLen]byte
				copy(filler[:], bytes.Repeat([]byte{0xcc}, 384))
				nd, err := NewDestination(s.t, sigPub, e.t, encPub, filler)
				if err != nil || !bytes.Equal(nd.Bytes(), raw) {
					t.Errorf("NewDestination differs: %v", err)
				}
				// Every truncation is rejected.
				for cut := 0; cut < len(raw); cut += 1 + cut/8 {
					if _, _, err := ParseDestination(raw[:cut]); !errors.Is(err, ErrBadDestination) {
						t.Fatalf("truncated to %d: err = %v", cut, err)
					}
				}
			})
		}
	}
}

func TestDestinationP521Layout(t *testing.T) {
	sigPub := pattern(0x01, 132)
	raw := handDestination(SigECDSAP521, sigPub, EncElGamal, nil)
	// The first 128 key bytes fill the signing area 256..383; bytes 129..132
	// follow the 4-byte type fields in the certificate (7+4 = cert length 8).
	if !bytes.Equal(raw[256:384], sigPub[:128]) || !bytes.Equal(raw[384:387], []byte{5, 0, 8}) ||
		!bytes.Equal(raw[387:391], []byte{0, 3, 0, 0}) || !bytes.Equal(raw[391:], sigPub[128:]) {
		t.Fatalf("hand layout wrong: %x", raw[256:])
	}
	d, _, err := ParseDestination(raw)
	if err != nil || !bytes.Equal(d.SigningPublicKey(), sigPub) {
		t.Fatalf("parse: %v key %x", err, d.SigningPublicKey())
	}
	for _, excess := range []int{0, 3, 5, 8} {
		bad := append(bytes.Clone(raw[:384]), 5, 0, byte(4+excess), 0, 3, 0, 0)
		bad = append(bad, pattern(0x90, excess)...)
		if _, _, err := ParseDestination(bad); !errors.Is(err, ErrBadDestination) || !errors.Is(err, ErrBadCertificate) {
			t.Errorf("P-521 with %d excess bytes: err = %v", excess, err)
		}
	}
}

func TestDestinationNullCertAndRejects(t *testing.T) {
	area := pattern(0, 384)
	d, n, err := ParseDestination(append(bytes.Clone(area), 0, 0, 0))
	if err != nil || n != 387 || d.SigType() != SigDSASHA1 || d.EncType() != EncElGamal ||
		!bytes.Equal(d.SigningPublicKey(), area[256:]) || !bytes.Equal(d.EncryptionPublicKey(), area[:256]) {
		t.Fatalf("NULL cert: n=%d err=%v %s/%s", n, err, d.SigType(), d.EncType())
	}
	for _, tt := range []struct {
		name string
		cert []byte
	}{
		{"null with payload", []byte{0, 0, 1, 0}},
		{"hashcash", []byte{1, 0, 0}},
		{"hidden", []byte{2, 0, 0}},
		{"signed", append([]byte{3, 0, 40}, make([]byte, 40)...)},
		{"multiple", []byte{4, 0, 0}},
		{"key cert too short", []byte{5, 0, 2, 0, 7}},
		{"key cert with excess", []byte{5, 0, 5, 0, 7, 0, 0, 0}},
	} {
		if _, _, err := ParseDestination(append(bytes.Clone(area), tt.cert...)); !errors.Is(err, ErrBadDestination) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
}

func TestNewDestinationRejects(t *testing.T) {
	var filler [keyAreaLen]byte
	if _, err := NewDestination(SigEd25519, make([]byte, 31), EncElGamal, nil, filler); err == nil {
		t.Error("31-byte Ed25519 key accepted")
	}
	if _, err := NewDestination(SigType(9), make([]byte, 64), EncElGamal, nil, filler); err == nil {
		t.Error("unknown sig type accepted")
	}
	if _, err := NewDestination(SigEd25519, make([]byte, 32), EncX25519, make([]byte, 31), filler); err == nil {
		t.Error("31-byte X25519 key accepted")
	}
}

package i2p

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"
)

// i2pECDSA signs msg with crypto/ecdsa and returns the I2P forms: public key
// X||Y and signature R||S, each half left-padded to the curve size.
func i2pECDSA(t *testing.T, curve elliptic.Curve, h crypto.Hash, msg []byte) (pub, sig []byte) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	hh := h.New()
	hh.Write(msg)
	r, s, err := ecdsa.Sign(rand.Reader, priv, hh.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	size := (curve.Params().BitSize + 7) / 8
	sig = append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
	return pt[1:], sig
}

func TestVerifyECDSA(t *testing.T) {
	msg := []byte("I2P-WIRE 2.6: big-endian halves, left-padded")
	for _, tt := range []struct {
		st    SigType
		curve elliptic.Curve
		h     crypto.Hash
	}{
		{SigECDSAP256, elliptic.P256(), crypto.SHA256},
		{SigECDSAP384, elliptic.P384(), crypto.SHA384},
		{SigECDSAP521, elliptic.P521(), crypto.SHA512},
	} {
		t.Run(tt.st.String(), func(t *testing.T) {
			for range 4 { // several keys, so some halves need left padding
				pub, sig := i2pECDSA(t, tt.curve, tt.h, msg)
				if len(pub) != tt.st.PublicKeyLen() || len(sig) != tt.st.SignatureLen() {
					t.Fatalf("pub %d sig %d", len(pub), len(sig))
				}
				if err := VerifySignature(tt.st, pub, msg, sig); err != nil {
					t.Fatalf("valid signature: %v", err)
				}
				if err := VerifySignature(tt.st, pub, append(bytes.Clone(msg), '!'), sig); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("other message: %v", err)
				}
				bad := bytes.Clone(sig)
				bad[len(bad)-1] ^= 1
				if err := VerifySignature(tt.st, pub, msg, bad); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("tampered signature: %v", err)
				}
				badPub := bytes.Clone(pub)
				badPub[len(badPub)-1] ^= 1 // off the curve
				if err := VerifySignature(tt.st, badPub, msg, sig); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("tampered key: %v", err)
				}
				// Through a Destination (P-521: 4 key bytes live in the certificate).
				d, _, err := ParseDestination(handDestination(tt.st, pub, EncElGamal, nil))
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Verify(msg, sig); err != nil {
					t.Fatalf("Destination.Verify: %v", err)
				}
			}
		})
	}
}

func TestVerifySignatureTypes(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("m")
	sig := ed25519.Sign(priv, msg)
	tests := []struct {
		name string
		st   SigType
		pub  []byte
		sig  []byte
		want error
	}{
		{"ed25519", SigEd25519, pub, sig, nil},
		{"reddsa uses the ed25519 equation", SigRedDSAEd25519, pub, sig, nil},
		{"ed25519 bad", SigEd25519, pub, append([]byte{sig[0] ^ 1}, sig[1:]...), ErrBadSignature},
		{"short key", SigEd25519, pub[:31], sig, ErrBadSignature},
		{"short sig", SigEd25519, pub, sig[:63], ErrBadSignature},
		{"dsa refused", SigDSASHA1, make([]byte, 128), make([]byte, 40), ErrUnsupportedSigType},
		{"rsa refused", SigRSA2048, make([]byte, 256), make([]byte, 256), ErrUnsupportedSigType},
		{"ed25519ph refused", SigEd25519ph, pub, sig, ErrUnsupportedSigType},
		{"unknown", SigType(12), pub, sig, ErrUnknownSigType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.st, tt.pub, msg, tt.sig)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// ECDSA with s = 0 or r beyond the order must fail, not panic.
	p256pub, _ := i2pECDSA(t, elliptic.P256(), crypto.SHA256, msg)
	n := elliptic.P256().Params().N
	for _, rs := range [][2]*big.Int{{big.NewInt(1), big.NewInt(0)}, {new(big.Int).Add(n, big.NewInt(1)), big.NewInt(1)}} {
		s := append(rs[0].FillBytes(make([]byte, 33))[1:], rs[1].FillBytes(make([]byte, 32))...)
		if err := VerifySignature(SigECDSAP256, p256pub, msg, s); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("degenerate signature: %v", err)
		}
	}
}

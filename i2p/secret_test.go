package i2p

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// leaks reports which encoding of which secret appears in out. Eight-byte
// windows of every secret are checked, so a partial or offset dump is caught
// too.
func leaks(out string, secrets map[string][]byte) string {
	lower := strings.ToLower(out)
	for name, s := range secrets {
		for i := 0; i+8 <= len(s); i += 4 {
			w := s[i : i+8]
			for enc, needle := range map[string]string{
				"hex":    hex.EncodeToString(w),
				"base64": base64.StdEncoding.EncodeToString(w)[:8],
				"i2p64":  Base64.EncodeToString(w)[:8],
				"raw":    string(w),
				"bytes":  strings.Trim(fmt.Sprint(w), "[]"),
			} {
				hay := out
				if enc == "hex" {
					hay = lower
				}
				if strings.Contains(hay, needle) {
					return fmt.Sprintf("%s bytes %d..%d as %s", name, i, i+8, enc)
				}
			}
		}
	}
	return ""
}

func TestSecretsNeverPrinted(t *testing.T) {
	// Keys with distinctive secret bytes; the offline file adds a transient key.
	file, _, tpriv := offlineKeyFile(t)
	offline, err := ParsePrivateKeys(file)
	if err != nil {
		t.Fatal(err)
	}
	seed := unhex(t, s9Seed)
	encPriv := bytes.Repeat([]byte{0x5a, 0x17, 0xc3, 0x99}, 64)
	var block [32]byte
	copy(block[:], unhex(t, s9Block))
	keys, err := NewEd25519PrivateKeys(seed, block, encPriv)
	if err != nil {
		t.Fatal(err)
	}
	lsk, err := ParseLeaseSetKey(unhex(t, s9X25519Priv))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"ed25519 seed":      seed,
		"elgamal private":   encPriv,
		"x25519 private":    unhex(t, s9X25519Priv),
		"transient private": tpriv.Seed(),
	}
	values := map[string]any{
		"*PrivateKeys":         keys,
		"PrivateKeys":          *keys,
		"*PrivateKeys offline": offline,
		"OfflineKeys":          *offline.Offline(),
		"*OfflineKeys":         offline.Offline(),
		"*LeaseSetKey":         lsk,
		"LeaseSetKey":          *lsk,
		"struct holding them": struct {
			K *PrivateKeys
			L LeaseSetKey
		}{keys, *lsk},
		"slice of them": []any{keys, lsk},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out := fmt.Sprintf(verb, v)
			if l := leaks(out, secrets); l != "" {
				t.Errorf("%s with %s leaks %s: %s", name, verb, l, out)
			}
		}
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		log.Info("keys", "k", v, slog.Any("any", v), slog.Group("g", "k", v))
		slog.New(slog.NewTextHandler(&buf, nil)).Info("keys", "k", v)
		if l := leaks(buf.String(), secrets); l != "" {
			t.Errorf("slog of %s leaks %s: %s", name, l, buf.String())
		}
	}
	// What they do show: the b32 address.
	if s := fmt.Sprint(keys); !strings.Contains(s, s9B32) {
		t.Errorf("PrivateKeys prints %q, want its b32", s)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "keys", keys)
	if !strings.Contains(buf.String(), `"keys":"`+s9B32+`"`) {
		t.Errorf("slog shows %s", buf.String())
	}
	// The secrets are still there for MarshalBinary.
	if b, _ := keys.MarshalBinary(); !bytes.Contains(b, seed) || !bytes.Contains(b, encPriv) {
		t.Fatal("MarshalBinary lost the secrets")
	}
}

package i2pdtest

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTunnelsParse checks the console parser on the HTML i2pd 2.45.1 serves.
func TestTunnelsParse(t *testing.T) {
	const a = "mbpcbfumzxrzmddxc5ulm7dvdxofet2i5sdmhfdf3a7stpedjjoa"
	const b = "rbkoi5qo7z46d35begekmw2pegc75qeb2rcatkfbeqgm3i5zikeq"
	tests := []struct {
		name string
		page string
		want map[string]string
	}{
		{"empty", `<b>Server Tunnels:</b><br><div class="list"></div>`, map[string]string{}},
		{"two", `<div class="listitem"><a href="/?page=local_destination&b32=` + a + `">a7</a> &#8658; ` + a + `.b32.i2p:23460</a></div>
<div class="listitem"><a href="/?page=local_destination&b32=` + b + `">x&amp;y</a> &#8658; ` + b + `.b32.i2p:23461</a></div>`,
			map[string]string{"a7": a + ".b32.i2p", "x&y": b + ".b32.i2p"}},
		{"short b32 ignored", `<a href="/?page=local_destination&b32=abc">n</a>`, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseTunnels(tc.page)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("tunnel %q: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// TestServerTunnelKeys is the harness's self test against real i2pd: key
// files of three signing types appear, the console shows each tunnel's b32,
// which matches the hash of the Destination in the file, and a copied-in key
// file is loaded rather than replaced.
func TestServerTunnelKeys(t *testing.T) {
	tunnels := []ServerTunnel{
		{Name: "ed25519", SigType: 7},
		{Name: "p521", SigType: 3},
		{Name: "reddsa", SigType: 11},
	}
	start := time.Now()
	r := Start(t, Options{ServerTunnels: tunnels})
	b32s := make(map[string]string)
	for _, st := range tunnels {
		b32s[st.Name] = r.TunnelB32(t, st.Name)
	}
	t.Logf("start to all %d b32s: %v", len(tunnels), time.Since(start).Round(time.Millisecond))
	r.WaitI2CP(t)
	t.Logf("start to I2CP accepting: %v", time.Since(start).Round(time.Millisecond))

	seen := make(map[string]bool)
	for _, st := range tunnels {
		b32 := b32s[st.Name]
		if seen[b32] {
			t.Errorf("tunnel %s: b32 %s repeated", st.Name, b32)
		}
		seen[b32] = true
		sig, fileB32 := keyFileInfo(t, r.KeyFile(st.Name))
		if sig != st.SigType {
			t.Errorf("tunnel %s: key file signing type %d, want %d", st.Name, sig, st.SigType)
		}
		if fileB32 != b32 {
			t.Errorf("tunnel %s: console b32 %s, key file hashes to %s", st.Name, b32, fileB32)
		}
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}

	// A second router given the first one's key file must show the same b32.
	r2 := Start(t, Options{ServerTunnels: []ServerTunnel{{Name: "copy", SigType: 7, KeysFile: r.KeyFile("ed25519")}}})
	if got, want := r2.TunnelB32(t, "copy"), b32s["ed25519"]; got != want {
		t.Errorf("copied key file: b32 %s, want %s", got, want)
	}
}

// keyFileInfo reads the Destination at the start of an i2pd key file and
// returns its signing type and b32 (I2P-WIRE.md section 3: 384 bytes of key
// area, then a certificate; a key certificate, type 5, starts with the
// signing type).
func keyFileInfo(t *testing.T, path string) (sigType int, b32 string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if len(b) < 387 {
		t.Fatalf("key file %s: %d bytes, too short", path, len(b))
	}
	certLen := int(binary.BigEndian.Uint16(b[385:387]))
	destLen := 387 + certLen
	if len(b) < destLen {
		t.Fatalf("key file %s: %d bytes, Destination needs %d", path, len(b), destLen)
	}
	switch {
	case b[384] == 0 && certLen == 0:
		sigType = 0
	case b[384] == 5 && certLen >= 4:
		sigType = int(binary.BigEndian.Uint16(b[387:389]))
	default:
		t.Fatalf("key file %s: certificate type %d length %d", path, b[384], certLen)
	}
	h := sha256.Sum256(b[:destLen])
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	return sigType, strings.ToLower(enc.EncodeToString(h[:])) + ".b32.i2p"
}

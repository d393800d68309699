//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/i2pdtest"
)

// Key files and LeaseSets through the real binary (CLI.md "Local tools"), and
// against a real i2pd 2.45.1: the b32 imh computes for i2pd's key files of
// every signing type i2pd writes, and the b32 i2pd shows for a key file imh
// wrote.

var b32RE = regexp.MustCompile(`^[a-z2-7]{52}\.b32\.i2p$`)

// destInspect runs `imh dest inspect --json FILE` and returns the decoded
// object, checking that it has exactly the keys CLI.md lists.
func destInspect(t *testing.T, file string) map[string]any {
	t.Helper()
	stdout, stderr, code := runIMH(t, "dest", "inspect", "--json", file)
	if code != 0 {
		t.Fatalf("imh dest inspect %s: exit %d, stderr: %s", file, code, stderr)
	}
	return decodeExactKeys(t, stdout, "b32", "destination", "sig_type", "crypto_type", "enc_private_key_type")
}

// decodeExactKeys decodes one JSON object and fails unless its keys are
// exactly keys.
func decodeExactKeys(t *testing.T, stdout string, keys ...string) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value on stdout:\n%s", stdout)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("JSON keys %v, want exactly %v", got, want)
	}
	return m
}

// newKeyFile runs `imh dest new --out` into a temp dir and returns the path
// and the printed b32.
func newKeyFile(t testing.TB) (path, b32 string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "imh.dat")
	stdout, stderr, code := runIMH(t, "dest", "new", "--out", path)
	if code != 0 {
		t.Fatalf("imh dest new: exit %d, stderr: %s", code, stderr)
	}
	b32 = strings.TrimSpace(stdout)
	if !b32RE.MatchString(b32) {
		t.Fatalf("imh dest new printed %q, want one b32 address", stdout)
	}
	return path, b32
}

// TestI2pdKeyFilesInspect: i2pd creates server tunnel keys with signing
// types 7 (Ed25519), 3 (ECDSA-P521) and 11 (RedDSA); `imh dest inspect`
// reports exactly the b32 address i2pd's console shows for each.
func TestI2pdKeyFilesInspect(t *testing.T) {
	i2pdPool.join(t)
	tunnels := []struct {
		name    string
		sigType int
		destLen int // 391, or 395 with P-521's 4 excess key bytes
	}{
		{"ed25519", 7, 391},
		{"p521", 3, 395},
		{"reddsa", 11, 391},
	}
	var opts i2pdtest.Options
	for _, tn := range tunnels {
		opts.ServerTunnels = append(opts.ServerTunnels, i2pdtest.ServerTunnel{Name: tn.name, SigType: tn.sigType})
	}
	r := i2pdtest.Start(t, opts)
	for _, tn := range tunnels {
		t.Run(tn.name, func(t *testing.T) {
			want := r.TunnelB32(t, tn.name)
			file := r.KeyFile(tn.name)
			m := destInspect(t, file)
			t.Logf("signaturetype %d: i2pd shows %s, imh %v (crypto type %v)", tn.sigType, want, m["b32"], m["crypto_type"])
			if m["b32"] != want {
				t.Errorf("imh b32 %v, i2pd shows %s", m["b32"], want)
			}
			if m["sig_type"] != float64(tn.sigType) {
				t.Errorf("sig_type %v, want %d", m["sig_type"], tn.sigType)
			}
			if m["enc_private_key_type"] != m["crypto_type"] {
				t.Errorf("enc_private_key_type %v differs from crypto_type %v", m["enc_private_key_type"], m["crypto_type"])
			}
			// The destination field is the I2P base64 of the Destination
			// that starts the key file.
			dest, err := i2p.Base64.DecodeString(m["destination"].(string))
			if err != nil {
				t.Fatalf("destination is not I2P base64: %v", err)
			}
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if len(dest) != tn.destLen || !bytes.HasPrefix(raw, dest) {
				t.Errorf("destination: %d bytes (want %d), prefix of the key file: %t", len(dest), tn.destLen, bytes.HasPrefix(raw, dest))
			}
			if got := i2p.HashOf(dest).B32(); got != want {
				t.Errorf("SHA-256 of the destination gives %s, i2pd shows %s", got, want)
			}
			checkI2pdPrivateKey(t, tn.sigType, raw)
		})
	}
}

// checkI2pdPrivateKey checks that the package reads i2pd's key file layout
// (Destination | crypto private key | signing private key) at the right
// offsets: the signing private key must belong to the Destination's key.
func checkI2pdPrivateKey(t *testing.T, sigType int, raw []byte) {
	t.Helper()
	k, err := i2p.ParsePrivateKeys(raw)
	if err != nil {
		t.Fatalf("ParsePrivateKeys of i2pd's file: %v", err)
	}
	d := k.Destination()
	sigPriv := raw[d.Len()+k.EncryptionKeyType().PrivateKeyLen():]
	switch sigType {
	case 7:
		// The package signs with the seed it read; the Destination verifies.
		msg := []byte("signed with i2pd's key")
		sig, err := k.Sign(msg)
		if err != nil || d.Verify(msg, sig) != nil {
			t.Errorf("Ed25519 key from i2pd's file does not sign for its Destination: %v", err)
		}
	case 3:
		// The 66-byte P-521 scalar yields the 132-byte X||Y in the Destination
		// (128 bytes in the key area, 4 in the key certificate).
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P521(), sigPriv)
		if err != nil {
			t.Fatalf("P-521 private key from i2pd's file: %v", err)
		}
		pt, _ := priv.PublicKey.Bytes()
		if !bytes.Equal(pt[1:], d.SigningPublicKey()) {
			t.Errorf("P-521 public key of i2pd's private key differs from the Destination's")
		}
		h := sha512.Sum512([]byte("m"))
		r, s, err := ecdsa.Sign(rand.Reader, priv, h[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := append(r.FillBytes(make([]byte, 66)), s.FillBytes(make([]byte, 66))...)
		if err := d.Verify([]byte("m"), sig); err != nil {
			t.Errorf("P-521 signature by i2pd's key does not verify: %v", err)
		}
	case 11:
		if len(sigPriv) != 32 {
			t.Errorf("RedDSA private key of %d bytes", len(sigPriv))
		}
	}
}

// TestI2pdLoadsIMHKeyFile: a key file written by `imh dest new` is loaded by
// i2pd as a server tunnel's keys, and i2pd shows the b32 imh printed.
func TestI2pdLoadsIMHKeyFile(t *testing.T) {
	i2pdPool.join(t)
	path, b32 := newKeyFile(t)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := i2pdtest.Start(t, i2pdtest.Options{ServerTunnels: []i2pdtest.ServerTunnel{{Name: "imh", SigType: 7, KeysFile: path}}})
	got := r.TunnelB32(t, "imh")
	t.Logf("imh dest new printed %s; i2pd shows %s", b32, got)
	if got != b32 {
		t.Fatalf("i2pd shows %s for the imh key file, imh printed %s", got, b32)
	}
	// i2pd loaded the file as it was; it did not generate new keys over it.
	loaded, err := os.ReadFile(r.KeyFile("imh"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded, before) {
		t.Fatal("i2pd rewrote the key file")
	}
	if m := destInspect(t, r.KeyFile("imh")); m["b32"] != b32 {
		t.Fatalf("dest inspect after i2pd: %v", m["b32"])
	}
}

// checkOneErrorLine fails unless stderr is exactly one line naming file, and
// stdout is empty.
func checkOneErrorLine(t *testing.T, stdout, stderr, file string) {
	t.Helper()
	if stdout != "" {
		t.Errorf("stdout not empty: %q", stdout)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], file) {
		t.Errorf("stderr should be one line naming %s, got %q", file, stderr)
	}
}

func TestDestNewCLI(t *testing.T) {
	path, b32 := newKeyFile(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != 679 {
		t.Errorf("key file mode %v size %d, want 0600 and 679 bytes", st.Mode().Perm(), st.Size())
	}
	m := destInspect(t, path)
	if m["b32"] != b32 || m["sig_type"] != float64(7) || m["crypto_type"] != float64(0) || m["enc_private_key_type"] != float64(0) {
		t.Errorf("inspect of a new key file: %v", m)
	}
	human, _, code := runIMH(t, "dest", "inspect", path)
	if code != 0 || !strings.Contains(human, "b32:") || !strings.Contains(human, b32) {
		t.Errorf("human inspect: exit %d\n%s", code, human)
	}

	// An existing file is never overwritten: exit 2, one line, file unchanged.
	for _, content := range [][]byte{[]byte("precious, not a key"), nil} {
		existing := filepath.Join(t.TempDir(), "existing.dat")
		if err := os.WriteFile(existing, content, 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runIMH(t, "dest", "new", "--out", existing)
		if code != 2 {
			t.Errorf("dest new over an existing file: exit %d, want 2", code)
		}
		checkOneErrorLine(t, stdout, stderr, existing)
		if got, _ := os.ReadFile(existing); !bytes.Equal(got, content) {
			t.Errorf("existing file changed to %q", got)
		}
	}
	// Two new key files are different destinations.
	if _, b32b := newKeyFile(t); b32b == b32 {
		t.Error("two dest new runs printed the same b32")
	}
	if _, stderr, code := runIMH(t, "dest", "new"); code != 2 {
		t.Errorf("dest new without --out: exit %d, stderr %s", code, stderr)
	}
	missingDir := filepath.Join(t.TempDir(), "no", "such", "dir", "k.dat")
	if _, _, code := runIMH(t, "dest", "new", "--out", missingDir); code != 2 {
		t.Errorf("dest new into a missing directory: exit %d, want 2", code)
	}
}

func TestDestInspectBadFiles(t *testing.T) {
	dir := t.TempDir()
	good, _ := newKeyFile(t)
	raw, _ := os.ReadFile(good)
	files := map[string][]byte{
		"garbage.dat":   []byte("this is not a key file\n"),
		"empty.dat":     nil,
		"truncated.dat": raw[:len(raw)-1],
		"trailing.dat":  append(bytes.Clone(raw), 0),
		"badcert.dat":   append(append(bytes.Clone(raw[:384]), 5, 0, 5, 0, 7, 0, 0, 0), raw[391:]...),
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"dest", "inspect", path}, {"dest", "inspect", "--json", path}} {
				stdout, stderr, code := runIMH(t, args...)
				if code != 2 {
					t.Errorf("%v: exit %d, want 2", args, code)
				}
				checkOneErrorLine(t, stdout, stderr, path)
			}
		})
	}
	missing := filepath.Join(dir, "missing.dat")
	stdout, stderr, code := runIMH(t, "dest", "inspect", missing)
	if code != 2 {
		t.Errorf("missing file: exit %d", code)
	}
	checkOneErrorLine(t, stdout, stderr, missing)
}

// makeLeaseSet signs a LeaseSet2 for the key file at keyPath with n leases,
// published at published, optionally offline-signed by a transient key.
func makeLeaseSet(t *testing.T, keyPath string, published uint32, n int, offline bool) (*i2p.LeaseSet2, []byte) {
	t.Helper()
	b, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	k, err := i2p.ParsePrivateKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := i2p.NewLeaseSetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ls := &i2p.LeaseSet2{Destination: k.Destination(), Published: published, Expires: 600,
		Keys: []i2p.EncryptionKey{lk.EncryptionKey(), {Type: i2p.EncElGamal, Key: make([]byte, 256)}}}
	for i := range n {
		var gw i2p.Hash
		_, _ = rand.Read(gw[:])
		ls.Leases = append(ls.Leases, i2p.Lease2{Gateway: gw, TunnelID: uint32(100 + i), End: published + 600 - uint32(i)})
	}
	if offline {
		tpub, tpriv, _ := ed25519.GenerateKey(rand.Reader)
		o, err := k.SignOffline(published+3600, i2p.SigEd25519, tpub)
		if err != nil {
			t.Fatal(err)
		}
		ls.Offline = o
		err = ls.SignTransient(tpriv)
		if err != nil {
			t.Fatal(err)
		}
	} else if err := ls.Sign(k); err != nil {
		t.Fatal(err)
	}
	raw, err := ls.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return ls, raw
}

// runIMHStdin is runIMH with stdin.
func runIMHStdin(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, imhBin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return o.String(), e.String(), 0
	case errors.As(err, &ee):
		return o.String(), e.String(), ee.ExitCode()
	default:
		t.Fatalf("imh %v: %v", args, err)
		return "", "", -1
	}
}

var leasesetKeys = []string{"b32", "sig_type", "published", "expires", "flags", "enc_key_types", "leases",
	"signature_valid", "offline", "time_status"}

func TestLeasesetInspectCLI(t *testing.T) {
	keyPath, b32 := newKeyFile(t)
	dir := t.TempDir()
	now := uint32(time.Now().Unix())
	ls, raw := makeLeaseSet(t, keyPath, now, 16, false)
	b64 := i2p.Base64.EncodeToString(raw)
	valid := filepath.Join(dir, "valid.b64")
	if err := os.WriteFile(valid, []byte(b64+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := runIMH(t, "leaseset", "inspect", "--json", valid)
	if code != 0 {
		t.Fatalf("valid LS: exit %d, stderr %s", code, stderr)
	}
	m := decodeExactKeys(t, stdout, leasesetKeys...)
	if m["b32"] != b32 || m["sig_type"] != float64(7) || m["published"] != float64(now) ||
		m["expires"] != float64(now+600) || m["flags"] != float64(0) || m["signature_valid"] != true ||
		m["offline"] != nil || m["time_status"] != "ok" {
		t.Errorf("valid LS: %v", m)
	}
	if kt := m["enc_key_types"].([]any); len(kt) != 2 || kt[0] != float64(4) || kt[1] != float64(0) {
		t.Errorf("enc_key_types %v, want [4 0]", kt)
	}
	leases := m["leases"].([]any)
	if len(leases) != 16 {
		t.Fatalf("%d leases, want 16", len(leases))
	}
	l0 := leases[0].(map[string]any)
	if len(l0) != 3 || l0["gateway"] != ls.Leases[0].Gateway.String() || l0["tunnel"] != float64(100) || l0["end"] != float64(now+600) {
		t.Errorf("lease 0: %v", l0)
	}

	// Human form, stdin ("-" and no argument), raw binary input.
	human, _, code := runIMH(t, "leaseset", "inspect", valid)
	if code != 0 || !strings.Contains(human, "signature_valid:") || !strings.Contains(human, b32) {
		t.Errorf("human: exit %d\n%s", code, human)
	}
	for _, args := range [][]string{{"leaseset", "inspect", "--json", "-"}, {"leaseset", "inspect", "--json"}} {
		out, stderr, code := runIMHStdin(t, []byte(b64), args...)
		if code != 0 || decodeExactKeys(t, out, leasesetKeys...)["b32"] != b32 {
			t.Errorf("%v from stdin: exit %d, stderr %s", args, code, stderr)
		}
	}
	bin := filepath.Join(dir, "valid.bin")
	if err := os.WriteFile(bin, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := runIMH(t, "leaseset", "inspect", "--json", bin); code != 0 ||
		decodeExactKeys(t, out, leasesetKeys...)["signature_valid"] != true {
		t.Errorf("raw binary: exit %d, stderr %s", code, stderr)
	}

	// Tampered lease: still decodes, signature fails: exit 1, JSON printed.
	bad := bytes.Clone(raw)
	bad[len(bad)-64-40+33] ^= 0x01 // inside the last lease's tunnel id
	tampered := filepath.Join(dir, "tampered.b64")
	if err := os.WriteFile(tampered, []byte(i2p.Base64.EncodeToString(bad)), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = runIMH(t, "leaseset", "inspect", "--json", tampered)
	if code != 1 {
		t.Errorf("tampered LS: exit %d, want 1; stderr %s", code, stderr)
	}
	if m := decodeExactKeys(t, stdout, leasesetKeys...); m["signature_valid"] != false {
		t.Errorf("tampered LS: signature_valid %v", m["signature_valid"])
	}
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 {
		t.Errorf("tampered LS stderr: %q", stderr)
	}

	// Time status is reported, never fatal.
	for _, tt := range []struct {
		name      string
		published uint32
		want      string
	}{
		{"expired", now - 3600, "expired"},
		{"future", now + 3600, "not_yet_valid"},
	} {
		_, raw := makeLeaseSet(t, keyPath, tt.published, 2, false)
		out, stderr, code := runIMHStdin(t, []byte(i2p.Base64.EncodeToString(raw)), "leaseset", "inspect", "--json")
		m := decodeExactKeys(t, out, leasesetKeys...)
		if code != 0 || m["time_status"] != tt.want || m["signature_valid"] != true {
			t.Errorf("%s: exit %d, time_status %v; stderr %s", tt.name, code, m["time_status"], stderr)
		}
	}

	// I2P base64 without its '=' padding, and wrapped over several lines.
	_, raw2 := makeLeaseSet(t, keyPath, now, 2, false) // 583 bytes: "==" padding
	b64two := i2p.Base64.EncodeToString(raw2)
	for name, text := range map[string]string{
		"unpadded": strings.TrimRight(b64two, "="),
		"wrapped":  b64two[:76] + "\n" + b64two[76:300] + "\r\n" + b64two[300:] + "\n",
	} {
		out, stderr, code := runIMHStdin(t, []byte(text), "leaseset", "inspect", "--json")
		if code != 0 || decodeExactKeys(t, out, leasesetKeys...)["signature_valid"] != true {
			t.Errorf("%s base64: exit %d, stderr %s", name, code, stderr)
		}
	}

	// Offline-signed LS.
	_, offRaw := makeLeaseSet(t, keyPath, now, 1, true)
	out, stderr, code := runIMHStdin(t, []byte(i2p.Base64.EncodeToString(offRaw)), "leaseset", "inspect", "--json")
	m = decodeExactKeys(t, out, leasesetKeys...)
	off, _ := m["offline"].(map[string]any)
	if code != 0 || m["signature_valid"] != true || m["flags"] != float64(1) || off == nil ||
		off["expires"] != float64(now+3600) || off["transient_sig_type"] != float64(7) || len(off) != 2 {
		t.Errorf("offline LS: exit %d, %v; stderr %s", code, m, stderr)
	}

	// Malformed input: exit 2, one line naming the file, nothing on stdout.
	for name, content := range map[string][]byte{
		"garbage.txt":   []byte("not a leaseset at all!\n"),
		"truncated.b64": []byte(i2p.Base64.EncodeToString(raw[:len(raw)-1])),
		"badb64.b64":    []byte(b64[:len(b64)-3] + "A=A"),
		"empty.b64":     nil,
		"random.bin":    bytes.Repeat([]byte{0xff, 0x00, 0x13}, 300),
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runIMH(t, "leaseset", "inspect", "--json", path)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
		checkOneErrorLine(t, stdout, stderr, path)
	}
}

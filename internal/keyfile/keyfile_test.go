package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imh-project/imh/i2p"
)

func newKeys(t *testing.T) *i2p.PrivateKeys {
	t.Helper()
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCreateMode0600AndReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.dat")
	k := newKeys(t)
	if err := Create(path, k); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode %v, want 0600", got)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Destination().B32() != k.Destination().B32() {
		t.Errorf("read back %s, want %s", got.Destination().B32(), k.Destination().B32())
	}
}

func TestCreateNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.dat")
	old := []byte("the only copy of a service's keys")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Create(path, newKeys(t))
	var ce *CreateError
	if !errors.As(err, &ce) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing file: %v, want a *CreateError wrapping fs.ErrExist", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, old) {
		t.Error("the existing file was changed")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("the existing file's mode changed to %v", fi.Mode().Perm())
	}
}

func TestCreateMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "k.dat")
	err := Create(path, newKeys(t))
	var ce *CreateError
	if !errors.As(err, &ce) || errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create in a missing directory: %v, want a *CreateError, not fs.ErrExist", err)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.dat")
	if err := Create(good, newKeys(t)); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := write("garbage.dat", []byte("not a key file"))
	huge := write("huge.dat", make([]byte, MaxLen+1))
	tests := []struct {
		name, path, wantErr string
	}{
		{"a new key file", good, ""},
		{"missing", filepath.Join(dir, "missing.dat"), "no such file"},
		{"not a key file", garbage, garbage + ": not an I2P private key file: "},
		{"too large", huge, huge + ": larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Read: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadLimited(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "in")
	if err := os.WriteFile(file, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		stdin   string
		limit   int64
		want    string
		wantErr string
	}{
		{"file at the limit", file, "", 5, "12345", ""},
		{"file over the limit", file, "", 4, "", file + ": larger than 4 bytes"},
		{"stdin", "-", "abc", 5, "abc", ""},
		{"stdin over the limit", "-", "abcdef", 5, "", "stdin: larger than 5 bytes"},
		{"missing file", filepath.Join(dir, "missing"), "", 5, "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadLimited(tt.path, strings.NewReader(tt.stdin), tt.limit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadLimited: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReadLimited = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// A file named "-" is read as a file when no stdin is given (readers of key
// files never take stdin).
func TestReadLimitedDashWithoutStdin(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("-", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLimited("-", nil, 5)
	if err != nil || string(got) != "x" {
		t.Fatalf("ReadLimited(-, nil) = %q, %v; want the file's x", got, err)
	}
}

func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := WriteNew(path, []byte("s1\n")); err != nil {
		t.Fatal(err)
	}
	if err := WriteNew(path, []byte("s2\n")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteNew: %v, want fs.ErrExist", err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "s1\n" {
		t.Fatalf("file holds %q, %v; want the first secret", b, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

// TestDescribe: dest inspect's facts and their human form, for a plain
// key file and an i2pd offline one (zero signing key, then expiry,
// transient type and key, the Destination's signature, the transient
// private key).
func TestDescribe(t *testing.T) {
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v := Describe(k)
	d := k.Destination()
	want := [][2]string{
		{"b32", d.B32()},
		{"destination", d.Base64()},
		{"sig_type", "7 (EdDSA_SHA512_Ed25519)"},
		{"crypto_type", "0 (ElGamal)"},
		{"enc_private_key_type", "0 (ElGamal)"},
	}
	if got := v.Fields(); !reflect.DeepEqual(got, want) {
		t.Errorf("Fields() = %q, want %q", got, want)
	}
	if b, err := json.Marshal(v); err != nil || string(b) != `{"b32":"`+d.B32()+`","destination":"`+d.Base64()+`","sig_type":7,"crypto_type":0,"enc_private_key_type":0}` {
		t.Errorf("JSON %s, %v", b, err)
	}

	tpub, tpriv, _ := ed25519.GenerateKey(rand.Reader)
	o, err := k.SignOffline(1800000000, i2p.SigEd25519, tpub)
	if err != nil {
		t.Fatal(err)
	}
	file := append(bytes.Clone(d.Bytes()), make([]byte, 256+32)...)
	file = append(file, 0x6b, 0x49, 0xd2, 0x00, 0x00, 0x07) // 1800000000, type 7
	file = append(append(append(file, tpub...), o.Signature...), tpriv.Seed()...)
	off, err := i2p.ParsePrivateKeys(file)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, [2]string{"offline_expires", "1800000000"}, [2]string{"transient_sig_type", "7 (EdDSA_SHA512_Ed25519)"})
	if got := Describe(off).Fields(); !reflect.DeepEqual(got, want) {
		t.Errorf("offline Fields() = %q, want %q", got, want)
	}
}

// TestReadImport: dest import sends only a whole, bounded key file the
// cluster can host; every refusal names the file.
func TestReadImport(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	good := write("good.dat", b)
	if raw, err := ReadImport(good); err != nil || !bytes.Equal(raw, b) {
		t.Fatalf("ReadImport(good) = %d bytes, %v", len(raw), err)
	}
	tpub, tpriv, _ := ed25519.GenerateKey(rand.Reader)
	o, err := k.SignOffline(1800000000, i2p.SigEd25519, tpub)
	if err != nil {
		t.Fatal(err)
	}
	off := append(bytes.Clone(k.Destination().Bytes()), make([]byte, 256+32)...)
	off = append(off, 0x6b, 0x49, 0xd2, 0x00, 0x00, 0x07)
	off = append(append(append(off, tpub...), o.Signature...), tpriv.Seed()...)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "missing: no such file or directory"},
		{write("big", make([]byte, MaxLen+1)), "big: larger than 65536 bytes, not a key file"},
		{write("garbage", []byte("garbage\n")), "garbage: i2p: malformed private key file"},
		{write("offline", off), "offline (" + k.Destination().B32() + "): only Ed25519 keys without offline signatures can be hosted"},
	} {
		_, err := ReadImport(tc.path)
		if err == nil || !strings.HasPrefix(err.Error(), "key file ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadImport(%s) = %v, want %q", filepath.Base(tc.path), err, tc.want)
		}
	}
}

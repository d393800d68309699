package keyfile

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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

// Package keyfile owns the key files imh's commands create and read on the
// operator's disk: I2P private key files (`imh dest new`, `imh dest
// inspect`), the cluster secret file (`imh keygen --out`), and the bounded
// read they share with other inputs a command is handed as a file or on
// stdin.
//
// A key file is a long-term secret: whoever reads a destination's can
// impersonate the service, whoever reads the cluster secret can open every
// sealed key. So a new file is created with mode 0600 and
// O_EXCL (an existing file, perhaps the only copy of a service's keys, is
// never overwritten), and a failed write leaves nothing half-written behind.
// Reads are bounded: a path given by mistake (a disk image, /dev/zero) is
// refused rather than read into memory.
package keyfile

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/imh-project/imh/i2p"
)

// MaxLen bounds what Read accepts: a key file of the largest known types
// (RSA-4096 with offline keys) is under 4 KiB.
const MaxLen = 64 << 10

// Mode is the permission a new key file gets: readable by its owner only.
const Mode = 0o600

// A CreateError reports that the key file could not be created: it exists
// (errors.Is(err, fs.ErrExist)), or its directory is missing or not
// writable. Nothing was written: the operator can fix the path and retry.
type CreateError struct{ Err error }

func (e *CreateError) Error() string { return e.Err.Error() }
func (e *CreateError) Unwrap() error { return e.Err }

// Create writes k as a new key file at path (the layout i2pd and Java I2P
// read) with WriteNew.
func Create(path string, k *i2p.PrivateKeys) error {
	b, err := k.MarshalBinary()
	if err != nil {
		return err
	}
	return WriteNew(path, b)
}

// WriteNew writes b as a new file at path with mode Mode: a key file, or
// the cluster secret of `imh keygen --out`. It never replaces an existing
// file (a *CreateError wrapping fs.ErrExist). On any failure after
// creating the file it removes it again, so that nothing half-written is
// left and a later WriteNew can succeed.
func WriteNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, Mode)
	if err != nil {
		return &CreateError{Err: err}
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}

// Read reads and parses the key file at path, of any signing type (the
// caller checks CanSign when it must sign). Errors name the file.
func Read(path string) (*i2p.PrivateKeys, error) {
	b, err := ReadLimited(path, nil, MaxLen)
	if err != nil {
		return nil, err
	}
	k, err := i2p.ParsePrivateKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not an I2P private key file: %w", path, err)
	}
	return k, nil
}

// ReadLimited reads a whole file, or stdin for "-" when stdin is given,
// refusing more than limit bytes. Errors name the file ("stdin" for -).
func ReadLimited(path string, stdin io.Reader, limit int64) ([]byte, error) {
	var r io.Reader
	if path == "-" && stdin != nil {
		r = stdin
		path = "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// Info is what `imh dest inspect` shows of a private key file; its JSON
// is the --json object of docs/cli.md (field names are a contract).
type Info struct {
	B32               string `json:"b32"`
	Destination       string `json:"destination"`
	SigType           uint16 `json:"sig_type"`
	CryptoType        uint16 `json:"crypto_type"`
	EncPrivateKeyType uint16 `json:"enc_private_key_type"`

	keys *i2p.PrivateKeys // for the type names and the offline block of Fields
}

// Describe gathers the public facts of k: its address, its destination
// and its key types.
func Describe(k *i2p.PrivateKeys) Info {
	d := k.Destination()
	return Info{
		B32:               d.B32(),
		Destination:       d.Base64(),
		SigType:           uint16(d.SigType()),
		CryptoType:        uint16(d.EncType()),
		EncPrivateKeyType: uint16(k.EncryptionKeyType()),
		keys:              k,
	}
}

// Fields is the human form of `imh dest inspect`, as ordered key and value
// pairs for aligned "key: value" lines: types as numbers and names, and the
// offline signature's expiry and transient type when the file has one.
func (v Info) Fields() [][2]string {
	d := v.keys.Destination()
	fields := [][2]string{
		{"b32", v.B32},
		{"destination", v.Destination},
		{"sig_type", fmt.Sprintf("%d (%s)", v.SigType, d.SigType())},
		{"crypto_type", fmt.Sprintf("%d (%s)", v.CryptoType, d.EncType())},
		{"enc_private_key_type", fmt.Sprintf("%d (%s)", v.EncPrivateKeyType, v.keys.EncryptionKeyType())},
	}
	if o := v.keys.Offline(); o != nil {
		fields = append(fields,
			[2]string{"offline_expires", fmt.Sprint(o.Expires)},
			[2]string{"transient_sig_type", fmt.Sprintf("%d (%s)", uint16(o.TransientType), o.TransientType)})
	}
	return fields
}

// ReadImport reads the key file `imh dest import` sends to the cluster:
// at most MaxLen bytes, a private key file the cluster can host (Ed25519
// without offline keys: it signs with the Destination's own key). It
// returns the file's bytes; errors name the file ("key file PATH: ...").
func ReadImport(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxLen+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if len(raw) > MaxLen {
		return nil, fmt.Errorf("key file %s: larger than %d bytes, not a key file", path, MaxLen)
	}
	k, err := i2p.ParsePrivateKeys(raw)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if !k.CanSign() {
		return nil, fmt.Errorf("key file %s (%s): only Ed25519 keys without offline signatures can be hosted", path, k.Destination().B32())
	}
	return raw, nil
}

package cluster

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// A snapshot handed to an operator (GET /v1/snapshot) ends with a MAC
// under the cluster secret; PUT /v1/snapshot refuses a file whose MAC does
// not verify, so only a snapshot this cluster (or one with the same
// secret) wrote can replace the state — not one forged or edited by
// whoever holds an operator certificate but not the secret.
//
//	snapshot bytes | "imh-snapshot-mac" (16) | version 1 (1) | HMAC-SHA256(key, snapshot bytes) (32)
//
// key = HKDF-SHA256(secret, info "imh snapshot mac v1").
const (
	infoSnapshotMAC    = "imh snapshot mac v1"
	snapshotMACMagic   = "imh-snapshot-mac"
	snapshotMACVersion = 1
	snapshotTrailerLen = len(snapshotMACMagic) + 1 + sha256.Size
)

// errSnapshotMAC: the upload is not a snapshot of this cluster, or was
// changed after it was saved.
var errSnapshotMAC = errors.New("snapshot MAC does not verify: not saved by a cluster with this secret, or changed since")

// snapshotMAC is the MAC under s. A snapshot is written under the active
// secret and verifies under any secret the agent holds (during a rotation,
// a snapshot saved just before it still restores).
func snapshotMAC(s Secret) hash.Hash {
	return hmac.New(sha256.New, s.derive(infoSnapshotMAC))
}

// macSnapshot returns b with its trailer appended.
func (c *Cluster) macSnapshot(b []byte) []byte {
	m := snapshotMAC(c.keys.secretsActiveFirst()[0])
	m.Write(b)
	out := append(bytes.Clone(b), snapshotMACMagic...)
	out = append(out, snapshotMACVersion)
	return m.Sum(out)
}

// spoolSnapshot streams an upload to a temporary file (at most
// maxSnapshot bytes plus the trailer), checks its MAC reading the file
// back in chunks, and only then returns the snapshot bytes.
func (c *Cluster) spoolSnapshot(body io.Reader) ([]byte, error) {
	f, err := os.CreateTemp(c.cfg.DataDir, "snapshot-upload-*")
	if err != nil {
		return nil, fmt.Errorf("snapshot upload: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	limit := int64(maxSnapshot + snapshotTrailerLen)
	n, err := io.Copy(f, io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot upload: %w", errBadRequest, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: snapshot over %d bytes", errBadRequest, maxSnapshot)
	}
	if n < int64(snapshotTrailerLen) {
		return nil, fmt.Errorf("%w: %w", errBadRequest, errSnapshotMAC)
	}
	size := n - int64(snapshotTrailerLen)
	trailer := make([]byte, snapshotTrailerLen)
	if _, err := f.ReadAt(trailer, size); err != nil {
		return nil, fmt.Errorf("snapshot upload: %w", err)
	}
	ok := false
	for _, s := range c.keys.secretsActiveFirst() {
		m := snapshotMAC(s)
		if _, err := io.Copy(m, io.NewSectionReader(f, 0, size)); err != nil {
			return nil, fmt.Errorf("snapshot upload: %w", err)
		}
		if hmac.Equal(trailer, m.Sum(append([]byte(snapshotMACMagic), snapshotMACVersion))) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: %w", errBadRequest, errSnapshotMAC)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("snapshot upload: %w", err)
	}
	return b, nil
}

// SnapshotBody returns the state bytes of a snapshot file without its MAC
// trailer, for tools that only read it (imh cluster snapshot save checks
// that it decodes); the MAC itself can only be checked with the secret,
// by an agent on restore.
func SnapshotBody(b []byte) ([]byte, error) {
	n := len(b) - snapshotTrailerLen
	if n < 0 || !bytes.Equal(b[n:n+len(snapshotMACMagic)], []byte(snapshotMACMagic)) || b[n+len(snapshotMACMagic)] != snapshotMACVersion {
		return nil, errors.New("snapshot has no MAC trailer (saved by an older imh?)")
	}
	return b[:n], nil
}

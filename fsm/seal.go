package fsm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"github.com/imh-project/imh/internal/wire"
)

// KeyIDLen is the size of a KeyID.
const KeyIDLen = 8

// KeyID names a cluster secret without revealing it (cluster/secret.go
// derives it from the secret with HKDF). The fsm never sees a secret: it
// only compares KeyIDs, to record which secret the destinations are sealed
// under and to refuse blobs sealed under another.
type KeyID [KeyIDLen]byte

// IsZero reports the unset KeyID (no rotation recorded yet).
func (k KeyID) IsZero() bool { return k == KeyID{} }

// String is lower-case hex.
func (k KeyID) String() string { return hex.EncodeToString(k[:]) }

// SealedField names which sealed field of a destination a blob belongs to.
// The name is bound into the blob (the sealing AEAD's associated data), so a
// blob moved to the other field does not open. Persisted inside every v2
// sealed blob's authentication: never rename, only add.
type SealedField uint8

// Sealed fields of a Destination.
const (
	FieldKeys        SealedField = 1 // SealedKeys: the private key file
	FieldLeaseSetKey SealedField = 2 // SealedLeaseSetKey: the X25519 LeaseSet private key
)

// String is the name bound into sealed blobs ("keys", "leaseset-key").
func (f SealedField) String() string {
	switch f {
	case FieldKeys:
		return "keys"
	case FieldLeaseSetKey:
		return "leaseset-key"
	}
	return fmt.Sprintf("field(%d)", uint8(f))
}

// SealVersion2 is the first byte of a sealed blob of format 2, which
// cluster/secret.go defines as version u8 (2) | KeyID (8) | nonce | ciphertext.
// The fsm reads only that header.
const SealVersion2 = 2

// SealedKeyID returns the KeyID in the header of a format 2 sealed blob,
// and false for any other blob (format 1 has no KeyID).
func SealedKeyID(blob []byte) (KeyID, bool) {
	var id KeyID
	if len(blob) < 1+KeyIDLen || blob[0] != SealVersion2 {
		return id, false
	}
	copy(id[:], blob[1:])
	return id, true
}

// maxResealed bounds the destinations one SecretRotated carries.
const maxResealed = 0xFFFF

// Resealed is one destination's blobs sealed again under a new secret.
type Resealed struct {
	Name              string
	Destination       []byte // the public Destination bytes, to tell a re-created name apart
	SealedKeys        []byte
	SealedLeaseSetKey []byte
}

// SecretRotated records that the destinations are now sealed under the
// secret named KeyID, with their blobs sealed again under it (imh cluster
// secret rotate). It must list every destination of the state (a
// destination created meanwhile makes it fail with ErrInvalid: the leader
// retries with it), each with the same Destination bytes and blobs of
// format 2 under KeyID; names it lists that no longer exist are skipped.
// From then on a DestinationPut is accepted only with blobs of format 2
// under KeyID, so nothing is sealed under a secret the cluster left.
// Applied twice it changes nothing the second time.
// Payload: key id (8) | count u16 | count * (name String | destination Blob |
// sealed keys Blob | sealed leaseset key Blob).
type SecretRotated struct {
	KeyID KeyID
	Dests []Resealed
}

// Type implements Command.
func (*SecretRotated) Type() CommandType { return CmdSecretRotated }

func (c *SecretRotated) appendPayload(b []byte) ([]byte, error) {
	b = append(b, c.KeyID[:]...)
	if len(c.Dests) > maxResealed {
		return b, fmt.Errorf("%w: %d destinations", ErrInvalid, len(c.Dests))
	}
	b = wire.AppendUint16(b, uint16(len(c.Dests)))
	var err error
	for _, d := range c.Dests {
		if b, err = wire.AppendString(b, d.Name); err != nil {
			return b, err
		}
		for _, blob := range [][]byte{d.Destination, d.SealedKeys, d.SealedLeaseSetKey} {
			if b, err = appendBlob(b, blob); err != nil {
				return b, err
			}
		}
	}
	return b, nil
}

func (c *SecretRotated) readPayload(r *wire.Reader) {
	copy(c.KeyID[:], r.Bytes("key id", KeyIDLen))
	n := int(r.Uint16("destination count"))
	for i := 0; i < n && r.Err() == nil; i++ {
		c.Dests = append(c.Dests, Resealed{
			Name:              r.String("name"),
			Destination:       readBlob(r, "destination"),
			SealedKeys:        readBlob(r, "sealed keys"),
			SealedLeaseSetKey: readBlob(r, "sealed leaseset key"),
		})
	}
}

func (d *data) secretRotated(c *SecretRotated) error {
	if c.KeyID.IsZero() {
		return fmt.Errorf("%w: zero key id", ErrInvalid)
	}
	byName := make(map[string]Resealed, len(c.Dests))
	for _, r := range c.Dests {
		if _, dup := byName[r.Name]; dup {
			return fmt.Errorf("%w: destination %s listed twice", ErrInvalid, r.Name)
		}
		for i, blob := range [][]byte{r.SealedKeys, r.SealedLeaseSetKey} {
			if id, ok := SealedKeyID(blob); !ok || id != c.KeyID {
				return fmt.Errorf("%w: %s of %s not sealed under key %s", ErrInvalid, SealedField(i+1), r.Name, c.KeyID)
			}
		}
		byName[r.Name] = r
	}
	for _, name := range slices.Sorted(maps.Keys(d.dests)) {
		r, ok := byName[name]
		if !ok {
			return fmt.Errorf("%w: destination %s not re-sealed (created meanwhile?)", ErrInvalid, name)
		}
		if !bytes.Equal(r.Destination, d.dests[name].Destination) {
			return fmt.Errorf("%w: destination %s was re-created meanwhile", ErrInvalid, name)
		}
	}
	for name, old := range d.dests {
		r := byName[name]
		nd := old.clone()
		nd.SealedKeys, nd.SealedLeaseSetKey = bytes.Clone(r.SealedKeys), bytes.Clone(r.SealedLeaseSetKey)
		d.dests[name] = nd
	}
	d.keyID = c.KeyID
	return nil
}

// checkSealedUnder refuses a DestinationPut's blobs unless they are of
// format 2 under the recorded KeyID; before any rotation anything goes
// (format 1 blobs from older binaries included).
func (d *data) checkSealedUnder(c *DestinationPut) error {
	if d.keyID.IsZero() {
		return nil
	}
	for _, blob := range [][]byte{c.SealedKeys, c.SealedLeaseSetKey} {
		if id, ok := SealedKeyID(blob); !ok || id != d.keyID {
			return fmt.Errorf("%w: keys of %s not sealed under the cluster's key %s (the secret was rotated: retry)", ErrInvalid, c.Name, d.keyID)
		}
	}
	return nil
}

// SealKeyID is the KeyID of the secret the destinations are sealed under,
// as the last SecretRotated recorded it (zero before any rotation).
func (s *State) SealKeyID() KeyID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.keyID
}

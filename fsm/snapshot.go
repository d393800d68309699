package fsm

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/wire"
)

// Snapshot file layout (all integers big-endian):
//
//	magic "imh-fsm\n" (8) | version u16 | body | SHA-256 of everything before (32)
//
// body (version 2):
//
//	index u64
//	routers u32 count, each: name String | addr String
//	destinations u32 count, each: name String | destination Blob | sealed keys Blob |
//	    sealed leaseset key Blob | leaseset public key Blob | settings (Settings) |
//	    has leaseset u8 [| leaseset Blob | published u32 | count u8 | router String*]
//	tunnels u32 count, each: as in TunnelRecorded
//	marks u32 count, each: destination hash (32) | published u32
//	frontends u32 count, each: name String | addr String | router String
//
// body (version 3): version 2 | seal key id (8)
//
// Version 3 is written only once a SecretRotated recorded a key id; a state
// without one is written as version 2, byte for byte as before, so a
// cluster that never rotated keeps snapshots older binaries read.
// Version 1 is version 2 without the frontends: it still restores, with
// none. Every collection is written sorted, so equal states give equal
// bytes. An older binary refuses a newer version (ErrSnapshotVersion).
const (
	snapshotMagic    = "imh-fsm\n"
	snapshotVersion3 = 3 // with the seal key id
	snapshotVersion  = 2
	snapshotVersion1 = 1 // before frontends
)

// Snapshot encodes the whole state: Freeze then Marshal.
func (s *State) Snapshot() []byte { return s.Freeze().Marshal() }

// Frozen is an immutable view of the state at one index. Its Marshal gives
// the same bytes Snapshot would have given at the moment of Freeze.
type Frozen struct{ d *data }

// Freeze captures the state cheaply, without encoding or hashing it, so
// raft's FSM.Snapshot stays short on the FSM goroutine and the work moves to
// Persist (raft's contract). It copies the maps only: their values are
// values or copy-on-write *Destination that Apply replaces, never changes.
func (s *State) Freeze() Frozen {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.d
	return Frozen{d: &data{
		index: d.index, keyID: d.keyID,
		routers: maps.Clone(d.routers), fronts: maps.Clone(d.fronts), dests: maps.Clone(d.dests),
		tunnels: maps.Clone(d.tunnels), marks: maps.Clone(d.marks),
	}}
}

// Index is the raft index of the last entry applied before Freeze.
func (f Frozen) Index() uint64 { return f.d.index }

// Marshal encodes the frozen state as a snapshot file. Safe to call from
// any goroutine, while the state goes on applying.
func (f Frozen) Marshal() []byte { return f.d.marshal() }

// Restore replaces the whole state with a decoded snapshot. The new state
// is built first and swapped in under the lock; on error nothing changes.
func (s *State) Restore(b []byte) error {
	d, err := unmarshalData(b)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.d = d
	s.changes.Add(1)
	s.mu.Unlock()
	return nil
}

func (d *data) marshal() []byte {
	v := byte(snapshotVersion)
	if !d.keyID.IsZero() {
		v = snapshotVersion3
	}
	b := append([]byte(snapshotMagic), 0, v)
	b = wire.AppendUint64(b, d.index)

	b = wire.AppendUint32(b, uint32(len(d.routers)))
	for _, name := range slices.Sorted(maps.Keys(d.routers)) {
		r := d.routers[name]
		b, _ = appendStrings(b, r.Name, r.Addr) // validated on apply: fits
	}

	b = wire.AppendUint32(b, uint32(len(d.dests)))
	for _, name := range slices.Sorted(maps.Keys(d.dests)) {
		b = d.dests[name].append(b)
	}

	keys := slices.SortedFunc(maps.Keys(d.tunnels), TunnelKey.compare)
	b = wire.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b, _ = d.tunnels[k].append(b)
	}

	hashes := slices.SortedFunc(maps.Keys(d.marks), func(a, b i2p.Hash) int { return bytes.Compare(a[:], b[:]) })
	b = wire.AppendUint32(b, uint32(len(hashes)))
	for _, h := range hashes {
		b = append(b, h[:]...)
		b = wire.AppendUint32(b, d.marks[h])
	}

	b = wire.AppendUint32(b, uint32(len(d.fronts)))
	for _, name := range slices.Sorted(maps.Keys(d.fronts)) {
		f := d.fronts[name]
		b, _ = appendStrings(b, f.Name, f.Addr, f.Router) // validated on apply: fits
	}
	if v == snapshotVersion3 {
		b = append(b, d.keyID[:]...)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func (dst *Destination) append(b []byte) []byte {
	put := DestinationPut{
		Name: dst.Name, Destination: dst.Destination, SealedKeys: dst.SealedKeys,
		SealedLeaseSetKey: dst.SealedLeaseSetKey, LeaseSetPublicKey: dst.LeaseSetPublicKey, Settings: dst.Settings,
	}
	b, _ = put.appendPayload(b) // validated on apply: fits
	if dst.LeaseSet == nil {
		return append(b, 0)
	}
	ls := LeaseSetPublished{LeaseSet: dst.LeaseSet.Bytes, Published: dst.LeaseSet.Published, Routers: dst.LeaseSet.Routers}
	b = append(b, 1)
	b, _ = ls.appendPayload(b)
	return b
}

func unmarshalData(b []byte) (*data, error) {
	if len(b) < len(snapshotMagic)+2+sha256.Size || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: no snapshot header", ErrBadSnapshot)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(want[:], sum) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	r := wire.NewReader(body[len(snapshotMagic):])
	v := r.Uint16("version")
	if v != snapshotVersion3 && v != snapshotVersion && v != snapshotVersion1 {
		return nil, fmt.Errorf("%w: %d", ErrSnapshotVersion, v)
	}
	d := newData()
	d.index = r.Uint64("index")
	for n := r.Uint32("routers"); n > 0 && r.Err() == nil; n-- {
		rt := Router{Name: r.String("router name"), Addr: r.String("router addr")}
		d.routers[rt.Name] = rt
	}
	for n := r.Uint32("destinations"); n > 0 && r.Err() == nil; n-- {
		dst := readDestination(r)
		if dst != nil {
			d.dests[dst.Name] = dst
		}
	}
	for n := r.Uint32("tunnels"); n > 0 && r.Err() == nil; n-- {
		t := readTunnel(r)
		d.tunnels[t.TunnelKey] = t
	}
	for n := r.Uint32("marks"); n > 0 && r.Err() == nil; n-- {
		var h i2p.Hash
		copy(h[:], r.Bytes("mark hash", i2p.HashLen))
		d.marks[h] = r.Uint32("mark")
	}
	if v >= snapshotVersion {
		for n := r.Uint32("frontends"); n > 0 && r.Err() == nil; n-- {
			f := Frontend{Name: r.String("frontend name"), Addr: r.String("frontend addr"), Router: r.String("frontend router")}
			d.fronts[f.Name] = f
		}
	}
	if v >= snapshotVersion3 {
		copy(d.keyID[:], r.Bytes("seal key id", KeyIDLen))
		if d.keyID.IsZero() {
			r.Fail("seal key id", fmt.Errorf("%w: zero seal key id", ErrInvalid))
		}
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	return d, nil
}

func readDestination(r *wire.Reader) *Destination {
	var put DestinationPut
	put.readPayload(r)
	if r.Err() != nil {
		return nil
	}
	pd, n, err := i2p.ParseDestination(put.Destination)
	if err != nil || n != len(put.Destination) {
		r.Fail("destination", fmt.Errorf("%w: destination of %s", ErrInvalid, put.Name))
		return nil
	}
	dst := &Destination{
		Name: put.Name, Destination: put.Destination, SealedKeys: put.SealedKeys,
		SealedLeaseSetKey: put.SealedLeaseSetKey, LeaseSetPublicKey: put.LeaseSetPublicKey,
		Settings: put.Settings, hash: pd.Hash(),
	}
	switch r.Uint8("has leaseset") {
	case 0:
	case 1:
		var ls LeaseSetPublished
		ls.readPayload(r)
		dst.LeaseSet = &PublishedLeaseSet{Bytes: ls.LeaseSet, Published: ls.Published, Routers: ls.Routers}
	default:
		r.Fail("has leaseset", ErrInvalid)
	}
	return dst
}

// StateHash returns the raft index of the last applied entry and the
// SHA-256 (hex) of the state's canonical encoding without that index, read
// under one lock. Replicas that applied the same log agree on both: equal
// indexes with different hashes mean a replica diverged.
func (s *State) StateHash() (index uint64, hash string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.d.marshal()
	body := b[len(snapshotMagic)+2+8 : len(b)-sha256.Size] // without magic, version, index and checksum
	sum := sha256.Sum256(body)
	return s.d.index, fmt.Sprintf("%x", sum)
}

package simnet

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/imh-project/imh/i2p"
)

// netDB is the floodfills' view of LeaseSets. A LeaseSet is stored by the
// StoreRedundancy floodfills closest (XOR) to SHA-256 of the destination
// hash; flooding among them is modelled as instant and loss-free, so they
// hold one shared copy, and a store or lookup is counted once per request.
type netDB struct {
	n *Network

	mu    sync.Mutex
	dests map[i2p.Hash]*destRecord
}

type destRecord struct {
	current   []byte
	ls        *i2p.LeaseSet2
	stores    int
	rejected  int
	lookups   int
	found     int
	history   []StoredLeaseSet
	dropped   int
	floodfill []i2p.Hash
	traffic   SendResult
}

// StoredLeaseSet is one entry of a destination's store history.
type StoredLeaseSet struct {
	LeaseSet string `json:"leaseset"`  // I2P base64 of the LeaseSet2 bytes
	StoredAt int64  `json:"stored_at"` // seconds since epoch
}

func newNetDB(n *Network) *netDB {
	return &netDB{n: n, dests: make(map[i2p.Hash]*destRecord)}
}

// closestFloodfills are the floodfills that store dest's LeaseSet.
func (db *netDB) closestFloodfills(dest i2p.Hash) []i2p.Hash {
	key := i2p.HashOf(dest[:])
	ffs := make([]i2p.Hash, 0, len(db.n.ffs))
	for _, i := range db.n.ffs {
		ffs = append(ffs, db.n.peers[i].Hash)
	}
	dist := func(h i2p.Hash) []byte {
		var d [32]byte
		for i := range d {
			d[i] = h[i] ^ key[i]
		}
		return d[:]
	}
	slices.SortFunc(ffs, func(a, b i2p.Hash) int { return bytes.Compare(dist(a), dist(b)) })
	return ffs[:db.n.cfg.StoreRedundancy]
}

func (db *netDB) record(dest i2p.Hash) *destRecord {
	r := db.dests[dest]
	if r == nil {
		r = &destRecord{floodfill: db.closestFloodfills(dest)}
		db.dests[dest] = r
	}
	return r
}

// store verifies and stores a LeaseSet2 (bytes without the store type).
func (db *netDB) store(b []byte) error {
	ls, err := i2p.ParseLeaseSet2(b)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLeaseSetRejected, err)
	}
	dest := ls.Destination.Hash()
	now := db.n.clock.Now()
	db.mu.Lock()
	defer db.mu.Unlock()
	rec := db.record(dest)
	reject := func(format string, args ...any) error {
		rec.rejected++
		db.n.logger.Debug("leaseset rejected", "dest", dest.B32(), "reason", fmt.Sprintf(format, args...))
		return fmt.Errorf("%w: %s: %s", ErrLeaseSetRejected, dest.B32(), fmt.Sprintf(format, args...))
	}
	if err := ls.Verify(); err != nil {
		return reject("signature: %v", err)
	}
	if st := ls.TimeStatus(now); st != i2p.TimeOK {
		return reject("time status %s (published %d, now %d)", st, ls.Published, now.Unix())
	}
	if rec.ls != nil && ls.Published <= rec.ls.Published {
		return reject("published %d not newer than stored %d", ls.Published, rec.ls.Published)
	}
	rec.current = slices.Clone(b)
	rec.ls = ls
	rec.stores++
	rec.history = append(rec.history, StoredLeaseSet{LeaseSet: i2p.Base64.EncodeToString(b), StoredAt: now.Unix()})
	if extra := len(rec.history) - db.n.cfg.HistoryLimit; extra > 0 {
		rec.history = slices.Delete(rec.history, 0, extra)
		rec.dropped += extra
	}
	return nil
}

// lookup returns the stored LeaseSet2 of dest if it has not expired.
func (db *netDB) lookup(dest i2p.Hash) ([]byte, *i2p.LeaseSet2, error) {
	now := db.n.clock.Now()
	db.mu.Lock()
	defer db.mu.Unlock()
	rec := db.record(dest)
	rec.lookups++
	if rec.ls == nil || int64(rec.ls.ExpiresAt()) <= now.Unix() {
		return nil, nil, fmt.Errorf("%s: %w", dest.B32(), ErrNotFound)
	}
	rec.found++
	return rec.current, rec.ls, nil
}

// DestStatus is what the floodfills know of one destination.
type DestStatus struct {
	// Stores counts LeaseSets the floodfills stored (one per accepted
	// publication), Rejected the publications they refused, Lookups every
	// lookup (by routers and by remote clients).
	Stores   int `json:"stores"`
	Lookups  int `json:"lookups"`
	Rejected int `json:"rejected"`
	// Found counts lookups that returned a LeaseSet.
	Found   int              `json:"found"`
	History []StoredLeaseSet `json:"history"`
	// HistoryDropped counts the oldest entries dropped past HistoryLimit.
	HistoryDropped int `json:"history_dropped"`
	// Floodfills are the hex hashes of the floodfills that store it.
	Floodfills []string `json:"floodfills"`
	// Published and Expires describe the stored LeaseSet (0 if none).
	Published int64 `json:"published"`
	Expires   int64 `json:"expires"`
	// Traffic counts what remote clients' messages to it did.
	Traffic SendResult `json:"traffic"`
}

func (db *netDB) status() map[string]DestStatus {
	db.mu.Lock()
	defer db.mu.Unlock()
	out := make(map[string]DestStatus, len(db.dests))
	for h, r := range db.dests {
		s := DestStatus{
			Stores: r.stores, Lookups: r.lookups, Rejected: r.rejected, Found: r.found,
			History: slices.Clone(r.history), HistoryDropped: r.dropped,
		}
		if s.History == nil {
			s.History = []StoredLeaseSet{}
		}
		for _, f := range r.floodfill {
			s.Floodfills = append(s.Floodfills, f.String())
		}
		s.Traffic = r.traffic.clone()
		if r.ls != nil {
			s.Published, s.Expires = int64(r.ls.Published), int64(r.ls.ExpiresAt())
		}
		out[h.B32()] = s
	}
	return out
}

// Status is the JSON of `imh simnet serve`'s GET /status.
type Status struct {
	Peers      int      `json:"peers"`
	Floodfills int      `json:"floodfills"`
	Routers    []string `json:"routers"` // names of the live routers
	// RouterHashes maps each live router's name to its identity hash (hex),
	// the gateway of its 0-hop inbound tunnels.
	RouterHashes map[string]string `json:"router_hashes"`
	// RouterStats counts builds and deliveries per router name.
	RouterStats  map[string]RouterStats `json:"router_stats"`
	Destinations map[string]DestStatus  `json:"destinations"`
	Now          int64                  `json:"now"`
	Tunnels      int                    `json:"tunnels"` // live inbound tunnels
}

// Status is a snapshot of the network for the daemon's /status.
func (n *Network) Status() Status {
	st := Status{
		Peers:        len(n.peers),
		Floodfills:   len(n.ffs),
		Routers:      n.Routers(),
		RouterStats:  n.Stats(),
		Destinations: n.db.status(),
		Now:          n.clock.Now().Unix(),
		RouterHashes: make(map[string]string),
	}
	for _, name := range st.Routers {
		st.RouterHashes[name] = n.RouterHash(name).String()
	}
	now := n.clock.Now()
	n.mu.RLock()
	for _, rec := range n.tunnels {
		if now.Before(rec.t.Expires) && !rec.link.isClosed() {
			st.Tunnels++
		}
	}
	n.mu.RUnlock()
	return st
}

// DestStatus returns the floodfills' counters for one destination.
func (n *Network) DestStatus(dest i2p.Hash) DestStatus {
	return n.db.status()[dest.B32()]
}

func (db *netDB) countTraffic(dest i2p.Hash, o Outcome) {
	db.mu.Lock()
	defer db.mu.Unlock()
	r := db.record(dest)
	if r.traffic.Reasons == nil {
		r.traffic = NewSendResult()
	}
	r.traffic.Add(o)
}

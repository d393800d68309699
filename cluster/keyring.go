package cluster

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/memberlist"

	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/i2p"
)

// keyring is an agent's cluster secrets: the current one (--secret-file)
// and, while a rotation is under way, the previous one
// (--previous-secret-file). Blobs open under either; new blobs, gossip and
// snapshot MACs use the active one, which follows the replicated state
// (followSealKey): the secret the state says the destinations are sealed
// under (fsm.SecretRotated), or, before any rotation, the previous secret
// if one is given (the rotation has not happened: every agent still has
// it), else the current one. So agents switch together, when they apply
// the rotation, and a restart at any point comes back on the same choice.
type keyring struct {
	secrets []Secret  // current first, then previous
	sealers []*Sealer // in the same order
	gossip  [][]byte  // the gossip key of each secret, in the same order

	mu       sync.Mutex
	active   int                 // index into sealers
	followed *fsm.KeyID          // the state's key id last followed (nil: never)
	ml       *memberlist.Keyring // set once gossip runs
}

func newKeyring(current, previous Secret) (*keyring, error) {
	k := &keyring{}
	for _, s := range []Secret{current, previous} {
		if s.IsZero() {
			continue
		}
		sl, err := NewSealer(s)
		if err != nil {
			return nil, err
		}
		k.secrets = append(k.secrets, s)
		k.sealers = append(k.sealers, sl)
		k.gossip = append(k.gossip, s.GossipKey())
	}
	if len(k.sealers) == 0 {
		return nil, errors.New("cluster: no secret")
	}
	return k, nil
}

// choose is the index of the secret to use when the state records want.
func (k *keyring) choose(want fsm.KeyID) (int, bool) {
	if want.IsZero() {
		return len(k.sealers) - 1, true // the previous one during a rotation, else the only one
	}
	for i, s := range k.sealers {
		if s.id == want {
			return i, true
		}
	}
	return 0, false
}

// follow makes the secret the state records (want) the active one. It
// reports the key now active, whether it changed, and whether this agent
// holds the wanted secret at all.
func (k *keyring) follow(want fsm.KeyID) (active fsm.KeyID, changed, held bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i, held := k.choose(want)
	if k.followed != nil && *k.followed == want {
		return k.sealers[k.active].id, false, held, nil
	}
	k.followed = &want
	changed = i != k.active
	k.active = i
	if k.ml != nil {
		err = k.ml.UseKey(k.gossip[i])
	}
	return k.sealers[i].id, changed, held, err
}

// gossipKeyring builds memberlist's keyring (every secret, the active one
// primary) and keeps it in step with follow from then on.
func (k *keyring) gossipKeyring() (*memberlist.Keyring, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ml, err := memberlist.NewKeyring(k.gossip, k.gossip[k.active])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	k.ml = ml
	return ml, nil
}

func (k *keyring) activeSealer() *Sealer {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sealers[k.active]
}

// activeID names the secret new blobs are sealed under.
func (k *keyring) activeID() fsm.KeyID { return k.activeSealer().id }

// ids lists the key ids of the secrets held, current first.
func (k *keyring) ids() []fsm.KeyID {
	out := make([]fsm.KeyID, len(k.sealers))
	for i, s := range k.sealers {
		out[i] = s.id
	}
	return out
}

// sealer returns the sealer of the secret named id.
func (k *keyring) sealer(id fsm.KeyID) *Sealer {
	for _, s := range k.sealers {
		if s.id == id {
			return s
		}
	}
	return nil
}

// Seal seals under the active secret.
func (k *keyring) Seal(plain []byte, dest i2p.Hash, field fsm.SealedField) ([]byte, error) {
	return k.activeSealer().Seal(plain, dest, field)
}

// Open opens a blob sealed under any secret held: a format 2 blob under
// the secret it names, a format 1 blob under whichever opens it.
func (k *keyring) Open(sealed []byte, dest i2p.Hash, field fsm.SealedField) ([]byte, error) {
	if id, ok := fsm.SealedKeyID(sealed); ok {
		s := k.sealer(id)
		if s == nil {
			return nil, fmt.Errorf("%w: sealed under key %s, which this agent does not hold", ErrSealed, id)
		}
		return s.Open(sealed, dest, field)
	}
	for _, s := range k.sealers {
		if plain, err := s.Open(sealed, dest, field); err == nil {
			return plain, nil
		}
	}
	return nil, ErrSealed
}

// secretsActiveFirst are the secrets held, the active one first (a
// snapshot MAC is written under it and verifies under any).
func (k *keyring) secretsActiveFirst() []Secret {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := []Secret{k.secrets[k.active]}
	for i, s := range k.secrets {
		if i != k.active {
			out = append(out, s)
		}
	}
	return out
}

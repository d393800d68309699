package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/imh-project/imh/fsm"
)

// Rotation of the cluster secret (docs/security.md has the operator's
// procedure):
//
//  1. every agent is restarted, one at a time, with the new secret as
//     --secret-file and the old one as --previous-secret-file. Nothing
//     switches yet: blobs and gossip under either secret are accepted, and
//     every agent keeps sealing and gossiping under the old one (the state
//     records no switch), so an agent not yet restarted loses nothing.
//  2. POST /v1/secret/rotate (imh cluster secret rotate) on the leader:
//     it asks every server of the raft configuration which secrets it holds
//     and goes on only if all hold the leader's --secret-file; it then
//     opens every destination's blobs and seals them again in format 2
//     under that secret, in ONE fsm.SecretRotated entry. Each agent, as it
//     applies the entry, switches sealing, gossip encryption and snapshot
//     MACs to the new secret (keyring.follow); the old gossip key stays
//     installed for decryption.
//  3. every agent is restarted, one at a time, without
//     --previous-secret-file: only the new secret is left.
//
// The switch is a replicated decision, so an agent restarted at any point
// (before, during or after step 2) comes back on the choice the log makes,
// and nothing is ever sealed under a secret some agent lacks: before the
// entry every agent seals under the old secret, which all hold; after it,
// under the new one, which all were checked to hold, and the fsm refuses a
// put sealed under any other key. Run on a cluster without a previous
// secret, the same call re-seals blobs of format 1 in format 2 under the
// current secret (the upgrade of blobs written by older imh).

// errRefused maps to 409 / CodeRefused: a precondition of the operation
// does not hold; nothing was changed.
var errRefused = errors.New("refused")

// CodeRefused (409): the operation's precondition does not hold (see the
// message); nothing changed.
const CodeRefused = "refused"

const rotateAttempts = 3

// SecretAgent is one agent's answer about its secrets: the key ids of
// the secrets it holds (--secret-file first), the one it seals and gossips
// under now, and how many agents its gossip sees alive (itself included).
type SecretAgent struct {
	Name          string   `json:"name"`
	KeyIDs        []string `json:"key_ids"`
	SealingKey    string   `json:"sealing_key"`
	GossipMembers int      `json:"gossip_members"`
}

// SecretStatus is the answer of GET /v1/secret (imh cluster secret status).
type SecretStatus struct {
	KeyID  string        `json:"key_id"` // the key the state records ("" before any rotation)
	Agents []SecretAgent `json:"agents"` // key_ids empty for an agent that did not answer
}

// SecretRotateResult is the answer of POST /v1/secret/rotate.
type SecretRotateResult struct {
	KeyID    string        `json:"key_id"`   // the secret destinations are sealed under now
	Previous string        `json:"previous"` // the one the leader sealed under before
	Changed  bool          `json:"changed"`  // false: already sealed under key_id, nothing written
	Resealed int           `json:"resealed"` // destinations sealed again
	Agents   []SecretAgent `json:"agents"`
}

func (c *Cluster) registerSecret(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/secret/rotate", c.write(c.secretRotate))
	mux.HandleFunc("GET /v1/secret", c.handleSecretStatus)
}

func (c *Cluster) selfSecrets() SecretAgent {
	return SecretAgent{Name: c.cfg.NodeName, KeyIDs: keyIDStrings(c.keys.ids()),
		SealingKey: c.keys.activeID().String(), GossipMembers: len(c.members())}
}

func (c *Cluster) handleSecretStatus(w http.ResponseWriter, r *http.Request) {
	agents, _, err := c.agentSecrets(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	st := SecretStatus{Agents: agents}
	if id := c.state.SealKeyID(); !id.IsZero() {
		st.KeyID = id.String()
	}
	writeJSON(w, http.StatusOK, st)
}

// agentSecrets asks every server of the configuration for its secrets;
// errs[i] says why agent i did not answer.
func (c *Cluster) agentSecrets(ctx context.Context) ([]SecretAgent, []error, error) {
	conf, err := c.configuration()
	if err != nil {
		return nil, nil, err
	}
	servers := conf.Servers
	out := make([]SecretAgent, len(servers))
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		out[i].Name = string(s.ID)
		if out[i].Name == c.cfg.NodeName {
			out[i] = c.selfSecrets()
			continue
		}
		addr := c.httpAddrOf(out[i].Name)
		if addr == "" {
			errs[i] = errors.New("its API address is unknown (is it up?)")
			continue
		}
		wg.Go(func() {
			var p SelfInfo
			if err := c.getJSON(ctx, addr, "/v1/internal/self", peerInfoTimeout, &p); err != nil || p.Name != out[i].Name {
				errs[i] = fmt.Errorf("it did not answer (%v)", err)
				return
			}
			out[i] = p.Secrets
			out[i].Name = p.Name
		})
	}
	wg.Wait()
	return out, errs, nil
}

func (c *Cluster) secretRotate(ctx context.Context, _ *http.Request, _ []byte) (any, error) {
	if !c.isLeader() {
		return nil, &NotLeaderError{Leader: c.Leader()}
	}
	target := c.keys.ids()[0]
	agents, err := c.secretHolders(ctx, target)
	if err != nil {
		return nil, err
	}
	res := &SecretRotateResult{KeyID: target.String(), Previous: c.keys.activeID().String(), Agents: agents}
	for attempt := 1; ; attempt++ {
		cmd, err := c.resealAll(target)
		if err != nil {
			return nil, err
		}
		if cmd == nil {
			return res, nil // every blob already in format 2 under target, recorded
		}
		err = c.Apply(ctx, cmd)
		if errors.Is(err, fsm.ErrInvalid) && attempt < rotateAttempts {
			// A destination was created or removed meanwhile: read again.
			c.log.Info("secret rotation: the destinations changed meanwhile; again", "err", err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("secret rotate: %w", err)
		}
		res.Changed, res.Resealed = true, len(cmd.Dests)
		break
	}
	c.log.Info("cluster secret rotated: destinations re-sealed", "key_id", res.KeyID, "previous", res.Previous, "resealed", res.Resealed)
	// Compact this agent's log now, so the old blobs leave its disk;
	// the others compact at their own threshold.
	if err := c.TakeSnapshot(); err != nil {
		c.log.Warn("snapshot after rotation", "err", err)
	}
	return res, nil
}

// secretHolders asks every server of the configuration which secrets it
// holds and refuses unless each holds target.
func (c *Cluster) secretHolders(ctx context.Context, target fsm.KeyID) ([]SecretAgent, error) {
	out, errs, err := c.agentSecrets(ctx)
	if err != nil {
		return nil, err
	}
	for i, a := range out {
		if errs[i] != nil {
			return nil, fmt.Errorf("%w: agent %s: %w; every agent must hold the new secret", errRefused, a.Name, errs[i])
		}
		if !slices.Contains(a.KeyIDs, target.String()) {
			return nil, fmt.Errorf("%w: agent %s does not hold the new secret (key %s; it holds %v): restart it with --secret-file NEW --previous-secret-file OLD first", errRefused, a.Name, target, a.KeyIDs)
		}
	}
	return out, nil
}

// resealAll opens every destination's blobs and seals them again under
// target; nil when nothing needs it (all in format 2 under target, and the
// state records target).
func (c *Cluster) resealAll(target fsm.KeyID) (*fsm.SecretRotated, error) {
	sealer := c.keys.sealer(target)
	if sealer == nil {
		return nil, fmt.Errorf("%w: this agent does not hold key %s", errRefused, target)
	}
	dests := c.state.Destinations()
	done := c.state.SealKeyID() == target
	for _, d := range dests {
		for _, blob := range [][]byte{d.SealedKeys, d.SealedLeaseSetKey} {
			if id, ok := fsm.SealedKeyID(blob); !ok || id != target {
				done = false
			}
		}
	}
	if done {
		return nil, nil
	}
	cmd := &fsm.SecretRotated{KeyID: target}
	for _, d := range dests {
		r := fsm.Resealed{Name: d.Name, Destination: d.Destination}
		for _, f := range []struct {
			blob []byte
			out  *[]byte
			name fsm.SealedField
		}{{d.SealedKeys, &r.SealedKeys, fsm.FieldKeys}, {d.SealedLeaseSetKey, &r.SealedLeaseSetKey, fsm.FieldLeaseSetKey}} {
			plain, err := c.keys.Open(f.blob, d.Hash(), f.name)
			if err != nil {
				return nil, fmt.Errorf("%w: %s of destination %s does not open under this agent's secrets (%w): nothing changed", errRefused, f.name, d.Name, err)
			}
			*f.out, err = sealer.Seal(plain, d.Hash(), f.name)
			clear(plain)
			if err != nil {
				return nil, err
			}
		}
		cmd.Dests = append(cmd.Dests, r)
	}
	return cmd, nil
}

func keyIDStrings(ids []fsm.KeyID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

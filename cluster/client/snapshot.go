package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/fsm"
	"github.com/imh-project/imh/internal/keyfile"
)

// The snapshot files of `imh cluster snapshot save|restore`: the bytes
// GET /v1/snapshot answers (the state and the agent's MAC trailer), kept
// as they came, since only an agent with the secret can check the MAC.
// Saving and restoring both decode the state first, so that a file that
// would be refused, or an agent that sent garbage, is caught before
// anything is written or replaced.

// ErrSnapshotFile marks a problem with a local snapshot file (it exists
// already, cannot be read or written, or holds no decodable state): the
// caller's to fix, not the agent's. The error's message is the problem's
// own.
var ErrSnapshotFile = errors.New("client: snapshot file")

type fileError struct{ err error }

func (e fileError) Error() string   { return e.err.Error() }
func (e fileError) Unwrap() []error { return []error{e.err, ErrSnapshotFile} }

// SavedSnapshot is a snapshot file SaveSnapshot wrote: its name, what its
// state holds and its size (the JSON of `imh cluster snapshot save
// --json`).
type SavedSnapshot struct {
	File string `json:"file"`
	cluster.RestoreResult
	Bytes int `json:"bytes"`
}

// SaveSnapshot writes the leader's snapshot (GET /v1/snapshot) to file,
// mode 0600, once its state decodes. It never replaces a file: one that
// exists is refused before the snapshot is asked for.
func (c *Client) SaveSnapshot(ctx context.Context, file string) (SavedSnapshot, error) {
	exists := fileError{fmt.Errorf("%s exists (refusing to overwrite)", file)}
	if _, err := os.Lstat(file); err == nil {
		return SavedSnapshot{}, exists
	}
	b, err := c.Snapshot(ctx)
	if err != nil {
		return SavedSnapshot{}, err
	}
	body, err := cluster.SnapshotBody(b)
	if err != nil {
		return SavedSnapshot{}, err
	}
	st := fsm.New()
	if err := st.Restore(body); err != nil {
		return SavedSnapshot{}, fmt.Errorf("the agent sent an undecodable snapshot: %w", err)
	}
	// 0600 and never over another file: the snapshot holds sealed keys.
	var ce *keyfile.CreateError
	switch err := keyfile.WriteNew(file, b); {
	case errors.Is(err, os.ErrExist):
		return SavedSnapshot{}, exists
	case errors.As(err, &ce):
		return SavedSnapshot{}, fileError{ce.Err}
	case err != nil:
		return SavedSnapshot{}, err
	}
	res := cluster.RestoreResult{Routers: len(st.Routers()), Frontends: len(st.Frontends()), Destinations: len(st.Destinations())}
	return SavedSnapshot{File: file, RestoreResult: res, Bytes: len(b)}, nil
}

// ReadSnapshotFile reads a snapshot file: its bytes, to send as they are
// (Restore), and the state they hold. Every error is ErrSnapshotFile.
func ReadSnapshotFile(file string) ([]byte, *fsm.State, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fileError{err}
	}
	body, err := cluster.SnapshotBody(b)
	if err != nil {
		return nil, nil, fileError{fmt.Errorf("%s: %w", file, err)}
	}
	st := fsm.New()
	if err := st.Restore(body); err != nil {
		return nil, nil, fileError{fmt.Errorf("%s: %w", file, err)}
	}
	return b, st, nil
}

// RestorePlan is what restoring a snapshot file changes (fsm.Diff: names
// added, removed and changed against the cluster's state now), in the JSON
// of `imh cluster snapshot restore --dry-run --json`.
type RestorePlan struct {
	File         string   `json:"file"`
	DryRun       bool     `json:"dry_run"`
	Destinations NameDiff `json:"destinations"`
	Routers      NameDiff `json:"routers"`
	Frontends    NameDiff `json:"frontends"`
}

// NameDiff is fsm.NameDiff with the JSON names of docs/cli.md.
type NameDiff struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
}

// WriteText writes the plan as `imh cluster snapshot restore` shows it
// before it asks: per kind, the names added (+), removed (-) and changed
// (~), or "no change".
func (p RestorePlan) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "restoring %s replaces the whole replicated state; against the cluster now:\n", p.File)
	for _, g := range []struct {
		name string
		d    NameDiff
	}{{"destinations", p.Destinations}, {"routers", p.Routers}, {"frontends", p.Frontends}} {
		if fsm.NameDiff(g.d).Empty() {
			fmt.Fprintf(w, "  %s: no change\n", g.name)
			continue
		}
		var parts []string
		for _, x := range []struct {
			sign  string
			names []string
		}{{"+", g.d.Added}, {"-", g.d.Removed}, {"~", g.d.Changed}} {
			for _, n := range x.names {
				parts = append(parts, x.sign+n)
			}
		}
		fmt.Fprintf(w, "  %s: %s\n", g.name, strings.Join(parts, " "))
	}
	_, err := fmt.Fprintln(w, "  (+ added, - removed, ~ changed; tunnels and LeaseSets are those of the file, and leader work restarts from them)")
	return err
}

// Summary counts the plan's destination and router changes in one
// phrase, for the refusal to restore without --yes.
func (p RestorePlan) Summary() string {
	return fmt.Sprintf("destinations %d added, %d removed, %d changed; routers %d added, %d removed, %d changed",
		len(p.Destinations.Added), len(p.Destinations.Removed), len(p.Destinations.Changed),
		len(p.Routers.Added), len(p.Routers.Removed), len(p.Routers.Changed))
}

// PlanRestore compares then, the state of the snapshot file (as
// ReadSnapshotFile returned it), with now, the cluster's snapshot as the
// agent sent it (Snapshot).
func PlanRestore(file string, now []byte, then *fsm.State) (RestorePlan, error) {
	body, err := cluster.SnapshotBody(now)
	if err != nil {
		return RestorePlan{}, fmt.Errorf("the agent's state: %w", err)
	}
	st := fsm.New()
	if err := st.Restore(body); err != nil {
		return RestorePlan{}, fmt.Errorf("the agent sent an undecodable state: %w", err)
	}
	d := fsm.Diff(st, then)
	return RestorePlan{
		File:         file,
		Destinations: NameDiff(d.Destinations),
		Routers:      NameDiff(d.Routers),
		Frontends:    NameDiff(d.Frontends),
	}, nil
}

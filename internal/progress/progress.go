// Package progress is what every long wait of the CLI prints: what it
// waits for, the latest state and the elapsed time, one line per change of
// state, so a log or a pipe gets a short record rather than a spinner.
//
// It is shared by the commands in cmd/imh (`dest create --wait`, `cluster
// snapshot restore`) and by the local demo (internal/demo), which must
// word their waits alike; that is why it is a package of its own rather
// than a file of the command.
package progress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Progress reports one wait. Quiet ones print nothing (a command with
// --json keeps stdout for the machine and stderr empty unless it fails)
// but still keep the last state for the caller's final report.
type Progress struct {
	w     io.Writer
	what  string
	start time.Time
	last  string
	quiet bool
}

// New starts reporting a wait for what on w; the clock starts now.
func New(w io.Writer, what string, quiet bool) *Progress {
	return &Progress{w: w, what: what, start: time.Now(), quiet: quiet}
}

// Update prints state if it differs from the last one printed.
func (p *Progress) Update(state string) {
	if state == p.last {
		return
	}
	p.last = state
	if p.quiet {
		return
	}
	fmt.Fprintf(p.w, "waiting for %s: %s (%.1fs)\n", p.what, state, p.Elapsed().Seconds())
}

// Elapsed is the time since New.
func (p *Progress) Elapsed() time.Duration { return time.Since(p.start) }

// Last is the last state reported (by Update, or the state the check
// returned when Poll ended done).
func (p *Progress) Last() string { return p.last }

// ErrTimeout marks a wait that ran out of time (exit 1, as docs/cli.md
// has for timeouts).
var ErrTimeout = errors.New("timed out")

// Poll calls check every interval until it reports done, an error, the
// timeout or ctx's end; each state check returns while not done is
// printed when it changed. A timeout is an error wrapping ErrTimeout that
// names what was awaited and the last state or error seen.
func (p *Progress) Poll(ctx context.Context, timeout, interval time.Duration, check func(context.Context) (done bool, state string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, state, err := check(ctx)
		if done {
			if state != "" {
				p.last = state // the caller reports the end itself
			}
			return nil
		}
		if err == nil {
			p.Update(state)
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("waiting for %s: %w after %v (last: %s)", p.what, ErrTimeout, timeout, lastOr(p.last, err))
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

func lastOr(state string, err error) string {
	if err != nil {
		return err.Error()
	}
	if state == "" {
		return "nothing yet"
	}
	return state
}

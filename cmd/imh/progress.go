package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// progress is what every long CLI wait prints on stderr: what it waits
// for, the latest state and the elapsed time, one line per change of
// state (so a log or a pipe gets a short record, not a spinner). Quiet
// with --json: stdout is then the machine's and stderr stays empty unless
// the command fails.
type progress struct {
	w     io.Writer
	what  string
	start time.Time
	last  string
	quiet bool
}

func newProgress(w io.Writer, what string, quiet bool) *progress {
	return &progress{w: w, what: what, start: time.Now(), quiet: quiet}
}

// update prints state if it differs from the last one printed.
func (p *progress) update(state string) {
	if state == p.last {
		return
	}
	p.last = state
	if p.quiet {
		return
	}
	fmt.Fprintf(p.w, "waiting for %s: %s (%.1fs)\n", p.what, state, p.elapsed().Seconds())
}

func (p *progress) elapsed() time.Duration { return time.Since(p.start) }

// errWaitTimeout marks a wait that ran out of time (exit 1, as cli.md has
// for timeouts).
var errWaitTimeout = errors.New("timed out")

// poll calls check every interval until it reports done, an error, the
// timeout or ctx's end; each state check returns while not done is
// printed when it changed.
func (p *progress) poll(ctx context.Context, timeout, interval time.Duration, check func(context.Context) (done bool, state string, err error)) error {
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
			p.update(state)
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("waiting for %s: %w after %v (last: %s)", p.what, errWaitTimeout, timeout, lastOr(p.last, err))
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

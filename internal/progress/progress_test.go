package progress

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPoll: one line per change of state, none when quiet, and a timeout
// that names what was awaited and the last state (or error).
func TestPoll(t *testing.T) {
	errAgent := errors.New("agent unreachable")
	tests := []struct {
		name     string
		quiet    bool
		timeout  time.Duration
		states   []string // check's states in turn; done after the last one (unless timeout)
		err      error    // check's error, every call, on a timeout
		wantErr  error
		wantOut  []string // prefixes of the lines printed
		wantLast string
		inErr    string
	}{
		{name: "one line per change", timeout: time.Minute, states: []string{"a", "a", "b", "b", "c"},
			wantOut: []string{"waiting for the LeaseSet of web: a (", "waiting for the LeaseSet of web: b ("}, wantLast: "c"},
		{name: "quiet timeout names the last state", quiet: true, timeout: 20 * time.Millisecond, states: []string{"1 of 6 leases"},
			wantErr: ErrTimeout, wantLast: "1 of 6 leases", inErr: "last: 1 of 6 leases"},
		{name: "timeout names the last error", quiet: true, timeout: 20 * time.Millisecond, err: errAgent,
			wantErr: ErrTimeout, inErr: "last: agent unreachable"},
		{name: "timeout with nothing seen", quiet: true, timeout: 20 * time.Millisecond, states: []string{""},
			wantErr: ErrTimeout, inErr: "last: nothing yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := New(&out, "the LeaseSet of web", tt.quiet)
			i := 0
			err := p.Poll(context.Background(), tt.timeout, time.Millisecond, func(context.Context) (bool, string, error) {
				if tt.err != nil {
					return false, "", tt.err
				}
				s := tt.states[min(i, len(tt.states)-1)]
				i++
				return tt.wantErr == nil && i == len(tt.states), s, nil
			})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Poll = %v, want %v", err, tt.wantErr)
			}
			if tt.inErr != "" && !strings.Contains(err.Error(), tt.inErr) {
				t.Errorf("error %q does not contain %q", err, tt.inErr)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if out.Len() == 0 {
				lines = nil
			}
			if len(lines) != len(tt.wantOut) {
				t.Fatalf("printed %q, want %d lines", out.String(), len(tt.wantOut))
			}
			for j, l := range lines {
				if !strings.HasPrefix(l, tt.wantOut[j]) {
					t.Errorf("line %d = %q, want prefix %q", j, l, tt.wantOut[j])
				}
			}
			if p.Last() != tt.wantLast {
				t.Errorf("Last() = %q, want %q", p.Last(), tt.wantLast)
			}
		})
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := New(&bytes.Buffer{}, "x", false).Poll(ctx, time.Minute, time.Millisecond, func(context.Context) (bool, string, error) {
		return false, "s", nil
	})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("Poll on a canceled context = %v", err)
	}
}

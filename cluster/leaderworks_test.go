package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRunLeaderWorks(t *testing.T) {
	errA := errors.New("work a failed")
	untilDone := func(ctx context.Context) error { <-ctx.Done(); return nil }
	tests := []struct {
		name   string
		cancel bool // leadership ends
		works  []func(context.Context) error
		want   error
		any    bool // any error will do
	}{
		{name: "no works: until leadership ends", cancel: true},
		{name: "leadership ends", cancel: true, works: []func(context.Context) error{untilDone, untilDone}},
		{name: "a failing work stops the others", works: []func(context.Context) error{untilDone, func(context.Context) error { return errA }}, want: errA},
		{name: "a work returning early is an error", works: []func(context.Context) error{func(context.Context) error { return nil }}, any: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tt.cancel {
				time.AfterFunc(10*time.Millisecond, cancel)
			}
			err := runLeaderWorks(ctx, tt.works)
			switch {
			case tt.any && err == nil:
				t.Fatal("runLeaderWorks = nil, want an error")
			case !tt.any && !errors.Is(err, tt.want), !tt.any && tt.want == nil && err != nil:
				t.Fatalf("runLeaderWorks = %v, want %v", err, tt.want)
			}
			if !tt.cancel && ctx.Err() != nil {
				t.Fatal("runLeaderWorks returned only at the test's timeout")
			}
		})
	}
}

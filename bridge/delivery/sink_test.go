package delivery

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name  string
		err   error
		class Class
		after time.Duration
	}{
		{"nil", nil, Delivered, 0},
		{"plain error", base, Transient, 0},
		{"deadline", context.DeadlineExceeded, Transient, 0},
		{"retry", &Retry{Err: base}, Transient, 0},
		{"retry after", &Retry{After: 3 * time.Second, Err: base}, Transient, 3 * time.Second},
		{"wrapped retry after", fmt.Errorf("heal: %w", &Retry{After: time.Second, Err: base}), Transient, time.Second},
		{"blocked", &Blocked{Err: base}, IsBlocked, 0},
		{"wrapped blocked", fmt.Errorf("heal: %w", &Blocked{Err: base}), IsBlocked, 0},
		{"final", &Final{Err: base}, IsFinal, 0},
		{"wrapped final", fmt.Errorf("post: %w", &Final{Err: base}), IsFinal, 0},
		// A final cause inside a retry wrapper is still final: a sink
		// that wraps twice must not turn a 403 into a retry loop.
		{"final inside retry", &Retry{Err: &Final{Err: base}}, IsFinal, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, after := Classify(tt.err)
			if c != tt.class || after != tt.after {
				t.Errorf("Classify(%v) = %v, %v; want %v, %v", tt.err, c, after, tt.class, tt.after)
			}
		})
	}
}

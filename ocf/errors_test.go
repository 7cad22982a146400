package ocf

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestResult(t *testing.T) {
	cause := fs.ErrPermission
	tests := []struct {
		name       string
		err        error
		wantCode   Code
		wantReason string
	}{
		{"nil is success", nil, Success, ""},
		{"bare code", NotRunning, NotRunning, ""},
		{"bare promoted", RunningPromoted, RunningPromoted, ""},
		{"bare success code", Success, Success, ""},
		{"ocf error", Errorf(ErrNotConfigured, "bad ip %q", "x"), ErrNotConfigured, `bad ip "x"`},
		{"ocf error without reason", &Error{Code: ErrPerm}, ErrPerm, ""},
		{"ocf error with cause only", &Error{Code: ErrPerm, Err: cause}, ErrPerm, cause.Error()},
		{"wrapped ocf error keeps context", fmt.Errorf("start vip: %w", NotInstalled("no arping")), ErrNotInstalled, "start vip: no arping"},
		{"wrapped code", fmt.Errorf("probe: %w", NotRunning), NotRunning, "probe: not running"},
		{"plain error is generic", errors.New("disk on fire"), ErrGeneric, "disk on fire"},
		{"wrapped plain error", fmt.Errorf("write state: %w", cause), ErrGeneric, "write state: " + cause.Error()},
		{"degraded", Errorf(DegradedPromoted, "one replica behind"), DegradedPromoted, "one replica behind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason := Result(tt.err)
			if code != tt.wantCode || reason != tt.wantReason {
				t.Errorf("Result(%v) = %d %q, want %d %q", tt.err, code, reason, tt.wantCode, tt.wantReason)
			}
		})
	}
}

func TestErrorfWrapsCause(t *testing.T) {
	err := Errorf(ErrGeneric, "read state: %w", fs.ErrNotExist)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
	if !errors.Is(err, ErrGeneric) {
		t.Errorf("errors.Is(%v, ErrGeneric) = false", err)
	}
	if errors.Is(err, NotRunning) {
		t.Errorf("errors.Is(%v, NotRunning) = true", err)
	}
	two := Errorf(ErrPerm, "open %w, then %w", fs.ErrPermission, fs.ErrClosed)
	if !errors.Is(two, fs.ErrPermission) || !errors.Is(two, fs.ErrClosed) {
		t.Errorf("Errorf with two %%w lost a cause: %v", two)
	}
	if plain := Errorf(ErrPerm, "no cause").(*Error); plain.Err != nil {
		t.Errorf("Errorf without %%w set Err = %v", plain.Err)
	}
	var e *Error
	if !errors.As(fmt.Errorf("outer: %w", err), &e) || e.Code != ErrGeneric {
		t.Errorf("errors.As did not find the *Error through a wrapper")
	}
}

func TestCodeValues(t *testing.T) {
	want := map[Code]int{
		Success: 0, ErrGeneric: 1, ErrArgs: 2, ErrUnimplemented: 3, ErrPerm: 4,
		ErrNotInstalled: 5, ErrNotConfigured: 6, NotRunning: 7, RunningPromoted: 8,
		FailedPromoted: 9, Degraded: 190, DegradedPromoted: 191,
	}
	for c, n := range want {
		if int(c) != n {
			t.Errorf("%s = %d, want %d", c, int(c), n)
		}
		if c.String() == fmt.Sprintf("exit code %d", n) {
			t.Errorf("code %d has no name", n)
		}
	}
	for _, c := range []Code{NotRunning, RunningPromoted, Degraded, DegradedPromoted, Success} {
		if c.IsFailure() {
			t.Errorf("%s.IsFailure() = true", c)
		}
	}
	for _, c := range []Code{ErrGeneric, FailedPromoted, ErrNotConfigured} {
		if !c.IsFailure() {
			t.Errorf("%s.IsFailure() = false", c)
		}
	}
}

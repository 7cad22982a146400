package ocf

import (
	"errors"
	"fmt"
)

// Code is an OCF exit code. A Code is also an error, so a handler can report a
// state that is not a failure, such as "return ocf.NotRunning" from a monitor,
// without inventing a reason for it.
type Code int

// The OCF 1.1 exit codes, with the numbers Pacemaker 2.1 expects.
const (
	Success          Code = 0   // OCF_SUCCESS
	ErrGeneric       Code = 1   // OCF_ERR_GENERIC: soft error, recovered on the same node
	ErrArgs          Code = 2   // OCF_ERR_ARGS: bad arguments for this node
	ErrUnimplemented Code = 3   // OCF_ERR_UNIMPLEMENTED: action not supported
	ErrPerm          Code = 4   // OCF_ERR_PERM: insufficient privileges on this node
	ErrNotInstalled  Code = 5   // OCF_ERR_INSTALLED: something is missing on this node
	ErrNotConfigured Code = 6   // OCF_ERR_CONFIGURED: the configuration is wrong everywhere
	NotRunning       Code = 7   // OCF_NOT_RUNNING: cleanly stopped
	RunningPromoted  Code = 8   // OCF_RUNNING_PROMOTED: running in the promoted role
	FailedPromoted   Code = 9   // OCF_FAILED_PROMOTED: failed while promoted
	Degraded         Code = 190 // OCF_DEGRADED: running, but not at full health
	DegradedPromoted Code = 191 // OCF_DEGRADED_PROMOTED: promoted, but not at full health
)

var codeNames = map[Code]string{
	Success:          "success",
	ErrGeneric:       "generic error",
	ErrArgs:          "invalid arguments",
	ErrUnimplemented: "unimplemented action",
	ErrPerm:          "insufficient privileges",
	ErrNotInstalled:  "not installed",
	ErrNotConfigured: "not configured",
	NotRunning:       "not running",
	RunningPromoted:  "running promoted",
	FailedPromoted:   "failed promoted",
	Degraded:         "degraded",
	DegradedPromoted: "degraded promoted",
}

// String returns the human name of the code, for logs and documentation.
func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("exit code %d", int(c))
}

// Error makes Code an error, so a handler can return a bare state.
func (c Code) Error() string { return c.String() }

// IsFailure reports whether Pacemaker treats c as a failed operation. The
// states a monitor reports (not running, promoted, degraded) are not failures
// in themselves; the caller decides whether they were expected.
func (c Code) IsFailure() bool {
	switch c {
	case Success, NotRunning, RunningPromoted, Degraded, DegradedPromoted:
		return false
	}
	return true
}

// Error is an OCF exit code with the reason Pacemaker shows to the
// administrator (crm_mon's "exit-reason"). Err, if set, is the underlying
// cause; it is reachable with errors.Is and errors.As.
type Error struct {
	Code   Code
	Reason string
	Err    error
}

// Error returns the reason, or the code's name when there is none.
func (e *Error) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Code.String()
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ocf.NotRunning) match any *Error with that code,
// whatever its reason.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// Errorf returns an *Error with the given code and a formatted reason. As with
// fmt.Errorf, a %w verb wraps its operand, which stays reachable through
// errors.Is and errors.As.
func Errorf(code Code, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	e := &Error{Code: code, Reason: err.Error()}
	// Keep fmt's wrapper, not its operand, so that several %w all stay
	// reachable; without %w there is no cause to keep.
	if _, multi := err.(interface{ Unwrap() []error }); multi || errors.Unwrap(err) != nil {
		e.Err = err
	}
	return e
}

// Generic returns an OCF_ERR_GENERIC error with a formatted reason.
func Generic(format string, args ...any) error { return Errorf(ErrGeneric, format, args...) }

// NotConfigured returns an OCF_ERR_CONFIGURED error with a formatted reason.
func NotConfigured(format string, args ...any) error {
	return Errorf(ErrNotConfigured, format, args...)
}

// NotInstalled returns an OCF_ERR_INSTALLED error with a formatted reason.
func NotInstalled(format string, args ...any) error {
	return Errorf(ErrNotInstalled, format, args...)
}

// Result maps a handler's return value to the exit code and the exit reason.
// nil is Success. An *Error anywhere in the chain wins over a bare Code, so
// that a reason is kept; a bare Code has no reason. Any other error is
// ErrGeneric with its text as the reason.
func Result(err error) (Code, string) {
	if err == nil {
		return Success, ""
	}
	var e *Error
	if errors.As(err, &e) {
		reason := e.Reason
		if reason == "" && e.Err != nil {
			reason = e.Err.Error()
		}
		// Keep the context that wrappers around the *Error added.
		if outer := err.Error(); outer != e.Error() {
			reason = outer
		}
		return e.Code, reason
	}
	var c Code
	if errors.As(err, &c) {
		if outer := err.Error(); outer != c.Error() {
			return c, outer
		}
		return c, ""
	}
	return ErrGeneric, err.Error()
}

package ocf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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

// MaxReasonLen is how many bytes of an exit reason Pacemaker keeps
// (EXIT_REASON_MAX_LEN in Pacemaker 2.1's lib/services/services_linux.c):
// the rest of the line is dropped before it reaches the CIB and crm_mon.
const MaxReasonLen = 128

// ellipsis marks text that was cut. Three ASCII dots, not "…": the reason
// lands in XML, logs and terminals of every kind.
const ellipsis = "..."

// ExitReason returns the exit reason Run writes for err: Result's reason
// made one line without control characters, and at most MaxReasonLen
// bytes. A reason that fits is kept as written. One that does not is
// rearranged so that the most specific cause comes first and the context
// that wrappers added follows in parentheses, cut first: for
//
//	fmt.Errorf("start %s: %w", cmdline, ocf.Generic("exited with status 1 during start"))
//
// with a long command line, crm_mon shows "exited with status 1 during
// start (start /usr/bin/x --a ...)", not the start of the command line.
// The cause is found through the chain of wrapped errors (see splitCause),
// so agents write reasons naturally, context first. Run logs the full text
// when it was shortened.
func ExitReason(err error) string {
	_, reason := Result(err)
	if reason == "" {
		return ""
	}
	full := OneLine(reason)
	if len(full) <= MaxReasonLen {
		return full
	}
	context, cause := splitCause(err)
	cause = OneLine(cause)
	if len(context) == 0 || cause == "" {
		return Truncate(full, MaxReasonLen)
	}
	ctx := OneLine(strings.Join(context, ": "))
	// Room for " (" + context + ")": worth it only if a few bytes of the
	// context survive.
	room := MaxReasonLen - len(cause) - len(" ()")
	if room < len(ellipsis)+8 {
		return Truncate(cause, MaxReasonLen)
	}
	return cause + " (" + Truncate(ctx, room) + ")"
}

// splitCause splits an error's text into the contexts that wrappers
// prefixed, outermost first, and the most specific cause. It follows
// single-error Unwrap chains while each wrapper's text is "context: " +
// the wrapped error's text (what fmt.Errorf("context: %w", err) writes);
// a wrapper that places its cause elsewhere, an errors.Join, or the end
// of the chain ends the walk, and that error's text is the cause.
func splitCause(err error) (context []string, cause string) {
	text := err.Error()
	for {
		if _, multi := err.(interface{ Unwrap() []error }); multi {
			return context, text
		}
		next := errors.Unwrap(err)
		if next == nil {
			return context, text
		}
		inner := next.Error()
		switch {
		case inner == text:
			// An *Error and the fmt wrapper it keeps have the same text.
		case inner != "" && strings.HasSuffix(text, inner):
			if prefix := strings.TrimRight(strings.TrimSuffix(text, inner), " :;,-"); prefix != "" {
				context = append(context, prefix)
			}
		default:
			return context, text
		}
		err, text = next, inner
	}
}

// OneLine makes s fit on one line of a log or the CIB: line breaks become
// "; ", tabs and runs of spaces one space, other control and invisible
// formatting characters (such as bidirectional overrides) are dropped, and
// bytes that are not UTF-8 become "?".
func OneLine(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	pendingSpace, pendingBreak := false, false
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			r = '?'
		case r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == '\u2028' || r == '\u2029':
			pendingBreak = true
			continue
		case r == '\t' || unicode.IsSpace(r):
			pendingSpace = true
			continue
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		}
		if b.Len() > 0 {
			if pendingBreak {
				b.WriteString("; ")
			} else if pendingSpace {
				b.WriteByte(' ')
			}
		}
		pendingSpace, pendingBreak = false, false
		b.WriteRune(r)
	}
	return b.String()
}

// Truncate returns s cut to at most max bytes on a UTF-8 boundary, with
// "..." at the end when anything was cut. It is meant for text that is
// already one line (see OneLine).
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max <= len(ellipsis) {
		return ellipsis[:max]
	}
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " ") + ellipsis
}

// QuoteMax is how many bytes Quote's quoted text may take, quotes and
// escapes included.
const QuoteMax = 32

// Quote returns s quoted as Go quotes strings (control characters and
// invalid UTF-8 escaped, so it is one line), for values read from files or
// given by an administrator, echoed in an exit reason or a log line
// (principle 5: never a whole file, never unbounded input). The quoted text
// is at most QuoteMax bytes: a longer value is cut on a rune boundary and
// followed by "..." and its length. Escapes count, so 32 control bytes
// cannot push the cause out of a 128-byte exit reason:
//
//	Quote("/etc")                        // "/etc"
//	Quote("root:x:0:0:root:/root:/bin/bash\ndaemon:...") // "root:x:0:0:root:/root:/bin/ba"... (1204 bytes)
func Quote(s string) string {
	q := strconv.Quote(s)
	if len(q) <= QuoteMax {
		return q
	}
	q = `""`
	for n := min(len(s)-1, QuoteMax); n > 0; n-- {
		if !utf8.RuneStart(s[n]) {
			continue
		}
		if p := strconv.Quote(s[:n]); len(p) <= QuoteMax {
			q = p
			break
		}
	}
	return q + ellipsis + " (" + strconv.Itoa(len(s)) + " bytes)"
}

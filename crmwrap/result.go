package crmwrap

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vnfha/vnfha/crmwrap/internal/pcmkxml"
)

// Exit codes of the Pacemaker tools (CRM_EX_* in Pacemaker's results.h)
// that callers act on.
const (
	// ExitNoSuch is CRM_EX_NOSUCH: the requested item does not exist.
	ExitNoSuch = 105
	// ExitQuorum is CRM_EX_QUORUM: the local partition has no quorum.
	ExitQuorum = 106
	// ExitNotConnected is CRM_EX_DISCONNECT: the tool could not reach a
	// cluster daemon, typically because the cluster is not running.
	ExitNotConnected = 102
)

// Result is the <status> element that ends every --output-as=xml document.
// Its code is the tool's exit code and its errors are what the tool would
// have printed on stderr. crmmon.Result is the same type.
type Result = pcmkxml.Result

// ResultError is a tool that reported failure in its XML result.
type ResultError struct {
	Tool   string
	Result Result
	// Err is the underlying *ExitError, if the tool also exited non-zero.
	Err error
}

// Error says which tool failed, with its message and reasons.
func (e *ResultError) Error() string {
	msg := fmt.Sprintf("%s: %s (code %d)", e.Tool, e.Result.Message, e.Result.Code)
	if len(e.Result.Errors) > 0 {
		msg += ": " + strings.Join(e.Result.Errors, "; ")
	}
	return msg
}

// Unwrap returns the *ExitError behind the result, if any.
func (e *ResultError) Unwrap() error { return e.Err }

// ExitCode returns the Pacemaker exit code carried by err: the code of a
// *ResultError or of an *ExitError. It returns -1 if err carries neither.
func ExitCode(err error) int {
	var re *ResultError
	if errors.As(err, &re) {
		return re.Result.Code
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return -1
}

// IsNotFound reports whether err says that the requested resource, node or
// attribute does not exist (CRM_EX_NOSUCH).
func IsNotFound(err error) bool { return ExitCode(err) == ExitNoSuch }

// resultErr turns a decoded result and the error from running the tool
// into the error to return: nil on success, a *ResultError when the tool
// said why it failed, else the run error itself.
func resultErr(tool string, res Result, runErr error) error {
	if res.Code != 0 {
		return &ResultError{Tool: tool, Result: res, Err: runErr}
	}
	return runErr
}

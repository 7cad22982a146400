package haproxy

import (
	"errors"
	"fmt"
	"strings"
)

// Errors HAProxy reports in command replies (texts recorded from 2.6.12 in
// testdata/replies.txt). A *ReplyError matches one of them with errors.Is.
var (
	ErrNoSuchServer        = errors.New("no such server")
	ErrNoSuchBackend       = errors.New("no such backend")
	ErrAlreadyExists       = errors.New("a server with that name already exists")
	ErrNotDynamicBackend   = errors.New("backend does not accept dynamic servers (balance algorithm)")
	ErrHasConnections      = errors.New("server still has connections")
	ErrNotInMaint          = errors.New("server is not in maintenance")
	ErrReferenced          = errors.New("server is referenced by the configuration")
	ErrHealthNotConfigured = errors.New("server has no health check configured")
	ErrPermission          = errors.New("permission denied (the socket needs level admin)")
	ErrUnknownCommand      = errors.New("unknown command")
	// ErrRejected is any other error text: HAProxy refused the command.
	ErrRejected = errors.New("command rejected")
)

// ReplyError is an error HAProxy reported for a command.
type ReplyError struct {
	Command string // the command line (bounded), when known
	Text    string // HAProxy's first error line (bounded)
	Kind    error  // one of the Err* sentinels
}

func (e *ReplyError) Error() string {
	if e.Command == "" {
		return "haproxy: " + e.Text
	}
	return "haproxy: " + e.Command + ": " + e.Text
}

// Unwrap returns the sentinel, so errors.Is(err, ErrNoSuchServer) works.
func (e *ReplyError) Unwrap() error { return e.Kind }

// replyKinds maps the start of an error line to its kind. Order matters
// only where one prefix starts another (none do today).
var replyKinds = []struct {
	prefix string
	kind   error
}{
	{"No such server.", ErrNoSuchServer},
	{"No such backend.", ErrNoSuchBackend},
	{"Can't find backend.", ErrNoSuchBackend},
	{"No such proxy.", ErrNoSuchBackend},
	{"Already exists a server with the same name", ErrAlreadyExists},
	{"Backend must use a dynamic load balancing", ErrNotDynamicBackend},
	{"Server still has connections attached", ErrHasConnections},
	{"Only servers in maintenance mode can be deleted", ErrNotInMaint},
	{"This server cannot be removed at runtime", ErrReferenced},
	{"Health check was not configured", ErrHealthNotConfigured},
	{"Permission denied", ErrPermission},
	{"Unknown command", ErrUnknownCommand},
}

// successPrefixes are the non-empty lines of successful replies. Most
// write commands answer with an empty line only.
var successPrefixes = []string{
	"New server registered.",
	"Server deleted.",
	"IP changed from ",
	"no need to change the addr",
	"port changed from ",
}

// ParseReply classifies the reply of a write command, or of a ";" batch of
// them (their replies are concatenated): nil when every line is empty or a
// known success message, else a *ReplyError for the first other line. Text
// HAProxy did not document is an error (ErrRejected), never a silent
// success.
func ParseReply(reply string) error {
	for line := range strings.Lines(reply) {
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" || isSuccess(line) {
			continue
		}
		kind := ErrRejected
		for _, k := range replyKinds {
			if strings.HasPrefix(line, k.prefix) {
				kind = k.kind
				break
			}
		}
		return &ReplyError{Text: truncate(line), Kind: kind}
	}
	return nil
}

func isSuccess(line string) bool {
	for _, p := range successPrefixes {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// readError returns the error a read command (show ...) answered with
// instead of its output, or nil when reply does not start with a known
// error line. Read parsers call it first so that "Can't find backend."
// becomes ErrNoSuchBackend, not a format error.
func readError(reply string) error {
	first, _, _ := strings.Cut(reply, "\n")
	for _, k := range replyKinds {
		if strings.HasPrefix(first, k.prefix) {
			return &ReplyError{Text: truncate(first), Kind: k.kind}
		}
	}
	return nil
}

// complete checks that the reply of a show command ends as HAProxy ends
// each of them, with an empty line. A reply cut at a line boundary (the
// connection closed early) otherwise parses, and acting on the servers it
// lacks would build a pool from half a read.
func complete(what, reply string) error {
	if !strings.HasSuffix(reply, "\n\n") {
		return fmt.Errorf("%s: %w: %w (no closing empty line)", what, ErrFormat, ErrIncomplete)
	}
	return nil
}

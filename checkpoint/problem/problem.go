// Package problem is the checkpoint API's error body (RFC 9457
// application/problem+json) and its mapping, both ways, to the errors of
// package checkpoint: the server (checkpoint/api) turns an error into a
// Problem, and a client (checkpoint/client, the agent) turns the Problem
// back into the same typed error, so errors.As works across the wire.
// It is small and imports only the standard library and checkpoint, so
// that the agent may use it.
package problem

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vnfha/vnfha/checkpoint"
)

// ContentType is the media type of a Problem.
const ContentType = "application/problem+json"

// The problem types. A client dispatches on Type, never on Title or
// Detail (which are for people).
const (
	TypeInvalid      = "urn:vnfha:checkpoint:invalid"      // 400
	TypeUnauthorized = "urn:vnfha:checkpoint:unauthorized" // 401
	TypeNotFound     = "urn:vnfha:checkpoint:not-found"    // 404: no such key
	TypeNoRoute      = "urn:vnfha:checkpoint:no-route"     // 404: no such path
	TypeMethod       = "urn:vnfha:checkpoint:method"       // 405
	TypeFresherPeer  = "urn:vnfha:checkpoint:fresher-peer" // 409
	TypeStale        = "urn:vnfha:checkpoint:stale"        // 409
	TypeCompacted    = "urn:vnfha:checkpoint:compacted"    // 410
	TypeCondition    = "urn:vnfha:checkpoint:condition"    // 412
	TypeTooLarge     = "urn:vnfha:checkpoint:too-large"    // 413
	TypeNotPrimary   = "urn:vnfha:checkpoint:not-primary"  // 421
	TypeInternal     = "urn:vnfha:checkpoint:internal"     // 500
	TypeUnavailable  = "urn:vnfha:checkpoint:unavailable"  // 503
	TypeClosed       = "urn:vnfha:checkpoint:closed"       // 503
	TypeNoSpace      = "urn:vnfha:checkpoint:no-space"     // 507
	TypeHeaderTooBig = "urn:vnfha:checkpoint:header-large" // 431
	TypeTimeout      = "urn:vnfha:checkpoint:timeout"      // 504: the request's own deadline ran out
)

// Problem is the body of every error answer. The fields after Detail are
// set only for the problems they describe.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`

	// 421 (and a 503 on a standby): the primary, when known, and its
	// client API address.
	Primary    string `json:"primary,omitempty"`
	PrimaryAPI string `json:"primary_api,omitempty"`
	// 412: the key, the revision the condition named (0: not to exist)
	// and the key's revision (0: it does not exist).
	Key  string  `json:"key,omitempty"`
	Want *uint64 `json:"want,omitempty"`
	Have *uint64 `json:"have,omitempty"`
	// 413: the value's size (when known) and the limit.
	Size  int64 `json:"size,omitempty"`
	Limit int64 `json:"limit,omitempty"`
	// 410: the watch's revision and the oldest one kept.
	From   *uint64 `json:"from,omitempty"`
	Oldest *uint64 `json:"oldest,omitempty"`
	// 409 (fresher peer): the peer, its position and this replica's.
	Peer     string               `json:"peer,omitempty"`
	Position *checkpoint.Position `json:"position,omitempty"`
	Own      *checkpoint.Position `json:"own,omitempty"`
}

func u64(v uint64) *uint64 { return &v }

func newProblem(typ string, status int, detail string) Problem {
	return Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
}

// New returns a problem of type typ with HTTP status status.
func New(typ string, status int, detail string) Problem { return newProblem(typ, status, detail) }

// FromError maps an error of package checkpoint (wrapped or not) to its
// problem. A typed error's detail is its own text, without the server's
// wrapping, so that it comes back the same on the client. An error it does not know is a 500 whose detail is the error's
// text; context errors are 504 (the server's own deadline) or 503.
func FromError(err error) Problem {
	var (
		inv   *checkpoint.InvalidError
		big   *checkpoint.TooLargeError
		cond  *checkpoint.ConditionError
		np    *checkpoint.NotPrimaryError
		unav  *checkpoint.UnavailableError
		comp  *checkpoint.CompactedError
		fresh *checkpoint.FresherPeerError
		stale *checkpoint.StaleError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &inv):
		return newProblem(TypeInvalid, http.StatusBadRequest, inv.Error())
	case errors.Is(err, checkpoint.ErrNotFound):
		return newProblem(TypeNotFound, http.StatusNotFound, msg)
	case errors.As(err, &cond):
		p := newProblem(TypeCondition, http.StatusPreconditionFailed, cond.Error())
		p.Key, p.Want, p.Have = cond.Key, u64(cond.Want), u64(cond.Have)
		return p
	case errors.As(err, &big):
		p := newProblem(TypeTooLarge, http.StatusRequestEntityTooLarge, big.Error())
		p.Size, p.Limit = big.Size, big.Limit
		return p
	case errors.As(err, &np):
		p := newProblem(TypeNotPrimary, http.StatusMisdirectedRequest, np.Error())
		p.Primary, p.PrimaryAPI = np.Primary, np.PrimaryAPI
		return p
	case errors.As(err, &unav):
		return newProblem(TypeUnavailable, http.StatusServiceUnavailable, unav.Error())
	case errors.Is(err, checkpoint.ErrClosed):
		return newProblem(TypeClosed, http.StatusServiceUnavailable, msg)
	case errors.Is(err, checkpoint.ErrNoSpace):
		return newProblem(TypeNoSpace, http.StatusInsufficientStorage, msg)
	case errors.As(err, &comp):
		p := newProblem(TypeCompacted, http.StatusGone, comp.Error())
		p.From, p.Oldest = u64(comp.From), u64(comp.Oldest)
		return p
	case errors.As(err, &fresh):
		p := newProblem(TypeFresherPeer, http.StatusConflict, fresh.Error())
		pos, own := fresh.Position, fresh.Own
		p.Peer, p.Position, p.Own = fresh.Peer, &pos, &own
		return p
	case errors.As(err, &stale):
		return newProblem(TypeStale, http.StatusConflict, stale.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return newProblem(TypeTimeout, http.StatusGatewayTimeout, msg)
	}
	return newProblem(TypeInternal, http.StatusInternalServerError, msg)
}

// Err turns a problem back into the error of package checkpoint it stands
// for, so that errors.Is and errors.As work on a client as on the server.
// A problem of no known type is an *Error.
func (p Problem) Err() error {
	get := func(v *uint64) uint64 {
		if v == nil {
			return 0
		}
		return *v
	}
	switch p.Type {
	case TypeInvalid:
		return &checkpoint.InvalidError{Reason: p.Detail}
	case TypeNotFound:
		return checkpoint.ErrNotFound
	case TypeCondition:
		return &checkpoint.ConditionError{Key: p.Key, Want: get(p.Want), Have: get(p.Have)}
	case TypeTooLarge:
		return &checkpoint.TooLargeError{Size: p.Size, Limit: p.Limit}
	case TypeNotPrimary:
		return &checkpoint.NotPrimaryError{Primary: p.Primary, PrimaryAPI: p.PrimaryAPI}
	case TypeUnavailable:
		return &checkpoint.UnavailableError{Reason: strings.TrimPrefix(p.Detail, "unavailable: ")}
	case TypeClosed:
		return checkpoint.ErrClosed
	case TypeNoSpace:
		return checkpoint.ErrNoSpace
	case TypeCompacted:
		return &checkpoint.CompactedError{From: get(p.From), Oldest: get(p.Oldest)}
	case TypeFresherPeer:
		e := &checkpoint.FresherPeerError{Peer: p.Peer}
		if p.Position != nil {
			e.Position = *p.Position
		}
		if p.Own != nil {
			e.Own = *p.Own
		}
		return e
	case TypeStale:
		return &checkpoint.StaleError{Reason: strings.TrimPrefix(p.Detail, "may lack acknowledged writes: ")}
	}
	return &Error{Problem: p}
}

// Error is a problem that stands for no error of package checkpoint (a
// 401, a 405, an unknown route, a 500...).
type Error struct{ Problem Problem }

func (e *Error) Error() string {
	if e.Problem.Detail != "" {
		return fmt.Sprintf("%d %s: %s", e.Problem.Status, e.Problem.Title, e.Problem.Detail)
	}
	return fmt.Sprintf("%d %s", e.Problem.Status, e.Problem.Title)
}

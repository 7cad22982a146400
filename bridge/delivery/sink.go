package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sink is one destination: a webhook endpoint, or the VNFM's Heal.
//
// The queue calls Wants from one goroutine. It calls Deliver from one
// goroutine per subject at a time (never two attempts for the same
// Event.Subject at once, so at most one Heal is in flight per VNFC), and
// for different subjects concurrently. Deliver makes one attempt and
// honours ctx, whose deadline is the attempt's timeout. No secret of the
// sink (a client secret, an HMAC key, a token) may appear in what Deliver
// returns, or in what it logs.
type Sink interface {
	// Name is the sink's name in the config, logs, status and metrics.
	Name() string
	// Wants reports whether e is for this sink (its filter, its policy).
	Wants(e Event) bool
	// Deliver makes one attempt. nil means delivered. A failure is a
	// *Retry, a *Blocked or a *Final (wrapped or not); any other error
	// counts as a *Retry without After.
	Deliver(ctx context.Context, e Event) error
}

// Retry is a transient failure: a timeout, a refused connection, a 5xx.
// After is how long the receiver asked to wait (Retry-After); 0 leaves the
// wait to the queue's backoff.
type Retry struct {
	After time.Duration
	Err   error
}

func (r *Retry) Error() string {
	if r.After > 0 {
		return fmt.Sprintf("%v (retry after %s)", r.Err, r.After)
	}
	return r.Err.Error()
}

func (r *Retry) Unwrap() error { return r.Err }

// Blocked is a refusal that lasts while something else holds the target:
// ETSI's 409 "another LCM operation is in progress", which persists while
// an operation sits in FAILED_TEMP. Retried with backoff, and shown as
// blocked in the status and the metrics.
type Blocked struct{ Err error }

func (b *Blocked) Error() string { return "blocked: " + b.Err.Error() }
func (b *Blocked) Unwrap() error { return b.Err }

// Final is a failure that no retry can fix (400, 403, 404, 422, a 401
// after a fresh token, an invalid certificate): counted, logged, dropped.
type Final struct{ Err error }

func (f *Final) Error() string { return f.Err.Error() }
func (f *Final) Unwrap() error { return f.Err }

// Class is how the queue treats the outcome of an attempt.
type Class int

const (
	Delivered Class = iota // the attempt succeeded
	Transient              // try again after a backoff (or the Retry's After)
	IsBlocked              // try again with backoff; the status says blocked
	IsFinal                // never again: count, log, drop
)

// Classify says how the queue treats err, and the wait a Retry asked for.
func Classify(err error) (Class, time.Duration) {
	if err == nil {
		return Delivered, 0
	}
	var f *Final
	if errors.As(err, &f) {
		return IsFinal, 0
	}
	var b *Blocked
	if errors.As(err, &b) {
		return IsBlocked, 0
	}
	var r *Retry
	if errors.As(err, &r) {
		return Transient, r.After
	}
	return Transient, 0
}

// Resumer is a Sink that is told which events an earlier bridge left owed
// to it: that bridge may have made an attempt whose answer it never
// recorded (it crashed between the two). A sink that can find out whether
// such an attempt took effect (the Heal sink asks the VNFM) does so before
// it sends the event again. Queue.Load calls Resume before any attempt.
type Resumer interface {
	Resume(e Event)
}

// Eager is a Sink whose first attempt need not wait until the event is
// stored: its receivers drop repeats by the event's id (a webhook's
// webhook-id), so the only cost of starting early is a repeat after a
// crash. The store's write (a CIB round trip, ~20 ms) is then off the
// path from the fault to the receiver. The outcome is still recorded
// only after the event is stored. A Heal sink is never eager: a Heal has
// no idempotency key.
type Eager interface {
	Eager() bool
}

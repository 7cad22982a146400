package vnfc

import (
	"context"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// backend runs the VNFC: as a child of the agent's supervisor
// (processBackend) or as a systemd unit (systemdBackend). Each action of
// the agent makes a new one and calls it from one goroutine.
type backend interface {
	// status says what runs on this node now.
	status(ctx context.Context) (status, error)
	// start starts the VNFC and returns once it runs: not yet checked
	// for health, not yet settled, and not yet armed. When it fails, what
	// it started may still run: the caller stops it.
	start(ctx context.Context, c *config, env *ocf.Env) error
	// startedAt is when, after start, the VNFC was found running: the
	// settle time counts from it.
	startedAt() time.Time
	// wait waits, after start, up to d (0: not at all) or until ctx ends,
	// for the VNFC to end, and reports whether it did, and how, in words
	// for start's exit reason.
	wait(ctx context.Context, d time.Duration) (bool, string)
	// arm makes an exit of the VNFC from now on a failure reported to
	// Pacemaker at once (fast_fail). It fails if the VNFC already ended.
	arm(ctx context.Context) error
	// stop ends the VNFC and removes the instance's state. It succeeds
	// when nothing of the VNFC is left, whatever state it was in; c is nil
	// when the parameters are invalid.
	stop(ctx context.Context, c *config, log logger) error
}

// status is what a backend finds on this node.
type status struct {
	state  state
	reason string // why it is failed, or unsupervised
	// unsupervised is set when the VNFC runs but nothing would report its
	// exit at once: the supervisor is gone. reason, if set, says why.
	unsupervised bool
	// foreign is set when the VNFC runs but no start of this instance
	// here started it (a systemd unit started by hand): start takes it
	// over instead of taking it as started.
	foreign bool
}

// state is the coarse state of the VNFC on this node.
type state int

const (
	stopped state = iota // cleanly not running
	running              // running, health not yet checked
	failed               // started, then ended: needs a stop
)

package systemd

import (
	"context"
	"fmt"
	"slices"

	"github.com/godbus/dbus/v5"
)

// JobError is a start or stop job that ended in anything but "done".
type JobError struct {
	// Result is the job's result: failed, timeout, canceled, dependency
	// or skipped (org.freedesktop.systemd1(5), JobRemoved).
	Result string
	// UnitResult is the unit's Result property when the job ended, for a
	// service: exit-code, signal, core-dump, timeout, ... ("" if unknown).
	UnitResult string
}

func (e *JobError) Error() string {
	if e.UnitResult == "" {
		return fmt.Sprintf("job result %q", e.Result)
	}
	return fmt.Sprintf("job result %q, unit result %q", e.Result, e.UnitResult)
}

// jobEvent is a JobRemoved signal.
type jobEvent struct {
	id     uint32
	job    dbus.ObjectPath
	unit   string
	result string
}

// jobWaiter collects the JobRemoved signals while a job is being queued
// and run; the job's path, known once the call that queues it returns,
// picks its own among them.
type jobWaiter struct {
	events []jobEvent // guarded by Conn.mu
	poke   chan struct{}
}

// Start starts a unit (StartUnit, mode "replace") and waits until its job
// is finished, or ctx ends. A unit that is already active is a success. A
// job that does not end in "done" is a *JobError.
func (c *Conn) Start(ctx context.Context, unit string) error {
	if err := CheckName(unit); err != nil {
		return fmt.Errorf("start unit: %w", err)
	}
	if err := c.runJob(ctx, unit, "StartUnit", unit, "replace"); err != nil {
		return fmt.Errorf("start unit %s: %w", unit, err)
	}
	return nil
}

// Stop stops a unit (StopUnit, mode "replace") and waits until its job is
// finished, or ctx ends. A unit that is not loaded, or does not exist, is
// stopped already: OCF wants stop to succeed then. Stopping a failed unit
// leaves it failed (systemd keeps the failure until reset-failed or the
// next start).
func (c *Conn) Stop(ctx context.Context, unit string) error {
	if err := CheckName(unit); err != nil {
		return fmt.Errorf("stop unit: %w", err)
	}
	if err := c.stop(ctx, unit); err != nil {
		return fmt.Errorf("stop unit %s: %w", unit, err)
	}
	return nil
}

// ResetFailed forgets a unit's failure (ResetFailedUnit), as systemctl
// reset-failed does: a failed unit becomes inactive, and a failed transient
// unit is unloaded. A unit that is not loaded, or not failed, is left as it
// is.
func (c *Conn) ResetFailed(ctx context.Context, unit string) error {
	if err := CheckName(unit); err != nil {
		return fmt.Errorf("reset unit: %w", err)
	}
	err := c.manager().CallWithContext(ctx, managerIface+".ResetFailedUnit", 0, unit).Err
	if err != nil && !isDBusError(err, errNoSuchUnit) {
		return fmt.Errorf("reset unit %s: %w", unit, err)
	}
	return nil
}

func (c *Conn) stop(ctx context.Context, unit string) error {
	err := c.runJob(ctx, unit, "StopUnit", unit, "replace")
	if isDBusError(err, errNoSuchUnit) {
		return nil
	}
	return err
}

// runJob calls a manager method that queues a job for unit and returns its
// path, then waits for the job's JobRemoved. The waiter is in place before
// the call, so a job that ends before the reply is read is not missed.
func (c *Conn) runJob(ctx context.Context, unit, method string, args ...any) error {
	return c.runJobWait(ctx, ctx, unit, method, args...)
}

// runJobWait is runJob with one context for the call that queues the job
// and another for the wait: a caller that gives up waiting (StopWithin)
// still has its job queued.
func (c *Conn) runJobWait(ctx, wait context.Context, unit, method string, args ...any) error {
	if err := c.subscribe(ctx); err != nil {
		return err
	}
	w := &jobWaiter{poke: make(chan struct{}, 1)}
	c.mu.Lock()
	c.jobs[w] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.jobs, w)
		c.mu.Unlock()
	}()

	var job dbus.ObjectPath
	if err := c.manager().CallWithContext(ctx, managerIface+"."+method, 0, args...).Store(&job); err != nil {
		return err
	}
	for {
		c.mu.Lock()
		i := slices.IndexFunc(w.events, func(e jobEvent) bool { return e.job == job })
		var ev jobEvent
		if i >= 0 {
			ev = w.events[i]
		}
		c.mu.Unlock()
		if i >= 0 {
			if ev.result == "done" {
				return nil
			}
			jerr := &JobError{Result: ev.result}
			// Best effort: the job's failure is the error either way.
			if st, err := c.state(ctx, unit); err == nil {
				jerr.UnitResult = st.Result
			}
			return jerr
		}
		select {
		case <-w.poke:
		case <-wait.Done():
			return fmt.Errorf("wait for job %s: %w", job, wait.Err())
		case <-c.done:
			return fmt.Errorf("wait for job %s: %w", job, errClosed)
		}
	}
}

package systemd

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Kill sends sig to processes of a unit (KillUnit), as systemctl kill
// does: who is "main" (the main process), "control" (an ExecStartPre=,
// ExecStop= or similar process running now) or "all" (every process in
// the unit's cgroup, whatever its KillMode=). "all" of a unit with no
// process left is not an error.
func (c *Conn) Kill(ctx context.Context, unit, who string, sig syscall.Signal) error {
	if err := CheckName(unit); err != nil {
		return fmt.Errorf("kill unit: %w", err)
	}
	err := c.manager().CallWithContext(ctx, managerIface+".KillUnit", 0, unit, who, int32(sig)).Err
	if err != nil {
		return fmt.Errorf("kill %s processes of unit %s with signal %d: %w", who, unit, sig, err)
	}
	return nil
}

// KillPoll is how often StopWithin sends SIGKILL again and reads the
// unit's state once its grace time is over: systemd may start another
// process of the unit (ExecStopPost=) after the one it killed.
const KillPoll = 50 * time.Millisecond

// killTries bounds StopWithin's SIGKILL rounds (KillPoll apart: a
// minute), should ctx have no deadline.
const killTries = 1200

// StopWithin stops a unit as Stop does, but waits for the stop job only
// for grace. A unit whose stop takes longer (an ExecStop= that hangs,
// processes that ignore KillSignal=, a TimeoutStopSec= longer than the
// caller can wait, a start job stuck in ExecStartPre= or Type=notify) then
// gets SIGKILL for every process of its cgroup (KillUnit "all", whatever
// its KillMode=), again every KillPoll, until systemd says it is inactive
// or failed; the stop job queued first ends with it. It reports whether
// it had to kill. It fails when the unit is still up when ctx ends: what
// a process stuck in the kernel does. A unit that is not loaded is
// stopped already. A unit stopped this way is usually failed: the caller
// resets it (ResetFailed) if it wants it forgotten.
func (c *Conn) StopWithin(ctx context.Context, unit string, grace time.Duration) (killed bool, err error) {
	if err := CheckName(unit); err != nil {
		return false, fmt.Errorf("stop unit: %w", err)
	}
	gctx, cancel := context.WithTimeout(ctx, max(grace, 0))
	err = c.runJobWait(ctx, gctx, unit, "StopUnit", unit, "replace")
	cancel()
	switch {
	case err == nil, isDBusError(err, errNoSuchUnit):
		return false, nil
	case ctx.Err() != nil:
		return false, fmt.Errorf("stop unit %s: %w", unit, err)
	case !errors.Is(err, context.DeadlineExceeded):
		var jerr *JobError
		if !errors.As(err, &jerr) {
			// The connection, not the unit: the caller may try again
			// on another (Unavailable).
			return false, fmt.Errorf("stop unit %s: %w", unit, err)
		}
		// The stop job ended in something other than done (another
		// job replaced it): what counts is whether the unit is down.
		st, serr := c.state(ctx, unit)
		if serr == nil && st.Down() {
			return false, nil
		}
	}
	var st State
	for range killTries {
		if err := c.Kill(ctx, unit, "all", syscall.SIGKILL); err != nil && !isDBusError(err, errNoSuchUnit) {
			return true, fmt.Errorf("stop unit %s after %v: %w", unit, grace, err)
		}
		if st, err = c.state(ctx, unit); err != nil {
			return true, fmt.Errorf("stop unit %s: state after SIGKILL: %w", unit, err)
		}
		if st.Down() {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return true, fmt.Errorf("unit %s is still %s (%s) after SIGKILL to all its processes: %w",
				unit, st.ActiveState, st.SubState, ctx.Err())
		case <-time.After(KillPoll):
		}
	}
	return true, fmt.Errorf("unit %s is still %s (%s) after %d rounds of SIGKILL", unit, st.ActiveState, st.SubState, killTries)
}

// Reload makes systemd reload its configuration, as systemctl
// daemon-reload does: unit files and drop-ins are read anew, running units
// keep running. It returns once the reload is done.
func (c *Conn) Reload(ctx context.Context) error {
	if err := c.manager().CallWithContext(ctx, managerIface+".Reload", 0).Err; err != nil {
		return fmt.Errorf("reload systemd: %w", err)
	}
	return nil
}

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

// KillPoll is how often StopWithin reads the unit's state and processes
// while it waits for them to end after a signal, and sends SIGKILL again
// once its grace time is over: systemd may start another process of the
// unit (ExecStopPost=) after the one it killed.
const KillPoll = 50 * time.Millisecond

// killTries bounds StopWithin's SIGKILL rounds (KillPoll apart: a
// minute), should ctx have no deadline.
const killTries = 1200

// errOnlyByDependency is systemd's refusal of a stop or start job for a
// unit with RefuseManualStop=yes or RefuseManualStart=yes.
const errOnlyByDependency = "org.freedesktop.systemd1.OnlyByDependency"

// Stopped says how StopWithin ended a unit, beyond systemd's own stop.
type Stopped struct {
	// Refused is systemd's refusal of the stop job (RefuseManualStop=yes
	// gives org.freedesktop.systemd1.OnlyByDependency), nil when it took
	// the job. StopWithin then sent the unit's KillSignal= to all its
	// processes itself, and SIGKILL after the grace time.
	Refused error
	// Leftovers is how many processes were still in the unit's cgroup
	// once systemd had it down: KillMode=process leaves the main
	// process's children, KillMode=none every process. They got the
	// unit's KillSignal=, and SIGKILL after the grace time.
	Leftovers int
	// Killed is set when processes of the unit got SIGKILL: they outlived
	// the grace time.
	Killed bool
}

// StopWithin stops a unit as Stop does, but waits for the stop job only
// for grace, and leaves nothing of the unit running. A unit whose stop
// takes longer (an ExecStop= that hangs, processes that ignore
// KillSignal=, a TimeoutStopSec= longer than the caller can wait, a start
// job stuck in ExecStartPre= or Type=notify) then gets SIGKILL for every
// process of its cgroup (KillUnit "all", whatever its KillMode=), again
// every KillPoll, until systemd says it is inactive or failed and its
// cgroup is empty; the stop job queued first ends with it. Processes that
// systemd leaves in the cgroup of a unit it stopped (KillMode=process or
// none), and every process of a unit whose stop systemd refuses
// (RefuseManualStop=yes), get the unit's KillSignal= for what is left of
// grace, then SIGKILL the same way. It fails when the unit or a process
// of it is still up when ctx ends: what a process stuck in the kernel
// does. A unit that is not loaded is stopped already. A unit stopped this
// way is usually failed: the caller resets it (ResetFailed) if it wants
// it forgotten.
func (c *Conn) StopWithin(ctx context.Context, unit string, grace time.Duration) (Stopped, error) {
	var out Stopped
	if err := CheckName(unit); err != nil {
		return out, fmt.Errorf("stop unit: %w", err)
	}
	graceEnd := time.Now().Add(max(grace, 0))
	gctx, cancel := context.WithDeadline(ctx, graceEnd)
	err := c.runJobWait(ctx, gctx, unit, "StopUnit", unit, "replace")
	cancel()
	var jerr *JobError
	switch {
	case isDBusError(err, errNoSuchUnit):
		return out, nil
	case err == nil, errors.As(err, &jerr):
		// Done, or the stop job ended in something other than done
		// (another job replaced it): what counts is whether the unit
		// is down and its cgroup empty.
	case ctx.Err() != nil:
		return out, fmt.Errorf("stop unit %s: %w", unit, err)
	case errors.Is(err, context.DeadlineExceeded):
		// The grace time is over.
	case dbusErrorName(err) != "" && !Unavailable(err):
		// systemd answered, and refused the job: the unit's processes
		// are still ours to end.
		out.Refused = err
	default:
		// The connection, not the unit: the caller may try again on
		// another (Unavailable).
		return out, fmt.Errorf("stop unit %s: %w", unit, err)
	}
	return out, c.finishStop(ctx, unit, graceEnd, &out)
}

// finishStop ends what is left of a unit after its stop job: the unit's
// KillSignal= to every process while the grace time lasts, then SIGKILL.
func (c *Conn) finishStop(ctx context.Context, unit string, graceEnd time.Time, out *Stopped) error {
	st, procs, err := c.remains(ctx, unit)
	if err != nil {
		return fmt.Errorf("stop unit %s: %w", unit, err)
	}
	if st.Down() && procs == 0 {
		return nil
	}
	if st.Down() {
		out.Leftovers = procs
	}
	var killErr error
	if time.Now().Before(graceEnd) {
		sig := syscall.Signal(st.KillSignal)
		if sig <= 0 {
			sig = syscall.SIGTERM
		}
		killErr = c.Kill(ctx, unit, "all", sig)
		for time.Now().Before(graceEnd) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("unit %s is still %s (%s), %d process(es) left: %w", unit, st.ActiveState, st.SubState, procs, ctx.Err())
			case <-time.After(min(KillPoll, time.Until(graceEnd))):
			}
			if st, procs, err = c.remains(ctx, unit); err != nil {
				return fmt.Errorf("stop unit %s: %w", unit, err)
			}
			if st.Down() && procs == 0 {
				return nil
			}
		}
	}
	for range killTries {
		out.Killed = true
		if err := c.Kill(ctx, unit, "all", syscall.SIGKILL); err != nil && !isDBusError(err, errNoSuchUnit) {
			// A unit type that cannot be killed, say: what counts is
			// whether it ends; the error goes with the failure if not.
			killErr = err
		}
		if st, procs, err = c.remains(ctx, unit); err != nil {
			return fmt.Errorf("stop unit %s: after SIGKILL: %w", unit, err)
		}
		if st.Down() && procs == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("unit %s is still %s (%s), %d process(es) left after SIGKILL to all its processes: %w",
				unit, st.ActiveState, st.SubState, procs, errors.Join(ctx.Err(), killErr))
		case <-time.After(KillPoll):
		}
	}
	return fmt.Errorf("unit %s is still %s (%s), %d process(es) left after %d rounds of SIGKILL: %w",
		unit, st.ActiveState, st.SubState, procs, killTries, killErr)
}

// remains reads a unit's state and counts the processes in its cgroup
// (GetUnitProcesses; the main and control processes are counted even
// outside it). A unit that is not loaded has none.
func (c *Conn) remains(ctx context.Context, unit string) (State, int, error) {
	st, err := c.state(ctx, unit)
	if err != nil {
		return State{}, 0, fmt.Errorf("state of unit %s: %w", unit, err)
	}
	var procs []struct {
		Cgroup  string
		PID     uint32
		Cmdline string
	}
	err = c.manager().CallWithContext(ctx, managerIface+".GetUnitProcesses", 0, unit).Store(&procs)
	if err != nil && !isDBusError(err, errNoSuchUnit) {
		return st, 0, fmt.Errorf("processes of unit %s: %w", unit, err)
	}
	return st, len(procs), nil
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

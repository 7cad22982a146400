package systemd

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
)

// Transient describes a transient service: a unit made at run time, with
// no unit file, that systemd forgets once it is stopped (or reset after a
// failure). It is always Type=exec, so that a command that cannot be
// executed fails the start, and never restarts by itself: Pacemaker decides
// about restarts.
type Transient struct {
	// Description is the unit's description; systemd uses the command
	// line when empty.
	Description string
	// Argv is the command; Argv[0] is an absolute path.
	Argv []string
	// User and Group run the command under that user and group (names or
	// numbers); empty means root.
	User, Group string
	// WorkingDirectory is the command's working directory; empty means
	// the root directory.
	WorkingDirectory string
	// Environment is the command's environment, as KEY=VALUE.
	Environment []string
	// KillSignal is the signal that stops the service; zero means
	// SIGTERM.
	KillSignal syscall.Signal
	// TimeoutStop is how long a stop waits before SIGKILL; zero means
	// systemd's default (90s, DefaultTimeoutStopSec).
	TimeoutStop time.Duration
	// OutputFile, if set, gets the command's standard output and error,
	// appended to (StandardOutput=append:FILE). It is opened by systemd,
	// as root, before the command runs.
	OutputFile string
	// Nice is the service's nice (Nice=, -20..19); zero leaves systemd's
	// default, which is to set none.
	Nice int
}

// property is one (name, value) pair of StartTransientUnit's a(sv).
type property struct {
	Name  string
	Value dbus.Variant
}

// execCommand is one ExecStart entry, a(sasb): path, argv, and whether a
// failure is ignored.
type execCommand struct {
	Path          string
	Argv          []string
	IgnoreFailure bool
}

// auxUnit is StartTransientUnit's a(sa(sv)) of auxiliary units; none are
// made.
type auxUnit struct {
	Name  string
	Props []property
}

// properties are the unit's settings as systemd's D-Bus API names them.
func (t *Transient) properties() []property {
	p := []property{
		{"Type", dbus.MakeVariant("exec")},
		{"ExecStart", dbus.MakeVariant([]execCommand{{Path: t.Argv[0], Argv: t.Argv}})},
	}
	add := func(name string, v any) { p = append(p, property{name, dbus.MakeVariant(v)}) }
	if t.Description != "" {
		add("Description", t.Description)
	}
	if t.User != "" {
		add("User", t.User)
	}
	if t.Group != "" {
		add("Group", t.Group)
	}
	if t.WorkingDirectory != "" {
		add("WorkingDirectory", t.WorkingDirectory)
	}
	if len(t.Environment) > 0 {
		add("Environment", t.Environment)
	}
	if t.KillSignal != 0 {
		add("KillSignal", int32(t.KillSignal))
	}
	if t.TimeoutStop > 0 {
		add("TimeoutStopUSec", uint64(t.TimeoutStop/time.Microsecond))
	}
	if t.OutputFile != "" {
		add("StandardOutputFileToAppend", t.OutputFile)
		add("StandardErrorFileToAppend", t.OutputFile)
	}
	if t.Nice != 0 {
		add("Nice", int32(t.Nice))
	}
	return p
}

// transientTries bounds StartTransient's attempts to get rid of a leftover
// unit of the same name; each removes one obstacle (a running stop, a
// failed state), so a few are plenty.
const transientTries = 4

// StartTransient starts a transient service and waits until it runs (its
// command was executed) or its start failed. It is idempotent, as an OCF
// start must be:
//   - if a unit of that name is active, it succeeds, whatever the unit's
//     settings;
//   - if one is activating, it waits for that start;
//   - if one is left over, failed or inactive, it resets it so that systemd
//     forgets it, and starts anew: systemd 252 refuses StartTransientUnit for
//     a name still loaded ("Unit x.service was already loaded or has a
//     fragment file", UnitExists), and keeps a failed transient unit loaded
//     until reset-failed;
//   - a unit of that name that is not transient (it has a unit file) is an
//     error.
func (c *Conn) StartTransient(ctx context.Context, unit string, t Transient) error {
	if err := CheckTransientName(unit); err != nil {
		return fmt.Errorf("start transient unit: %w", err)
	}
	if len(t.Argv) == 0 {
		return fmt.Errorf("start transient unit %s: no command", unit)
	}
	if err := c.startTransient(ctx, unit, &t); err != nil {
		return fmt.Errorf("start transient unit %s: %w", unit, err)
	}
	return nil
}

func (c *Conn) startTransient(ctx context.Context, unit string, t *Transient) error {
	props := t.properties()
	for range transientTries {
		err := c.runJob(ctx, unit, "StartTransientUnit", unit, "replace", props, []auxUnit{})
		if !isDBusError(err, errUnitExists) {
			return err
		}
		st, err := c.state(ctx, unit)
		if err != nil {
			return err
		}
		switch {
		case !st.Transient:
			return fmt.Errorf("a unit of that name exists and is not transient (%s)", st.FragmentPath)
		case st.Active():
			return nil
		case st.ActiveState == "activating":
			// Joins the start job under way and waits for it.
			return c.runJob(ctx, unit, "StartUnit", unit, "replace")
		case st.ActiveState == "deactivating":
			// Waits for the stop under way; the next round resets.
			if err := c.stop(ctx, unit); err != nil {
				return err
			}
		default:
			// Failed or inactive but still loaded: once reset, systemd
			// garbage-collects the unit before it reads the next call.
			err := c.manager().CallWithContext(ctx, managerIface+".ResetFailedUnit", 0, unit).Err
			if err != nil && !isDBusError(err, errNoSuchUnit) {
				return fmt.Errorf("reset left-over unit: %w", err)
			}
		}
	}
	return errors.New("a unit of that name is still loaded after resetting it")
}

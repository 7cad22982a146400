package systemd

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// State is what systemd says of a unit: the properties of
// org.freedesktop.systemd1.Unit, and of .Service for a service, that tell
// whether it runs and how it ended.
type State struct {
	// ID is the unit's own name (its Id property): the name asked for,
	// or, for an alias (a symbolic link to another unit file), the name
	// of the unit it stands for. systemd signals changes under this name
	// only, and reads drop-ins from ID.d for certain.
	ID string
	// LoadState is loaded, not-found, bad-setting, error, masked, ...
	// A unit that exists nowhere is "not-found", not an error.
	LoadState string
	// ActiveState is active, reloading, inactive, failed, activating or
	// deactivating; SubState refines it per unit type (running, exited,
	// dead, ... for a service).
	ActiveState string
	SubState    string
	// Result is how a service last ended: success, exit-code, signal,
	// core-dump, timeout, ... ("" for other unit types).
	Result string
	// MainPID is the service's main process, 0 if none.
	MainPID uint32
	// ExecMainCode and ExecMainStatus are how the main process last ended:
	// the code is a CLD_* value (1 exited, 2 killed, 3 dumped) and the
	// status the exit status or the signal number.
	ExecMainCode   int32
	ExecMainStatus int32
	// Transient is true for a unit made by StartTransient (or any
	// StartTransientUnit); FragmentPath is the unit file it was loaded
	// from, under /run/systemd/transient for a transient unit.
	Transient    bool
	FragmentPath string
	// DropInPaths are the unit's drop-in files, in the order systemd
	// applies them: the last one to set a setting wins.
	DropInPaths []string
	// Type is a service's Type= (simple, exec, forking, notify, ...).
	Type string
	// Restart is a service's Restart= setting (no, always, on-failure,
	// ...); "" for other unit types.
	Restart string
	// NRestarts counts the automatic restarts (Restart=) since the unit
	// was last started by a job or stopped: systemd sets it to 0 then,
	// and adds 1 as it enters auto-restart. A restart systemd makes
	// behind its caller's back shows here even when the state it passed
	// through (activating, auto-restart) was too short to be seen.
	NRestarts uint32
	// RestartForced is set when the service has a RestartForceExitStatus=
	// list: those exit statuses and signals make systemd restart it
	// whatever its Restart= says.
	RestartForced bool
	// KillSignal is the signal systemd stops the service with
	// (KillSignal=); 0 for a unit type that has none.
	KillSignal int32
	// Nice is the nice a service's processes start at: its Nice=, or
	// without one, the nice systemd itself runs at (which they inherit).
	Nice int32
	// InvocationID identifies the unit's current (or last) run, in hex:
	// systemd draws a new one each time it starts the unit, by a job or
	// by itself (Restart=), and keeps it across daemon-reload and
	// daemon-reexec. A different InvocationID means the unit was started
	// anew, whoever did it. Empty if the unit never ran.
	InvocationID string
}

// Active reports whether the unit is up: active, or reloading.
func (s State) Active() bool { return s.ActiveState == "active" || s.ActiveState == "reloading" }

// Down reports whether nothing of the unit runs any more, as far as
// systemd's job is concerned: inactive or failed. A unit that is
// activating, deactivating or reloading still has processes at work.
func (s State) Down() bool { return s.ActiveState == "inactive" || s.ActiveState == "failed" }

// AutoRestart reports whether the unit's main process has ended and
// systemd is about to start it again by itself (Restart=): ActiveState
// activating, SubState auto-restart.
func (s State) AutoRestart() bool {
	return s.ActiveState == "activating" && s.SubState == "auto-restart"
}

// State reads a unit's state. It loads the unit if it is not loaded (as
// systemctl show does); a unit that does not exist has LoadState
// "not-found", ActiveState "inactive".
func (c *Conn) State(ctx context.Context, unit string) (State, error) {
	if err := CheckName(unit); err != nil {
		return State{}, fmt.Errorf("unit state: %w", err)
	}
	st, err := c.state(ctx, unit)
	if err != nil {
		return State{}, fmt.Errorf("state of unit %s: %w", unit, err)
	}
	return st, nil
}

// state reads the properties of every interface of the unit in one call:
// sd-bus's GetAll takes "" for all of them.
func (c *Conn) state(ctx context.Context, unit string) (State, error) {
	var p map[string]dbus.Variant
	err := c.bus.Object(destination, unitPath(unit)).
		CallWithContext(ctx, propsIface+".GetAll", 0, "").Store(&p)
	if err != nil {
		return State{}, err
	}
	return State{
		LoadState:      prop[string](p, "LoadState"),
		ActiveState:    prop[string](p, "ActiveState"),
		SubState:       prop[string](p, "SubState"),
		Result:         prop[string](p, "Result"),
		MainPID:        prop[uint32](p, "MainPID"),
		ExecMainCode:   prop[int32](p, "ExecMainCode"),
		ExecMainStatus: prop[int32](p, "ExecMainStatus"),
		Transient:      prop[bool](p, "Transient"),
		FragmentPath:   prop[string](p, "FragmentPath"),
		DropInPaths:    prop[[]string](p, "DropInPaths"),
		Type:           prop[string](p, "Type"),
		Restart:        prop[string](p, "Restart"),
		NRestarts:      prop[uint32](p, "NRestarts"),
		RestartForced:  restartForced(p["RestartForceExitStatus"]),
		KillSignal:     prop[int32](p, "KillSignal"),
		Nice:           prop[int32](p, "Nice"),
		InvocationID:   hex.EncodeToString(prop[[]byte](p, "InvocationID")),
		ID:             prop[string](p, "Id"),
	}, nil
}

// restartForced reports whether a RestartForceExitStatus property, a
// struct of two arrays (exit statuses, signals), lists anything.
func restartForced(v dbus.Variant) bool {
	fields, ok := v.Value().([]any)
	if !ok {
		return false
	}
	for _, f := range fields {
		if l, ok := f.([]int32); ok && len(l) > 0 {
			return true
		}
	}
	return false
}

// prop is a property's value, or T's zero value if it is missing or of
// another type.
func prop[T any](p map[string]dbus.Variant, name string) T {
	v, _ := p[name].Value().(T)
	return v
}

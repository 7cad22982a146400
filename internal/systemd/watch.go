package systemd

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// watcher is one Watch: dispatch pokes it on every PropertiesChanged of
// the unit's object.
type watcher struct {
	path dbus.ObjectPath
	poke chan struct{}
}

// watchRetry paces Watch's re-reads after a failed read.
const watchRetry = 100 * time.Millisecond

// Watch follows a unit: the channel gets the unit's state at once, then
// again whenever its ActiveState, SubState, NRestarts or InvocationID
// changes (the last two so that a restart is seen even when the states it
// passed through were too short to read), until ctx ends or the connection
// closes, when it is closed (ctx.Err() is nil in the second case). It
// follows systemd's PropertiesChanged signals on the unit's object and
// reads the whole state anew on each, so close changes may be coalesced:
// what is delivered is always the latest state. A receiver that falls
// behind delays later states but loses none of the last. Follow is Watch
// across the connection losses of daemon-reexec.
func (c *Conn) Watch(ctx context.Context, unit string) (<-chan State, error) {
	if err := CheckName(unit); err != nil {
		return nil, fmt.Errorf("watch unit: %w", err)
	}
	if err := c.subscribe(ctx); err != nil {
		return nil, fmt.Errorf("watch unit %s: %w", unit, err)
	}
	// systemd signals a unit's changes under its own name only: an
	// alias's object path answers calls, but never gets a signal.
	path, err := c.loadUnit(ctx, unit)
	if err != nil {
		return nil, fmt.Errorf("watch unit %s: %w", unit, err)
	}
	w := &watcher{path: path, poke: make(chan struct{}, 1)}
	match := []dbus.MatchOption{
		dbus.WithMatchSender(destination),
		dbus.WithMatchObjectPath(w.path),
		dbus.WithMatchInterface(propsIface),
		dbus.WithMatchMember("PropertiesChanged"),
	}
	if !c.direct {
		if err := c.bus.AddMatchSignalContext(ctx, match...); err != nil {
			return nil, fmt.Errorf("watch unit %s: add match: %w", unit, err)
		}
	}
	c.mu.Lock()
	c.watches[w] = struct{}{}
	c.mu.Unlock()
	// The first read happens after the watcher is in place, so no change
	// falls between the two.
	poke(w.poke)

	out := make(chan State)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(out)
		defer c.unwatch(w, match)
		var last State
		first := true
		for {
			select {
			case <-w.poke:
			case <-ctx.Done():
				return
			case <-c.done:
				return
			}
			st, err := c.state(ctx, unit)
			if err != nil {
				// Try again shortly, unless that was the end.
				select {
				case <-time.After(watchRetry):
					poke(w.poke)
					continue
				case <-ctx.Done():
					return
				case <-c.done:
					return
				}
			}
			if !first && st.ActiveState == last.ActiveState && st.SubState == last.SubState &&
				st.NRestarts == last.NRestarts && st.InvocationID == last.InvocationID {
				continue
			}
			first, last = false, st
			select {
			case out <- st:
			case <-ctx.Done():
				return
			case <-c.done:
				return
			}
		}
	}()
	return out, nil
}

// unwatch forgets a watcher and, on a bus, removes its match rule (best
// effort: the rule goes with the connection anyway).
func (c *Conn) unwatch(w *watcher, match []dbus.MatchOption) {
	c.mu.Lock()
	delete(c.watches, w)
	c.mu.Unlock()
	if c.direct {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.bus.RemoveMatchSignalContext(ctx, match...)
}

// loadUnit returns the object path of a unit under its own name
// (LoadUnit), loading it if need be: for an alias, the path of the unit it
// stands for.
func (c *Conn) loadUnit(ctx context.Context, unit string) (dbus.ObjectPath, error) {
	var path dbus.ObjectPath
	if err := c.manager().CallWithContext(ctx, managerIface+".LoadUnit", 0, unit).Store(&path); err != nil {
		return "", fmt.Errorf("load unit: %w", err)
	}
	return path, nil
}

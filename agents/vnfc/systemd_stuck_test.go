package vnfc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// ignoreTerm is a command that ignores SIGTERM, as a hung VNFC or a hung
// ExecStop= would: only SIGKILL ends it.
const ignoreTerm = `/bin/sh -c "trap '' TERM; while :; do sleep 0.1; done"`

// watchers lists the unit watchers running in the booted system.
func (b *booted) watchers() []int {
	b.t.Helper()
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", b.sys.PID))
	if err != nil {
		b.t.Fatal(err)
	}
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); ns != want {
			continue
		}
		if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); bytes.Contains(cmdline, []byte("--helper\x00vnfc\x00watch")) {
			out = append(out, pid)
		}
	}
	return out
}

// nothingLeft checks what a failed start or a stop must leave: the unit
// inactive (stopped, and reset if it failed), no process in its cgroup, no
// watcher, no state directory, and monitor says 7.
func (b *booted) nothingLeft(unit string) {
	b.t.Helper()
	if st := b.show(unit, "ActiveState"); st != "inactive" {
		b.t.Errorf("unit %s is %s, want inactive", unit, st)
	}
	if p := b.unitProcs(unit); len(p) > 0 {
		b.t.Errorf("processes %v left in unit %s", p, unit)
	}
	if w := b.watchers(); len(w) > 0 {
		b.t.Errorf("watchers %v left", w)
	}
	if _, err := os.Stat(b.stateDir()); !os.IsNotExist(err) {
		b.t.Errorf("state directory left (%v)", err)
	}
	b.must("monitor", ocf.NotRunning)
}

// TestSystemdStartStuck: a unit that does not finish starting within the
// start timeout (Type=notify that never notifies; an ExecStartPre= that
// hangs and ignores SIGTERM, with TimeoutStopSec=1h) fails start with a
// reason that names the state it is stuck in, before Pacemaker's timeout
// (the reason is the agent's, not the framework's "did not finish"), and
// the failed start leaves nothing: the unit stopped (SIGKILL where its
// processes ignore SIGTERM) and reset. An unhealthy VNFC's failed start
// also ends its watcher.
func TestSystemdStartStuck(t *testing.T) {
	b := boot(t)
	b.timeout = 3000
	tests := []struct {
		name, unit, text, health, reason string
	}{
		{"Type=notify, never ready", "vnfc-notify.service",
			"[Service]\nType=notify\nExecStart=/bin/sleep 100000\nTimeoutStartSec=1h\nTimeoutStopSec=1h\n", "",
			"unit vnfc-notify.service is still activating (start) at the start timeout: Type=notify, no READY=1 yet"},
		{"ExecStartPre hangs", "vnfc-pre.service",
			"[Service]\nType=exec\nExecStartPre=" + ignoreTerm + "\nExecStart=/bin/sleep 100000\nTimeoutStartSec=1h\nTimeoutStopSec=1h\n", "",
			"unit vnfc-pre.service is still activating (start-pre) at the start timeout"},
		{"never healthy", "vnfc-sick.service",
			"[Service]\nType=exec\nExecStart=" + ignoreTerm + "\nTimeoutStopSec=1h\n", "http://127.0.0.1:1/",
			"not healthy within the start timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.t = t
			b.writeUnit(tt.unit, tt.text)
			b.params["unit"] = tt.unit
			b.params["health"] = tt.health
			t0 := time.Now()
			got, stderr := b.run("start")
			t.Logf("start returned %d after %v (timeout %dms)", got, time.Since(t0).Round(time.Millisecond), b.timeout)
			if got != ocf.ErrGeneric || !strings.Contains(stderr, tt.reason) || strings.Contains(stderr, "did not finish") {
				t.Errorf("start = %d, %q; want 1 with %q", got, stderr, tt.reason)
			}
			b.nothingLeft(tt.unit)
			b.must("stop", ocf.Success)
		})
	}
}

// TestSystemdStopStuck: stop ends a unit whose own stop would take an hour
// (an ExecStop= that hangs; processes that ignore SIGTERM, a unit file's
// or the transient unit's TimeoutStopSec=1h): after stop_timeout, cut so
// that the kill fits in the stop timeout, it sends SIGKILL to every
// process of the unit, says so, and succeeds with nothing left. A stop
// already under way (systemctl stop by hand) is taken over the same way.
func TestSystemdStopStuck(t *testing.T) {
	b := boot(t)
	b.timeout = 5000
	const hangStop = "[Service]\nType=exec\nExecStart=/bin/sleep 100000\nExecStop=/bin/sleep 100000\nTimeoutStopSec=1h\n"
	tests := []struct {
		name, unit, text string
		params           map[string]string
		byHand           bool // systemctl stop --no-block first
		// stopParams change the parameters for the stop: stop works
		// with parameters that no longer parse (principle 1).
		stopParams map[string]string
		warning    string
	}{
		{"ExecStop hangs", "vnfc-stop.service", hangStop,
			map[string]string{"stop_timeout": "1s"}, false, nil, "did not stop within 1s; sent SIGKILL to all its processes"},
		{"SIGTERM ignored, stop_timeout cut to the stop timeout", "vnfc-term.service",
			"[Service]\nType=exec\nExecStart=" + ignoreTerm + "\nTimeoutStopSec=1h\n",
			map[string]string{}, false, nil, "sent SIGKILL to all its processes"},
		{"transient, SIGTERM ignored, stop_timeout=1h", "vnfha-sig.service", "",
			map[string]string{"command": ignoreTerm, "stop_timeout": "1h"}, false, nil, "sent SIGKILL to all its processes"},
		{"stop by hand under way", "vnfc-hand.service", hangStop,
			map[string]string{"stop_timeout": "1s"}, true, nil, "did not stop within 1s; sent SIGKILL to all its processes"},
		{"invalid parameters at stop", "vnfc-bad.service", hangStop,
			map[string]string{"stop_timeout": "1s"}, false, map[string]string{"environment": "'unterminated"},
			"sent SIGKILL to all its processes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.t = t
			b.params = map[string]string{}
			if tt.text != "" {
				b.writeUnit(tt.unit, tt.text)
				b.params["unit"] = tt.unit
			}
			for k, v := range tt.params {
				b.params[k] = v
			}
			b.must("start", ocf.Success)
			if len(b.watchers()) != 1 || len(b.unitProcs(tt.unit)) == 0 {
				t.Fatalf("after start: watchers %v, processes %v", b.watchers(), b.unitProcs(tt.unit))
			}
			if strings.Contains(tt.text+tt.params["command"], "trap ''") {
				b.sys.WaitSignalIgnored(t, tt.unit, syscall.SIGTERM)
			}
			if tt.byHand {
				b.systemctl("stop", "--no-block", tt.unit)
				waitFor(t, 5*time.Second, "deactivating", func() bool { return b.show(tt.unit, "ActiveState") == "deactivating" })
			}
			for k, v := range tt.stopParams {
				b.params[k] = v
			}
			t0 := time.Now()
			stderr := b.must("stop", ocf.Success)
			t.Logf("stop took %v (timeout %dms)", time.Since(t0).Round(time.Millisecond), b.timeout)
			if !strings.Contains(stderr, tt.warning) {
				t.Errorf("stop's stderr %q, want %q", stderr, tt.warning)
			}
			for k := range tt.stopParams {
				// monitor would say 6 for them.
				delete(b.params, k)
			}
			b.nothingLeft(tt.unit)
		})
	}
}

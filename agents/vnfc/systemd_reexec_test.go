package vnfc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// systemctl runs systemctl in the booted system, as an operator would.
func (b *booted) systemctl(args ...string) string {
	b.t.Helper()
	out, err := b.systemctlErr(args...)
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

// systemctlErr is systemctl for a goroutine other than the test's.
func (b *booted) systemctlErr(args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"-t", fmt.Sprint(b.sys.PID), "-a", "systemctl"}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("systemctl %s: %v %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// show reads one property of a unit.
func (b *booted) show(unit, prop string) string {
	b.t.Helper()
	return b.systemctl("show", "-P", prop, unit)
}

// writeUnit installs a unit file in the booted system and reloads it.
func (b *booted) writeUnit(name, text string) {
	b.t.Helper()
	if err := os.WriteFile(b.sys.Path("/run/systemd/system/"+name), []byte(text), 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.systemctl("daemon-reload")
}

// stateDir is the instance's state directory, as the test sees it.
func (b *booted) stateDir() string { return b.sys.Path("/run/resource-agents/vnfha-vnfc/sig") }

// watcher returns the unit watcher's pid in the test's PID namespace, from
// the record start wrote; 0 if there is no record or no watcher.
func (b *booted) watcher() int {
	b.t.Helper()
	rec, err := readRecord(b.stateDir())
	if err != nil {
		b.t.Fatal(err)
	}
	if rec == nil || rec.Supervisor.PID == 0 {
		return 0
	}
	pid, err := b.sys.HostPID(uint32(rec.Supervisor.PID))
	if err != nil {
		return 0
	}
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !strings.Contains(string(cmdline), "watch") {
		return 0
	}
	return pid
}

// logText is the log file the VNFC and its watcher write to.
func (b *booted) logText() string {
	data, _ := os.ReadFile(b.log)
	return string(data)
}

// reports counts the watcher's reports in the log: no cluster runs in
// the booted system, so each ends in crm_resource's failure; the lab's
// tests show a report reaching Pacemaker.
func (b *booted) reports() int {
	text := b.logText()
	return strings.Count(text, "report the failure to Pacemaker") + strings.Count(text, "reported the failure")
}

// waitLog waits, bounded, until the log holds s.
func (b *booted) waitLog(s string) {
	b.t.Helper()
	waitFor(b.t, 10*time.Second, fmt.Sprintf("%q in the log", s), func() bool { return strings.Contains(b.logText(), s) })
}

// unitProcs lists the processes in a unit's cgroup, as the host sees it.
func (b *booted) unitProcs(unit string) []string {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join(b.sys.Cgroup, "system.slice", unit, "cgroup.procs"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(data))
}

// reexecUnits are the two kinds of unit the agent runs: a transient one
// for command, and a unit file.
var reexecUnits = []struct {
	name, unit string
	params     map[string]string
}{
	{"transient", "vnfha-sig.service", map[string]string{"command": "/bin/sleep 100000"}},
	{"unit file", "vnfc-file.service", map[string]string{"unit": "vnfc-file.service"}},
}

const fileUnit = "[Service]\nType=exec\nExecStart=/bin/sleep 100000\n"

// startWatched boots systemd, starts the resource with params (a unit
// file is there for those that name it) and returns it with its watcher's
// pid.
func startWatched(t *testing.T, params map[string]string) (*booted, int) {
	t.Helper()
	b := boot(t)
	b.writeUnit("vnfc-file.service", fileUnit)
	for k, v := range params {
		b.params[k] = v
	}
	b.must("start", ocf.Success)
	w := b.watcher()
	if w == 0 {
		t.Fatal("no watcher after start")
	}
	return b, w
}

// TestSystemdReloadReexec: daemon-reload and daemon-reexec while the
// watcher follows the unit are no failure: nothing is reported, monitor
// says 0 after each (not 190: the watcher is still there, connected
// again after each reexec), and a kill -9 after them is still reported at
// once.
func TestSystemdReloadReexec(t *testing.T) {
	for _, tt := range reexecUnits {
		t.Run(tt.name, func(t *testing.T) {
			b, w := startWatched(t, tt.params)
			for _, cmd := range []string{"daemon-reload", "daemon-reexec", "daemon-reload", "daemon-reexec"} {
				b.systemctl(cmd)
				b.must("monitor", ocf.Success)
			}
			if got := b.watcher(); got != w {
				t.Errorf("watcher %d after the reexecs, was %d", got, w)
			}
			// The first reexec closes the watcher's connection to the
			// private socket. It may connect again through the system bus
			// (Dial's fallback while the private socket does not answer),
			// which outlives the second reexec: every loss is followed by
			// a new connection, in the watcher's own time.
			for i := 0; ; i++ {
				text := b.logText()
				lost, again := strings.Count(text, "lost the connection to systemd"), strings.Count(text, "connected to systemd again")
				if lost >= 1 && lost == again {
					break
				}
				if i == 200 {
					t.Fatalf("the watcher lost its connection %d times and connected again %d times within 10s:\n%s", lost, again, text)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n := b.reports(); n != 0 || strings.Contains(b.logText(), "ERROR") {
				t.Fatalf("%d reports after daemon-reload and daemon-reexec:\n%s", n, b.logText())
			}
			pid := b.mainPID(tt.unit)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			b.waitLog("killed by signal 9")
			waitFor(t, 15*time.Second, "the report", func() bool { return b.reports() == 1 })
			if stderr := b.must("monitor", ocf.ErrGeneric); !strings.Contains(stderr, "main process killed by signal 9") {
				t.Errorf("monitor's reason %q", stderr)
			}
			b.must("stop", ocf.Success)
			b.must("monitor", ocf.NotRunning)
		})
	}
}

// TestSystemdDeathDuringReexec: the VNFC dies while its watcher has no
// connection to systemd (daemon-reexec closed it; the watcher is held
// with SIGSTOP until systemd has seen the death). Once it runs again it
// connects again, reads the unit's state anew and reports the failure.
func TestSystemdDeathDuringReexec(t *testing.T) {
	for _, tt := range reexecUnits {
		t.Run(tt.name, func(t *testing.T) {
			b, w := startWatched(t, tt.params)
			if err := syscall.Kill(w, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			resumed := false
			defer func() {
				if !resumed {
					syscall.Kill(w, syscall.SIGCONT)
				}
			}()
			b.systemctl("daemon-reexec")
			pid := b.mainPID(tt.unit)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the unit's failure", func() bool { return b.show(tt.unit, "ActiveState") == "failed" })
			if n := b.reports(); n != 0 {
				t.Fatalf("%d reports while the watcher was stopped", n)
			}
			resumed = true
			if err := syscall.Kill(w, syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			b.waitLog("connected to systemd again")
			b.waitLog("killed by signal 9")
			waitFor(t, 15*time.Second, "the report", func() bool { return b.reports() == 1 })
			b.must("monitor", ocf.ErrGeneric)
			b.must("stop", ocf.Success)
			b.must("monitor", ocf.NotRunning)
		})
	}
}

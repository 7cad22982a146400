package vnfc

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// restartUnit restarts at once (RestartSec=0) whenever its main process
// ends: without the agent's drop-in, a kill -9 would leave no trace but
// NRestarts.
const restartUnit = "[Service]\nType=exec\nRestart=always\nRestartSec=0\nExecStart=/bin/sleep 100000\n"

// TestSystemdRestartOverridden: a unit with Restart=always runs with
// Restart=no while the cluster runs it (start's runtime drop-in, as
// Pacemaker's systemd class does), so a kill -9 leaves it failed, is
// reported by the watcher and seen by monitor; stop removes the drop-in and
// the unit has its own Restart= again. A unit with Restart=no gets no
// drop-in.
func TestSystemdRestartOverridden(t *testing.T) {
	b := boot(t)
	const unit = "vnfc-r.service"
	dropIn := b.sys.Path(filepath.Join("/run/systemd/system", unit+".d", dropInName))
	b.writeUnit(unit, restartUnit)
	b.writeUnit("vnfc-file.service", fileUnit)

	b.params["unit"] = "vnfc-file.service"
	b.must("start", ocf.Success)
	if _, err := os.Stat(b.sys.Path("/run/systemd/system/vnfc-file.service.d")); !os.IsNotExist(err) {
		t.Errorf("a unit with Restart=no got a drop-in directory (%v)", err)
	}
	b.must("stop", ocf.Success)

	b.params["unit"] = unit
	b.must("start", ocf.Success)
	if got := b.show(unit, "Restart"); got != "no" {
		t.Errorf("Restart=%s while the cluster runs the unit, want no", got)
	}
	if got := b.show(unit, "DropInPaths"); got != "/run/systemd/system/"+unit+".d/"+dropInName {
		t.Errorf("DropInPaths=%q", got)
	}
	text, err := os.ReadFile(dropIn)
	if err != nil || !strings.Contains(string(text), "resource sig") {
		t.Errorf("drop-in: %q, %v", text, err)
	}
	if err := syscall.Kill(b.mainPID(unit), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.waitLog("main process killed by signal 9")
	waitFor(t, 15*time.Second, "the report", func() bool { return b.reports() == 1 })
	if st, n := b.show(unit, "ActiveState"), b.show(unit, "NRestarts"); st != "failed" || n != "0" {
		t.Errorf("after kill -9: ActiveState=%s NRestarts=%s, want failed and 0: systemd restarted it", st, n)
	}
	if stderr := b.must("monitor", ocf.ErrGeneric); !strings.Contains(stderr, "main process killed by signal 9") {
		t.Errorf("monitor's reason %q", stderr)
	}
	b.must("stop", ocf.Success)
	if _, err := os.Stat(filepath.Dir(dropIn)); !os.IsNotExist(err) {
		t.Errorf("the drop-in directory is left after stop (%v)", err)
	}
	if got, st := b.show(unit, "Restart"), b.show(unit, "ActiveState"); got != "always" || st != "inactive" {
		t.Errorf("after stop: Restart=%s ActiveState=%s, want always and inactive", got, st)
	}
	b.must("monitor", ocf.NotRunning)
}

// TestSystemdRestartNotOverridden: an operator's drop-in that sorts after
// the agent's keeps Restart=always. Start warns and goes on; a restart by
// systemd is still a failure: reported by the watcher (fast_fail) or, with
// fast_fail=false, found by monitor although the new process runs.
func TestSystemdRestartNotOverridden(t *testing.T) {
	b := boot(t)
	const unit = "vnfc-r.service"
	b.writeUnit(unit, restartUnit)
	admin := b.sys.Path("/run/systemd/system/" + unit + ".d/zzz-admin.conf")
	if err := os.MkdirAll(filepath.Dir(admin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(admin, []byte("[Service]\nRestart=always\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.systemctl("daemon-reload")
	b.params["unit"] = unit
	for _, fastFail := range []string{"false", "true"} {
		t.Run("fast_fail="+fastFail, func(t *testing.T) {
			b.t = t
			b.params["fast_fail"] = fastFail
			if stderr := b.must("start", ocf.Success); !strings.Contains(stderr, "keeps Restart=always") {
				t.Errorf("start did not warn: %q", stderr)
			}
			if got := b.show(unit, "Restart"); got != "always" {
				t.Fatalf("Restart=%s, want the operator's always", got)
			}
			pid := b.mainPID(unit)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "systemd's restart", func() bool {
				return b.show(unit, "NRestarts") == "1" && b.show(unit, "ActiveState") == "active"
			})
			if fastFail == "true" {
				b.waitLog("restarted by systemd 1 time(s) since start (Restart=always)")
				waitFor(t, 15*time.Second, "the report", func() bool { return b.reports() == 1 })
			}
			if stderr := b.must("monitor", ocf.ErrGeneric); !strings.Contains(stderr, "restarted by systemd 1 time(s)") {
				t.Errorf("monitor's reason %q", stderr)
			}
			b.must("stop", ocf.Success)
			if _, err := os.Stat(admin); err != nil {
				t.Errorf("the operator's drop-in: %v", err)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(admin), dropInName)); !os.IsNotExist(err) {
				t.Errorf("the agent's drop-in is left after stop (%v)", err)
			}
			b.must("monitor", ocf.NotRunning)
		})
	}
}

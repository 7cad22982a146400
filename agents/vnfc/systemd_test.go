package vnfc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/systemd/systemdtest"
	"github.com/vnfha/vnfha/ocf"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// booted is the built agent run inside a real systemd booted by
// systemdtest, as Pacemaker would run it on a systemd host: in systemd's
// PID, mount and network namespaces, so that it reaches /run/systemd/private
// and systemd can see its PID.
type booted struct {
	t      *testing.T
	sys    *systemdtest.System
	agent  string
	params map[string]string
	log    string
	// timeout is the operation's timeout in ms (OCF_RESKEY_CRM_meta_timeout).
	timeout int
}

func boot(t *testing.T) *booted {
	t.Helper()
	if testing.Short() {
		t.Skip("boots systemd; skipped in -short mode")
	}
	systemdtest.Require(t)
	ocftest.RequireTool(t, "nsenter")
	agent := ocftest.BuildAgent(t, name)
	sys := systemdtest.Boot(t)
	dir, err := os.MkdirTemp("", "vnfc-systemd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &booted{t: t, sys: sys, agent: agent, log: filepath.Join(dir, "vnfc.log"), params: map[string]string{}, timeout: 20000}
}

// command is one action of the agent inside the booted system, as run
// runs it.
func (b *booted) command(action string) *exec.Cmd {
	argv := []string{"nsenter", "-t", fmt.Sprint(b.sys.PID), "-a", "env", "-i",
		"PATH=" + searchPath, "OCF_ROOT=/usr/lib/ocf", "OCF_RESOURCE_INSTANCE=sig", "HA_RSCTMP=/run/resource-agents",
		"OCF_RESKEY_CRM_meta_on_node=node1", fmt.Sprintf("OCF_RESKEY_CRM_meta_timeout=%d", b.timeout), "OCF_RESKEY_backend=systemd",
		"OCF_RESKEY_log_file=" + b.log}
	for k, v := range b.params {
		argv = append(argv, "OCF_RESKEY_"+k+"="+v)
	}
	return exec.Command(argv[0], append(argv[1:], b.agent, action)...)
}

// run runs one action of the agent inside the booted system.
func (b *booted) run(action string) (ocf.Code, string) {
	cmd := b.command(action)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := ocf.Success
	if ee, ok := err.(*exec.ExitError); ok {
		code = ocf.Code(ee.ExitCode())
	} else if err != nil {
		b.t.Fatalf("%s: %v", action, err)
	}
	return code, stderr.String()
}

func (b *booted) must(action string, want ocf.Code) string {
	b.t.Helper()
	got, stderr := b.run(action)
	if got != want {
		b.t.Fatalf("%s = %d (%s), want %d (%s)\n%s\nsystemd console:\n%s", action, got, got, want, want, stderr, b.sys.Console())
	}
	return stderr
}

// mainPID returns the unit's main process in the test's PID namespace.
func (b *booted) mainPID(unit string) int {
	b.t.Helper()
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(b.sys.PID), "-a", "systemctl", "show", "-P", "MainPID", unit).Output()
	if err != nil {
		b.t.Fatalf("systemctl show: %v", err)
	}
	var pid uint32
	fmt.Sscan(string(out), &pid)
	host, err := b.sys.HostPID(pid)
	if err != nil || pid == 0 {
		b.t.Fatalf("MainPID of %s: %q, %v", unit, out, err)
	}
	return host
}

// TestSystemdTransient: backend=systemd with command runs the VNFC as a
// transient service of a real systemd, as user nobody, with health checks;
// kill -9 of its main process is seen by the watcher at once and monitor
// reports how the unit ended; stop and start are idempotent.
func TestSystemdTransient(t *testing.T) {
	b := boot(t)
	b.params["command"] = "/usr/bin/python3 -m http.server 8080 --bind 127.0.0.1"
	b.params["user"] = "nobody"
	b.params["health"] = "http://127.0.0.1:8080/"
	const unit = "vnfha-sig.service"

	b.must("monitor", ocf.NotRunning)
	b.must("start", ocf.Success)
	b.must("start", ocf.Success)
	b.must("monitor", ocf.Success)
	pid := b.mainPID(unit)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if !strings.Contains(string(status), "Uid:\t65534") {
		t.Errorf("the VNFC does not run as nobody:\n%s", status)
	}
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if !strings.Contains(string(environ), "VNFHA_RESOURCE=sig\x00") {
		t.Errorf("the VNFC lacks its environment: %q", environ)
	}

	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the watcher sees the kill", func() bool {
		b, _ := os.ReadFile(b.log)
		return strings.Contains(string(b), "killed by signal 9")
	})
	t.Logf("the watcher saw the kill within %s", time.Since(killed).Round(time.Millisecond))
	waitFor(t, 15*time.Second, "the watcher's report", func() bool {
		b, _ := os.ReadFile(b.log)
		return strings.Contains(string(b), "report the failure to Pacemaker") || strings.Contains(string(b), "reported the failure")
	})
	logText, _ := os.ReadFile(b.log)
	// No cluster runs in the booted system, so crm_resource --fail itself
	// fails; the lab's end-to-end tests show the report reaching Pacemaker.
	if !strings.Contains(string(logText), "report the failure to Pacemaker") && !strings.Contains(string(logText), "reported the failure") {
		t.Errorf("the watcher did not try to report the failure:\n%s", logText)
	}
	if stderr := b.must("monitor", ocf.ErrGeneric); !strings.Contains(stderr, "main process killed by signal 9") {
		t.Errorf("monitor's reason %q does not say how the unit ended", stderr)
	}
	b.must("stop", ocf.Success)
	b.must("monitor", ocf.NotRunning)
	b.must("start", ocf.Success) // over the failed leftover
	b.must("monitor", ocf.Success)
	began := time.Now()
	b.must("stop", ocf.Success)
	t.Logf("stop took %s", time.Since(began).Round(time.Millisecond))
	b.must("stop", ocf.Success)
	b.must("monitor", ocf.NotRunning)
	if syscall.Kill(pid, 0) == nil {
		t.Error("the first VNFC still runs")
	}
	// The second VNFC's watcher saw its stop and reported nothing.
	waitFor(t, 5*time.Second, "the second watcher's exit", func() bool {
		b, _ := os.ReadFile(b.log)
		return strings.Contains(string(b), "stopped deliberately")
	})
	logText, _ = os.ReadFile(b.log)
	if n := strings.Count(string(logText), "report the failure to Pacemaker") + strings.Count(string(logText), "reported the failure"); n != 1 {
		t.Errorf("%d reports for one kill and one stop:\n%s", n, logText)
	}
}

// TestSystemdUnitFile: backend=systemd with unit only drives an existing
// unit; a start failure names the unit's result.
func TestSystemdUnitFile(t *testing.T) {
	b := boot(t)
	for name, text := range map[string]string{
		"vnfc-a.service":   "[Service]\nType=exec\nExecStart=/bin/sleep 100000\n",
		"vnfc-bad.service": "[Service]\nType=exec\nExecStart=/nonexistent/vnfc\n",
	} {
		if err := os.WriteFile(b.sys.Path("/run/systemd/system/"+name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("nsenter", "-t", fmt.Sprint(b.sys.PID), "-a", "systemctl", "daemon-reload").CombinedOutput(); err != nil {
		t.Fatalf("daemon-reload: %v %s", err, out)
	}
	b.params["unit"] = "vnfc-a.service"
	b.params["fast_fail"] = "false"
	b.must("start", ocf.Success)
	b.must("monitor", ocf.Success)
	b.must("stop", ocf.Success)
	b.must("monitor", ocf.NotRunning)

	b.params["unit"] = "vnfc-bad.service"
	if got, stderr := b.run("start"); got != ocf.ErrGeneric || !strings.Contains(stderr, "vnfc-bad.service") {
		t.Errorf("start of a failing unit = %d, %q", got, stderr)
	}
	b.must("stop", ocf.Success)
	b.must("monitor", ocf.NotRunning)
}

// TestSystemdExitDuringStart: with backend=systemd too, a VNFC that exits
// within the settle time fails start, every time, and the failed start
// stops its unit (principle 3): monitor finds nothing left to stop.
func TestSystemdExitDuringStart(t *testing.T) {
	b := boot(t)
	for _, tt := range []struct{ command, reason string }{
		{"/bin/false", "the VNFC exited with status 1 during start"},
		// systemd unloads a transient unit that exited 0 at once, with
		// its exit status.
		{"/bin/true", "the VNFC ended during start"},
	} {
		b.params["command"] = tt.command
		for i := 0; i < 5; i++ {
			if got, stderr := b.run("start"); got != ocf.ErrGeneric || !strings.Contains(stderr, tt.reason) {
				t.Fatalf("%s, try %d: start = %d, %q; want 1 with %q", tt.command, i+1, got, stderr, tt.reason)
			}
			b.must("monitor", ocf.NotRunning)
		}
	}
	b.must("stop", ocf.Success)
}

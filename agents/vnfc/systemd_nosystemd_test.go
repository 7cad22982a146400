package vnfc

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/systemd"
	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/ocf"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// noSystemdChildEnv marks the re-executed test binary in which
// TestSystemdAbsentIsQuick runs.
const noSystemdChildEnv = "VNFHA_VNFC_NOSYSTEMD_CHILD"

// busConfig is a bus that lets root do anything and starts no service.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// TestSystemdAbsentIsQuick: on a node that has a system bus but was not
// booted with systemd (a container), nothing answers for systemd on the
// bus, which is what a re-execution looks like too. monitor must not wait
// there for a systemd that is not coming (systemd.Do would retry for
// RetryWindow): it answers at once. The test runs in a child with a mount
// namespace of its own, where an empty tmpfs hides a host's /run/systemd,
// so that it is the same on every machine.
func TestSystemdAbsentIsQuick(t *testing.T) {
	if os.Getenv(noSystemdChildEnv) == "" {
		if os.Geteuid() != 0 {
			testenv.Require(t, "root", os.ErrPermission)
		}
		ocftest.RequireTool(t, "dbus-daemon")
		cmd := exec.Command(os.Args[0], "-test.run=^TestSystemdAbsentIsQuick$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), noSystemdChildEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestSystemdAbsentIsQuick") {
			t.Fatalf("in a private mount namespace: %v\n%s", err, out)
		}
		t.Logf("in a private mount namespace:\n%s", out)
		return
	}
	if _, err := os.Stat("/run/systemd"); err == nil {
		if err := syscall.Mount("tmpfs", "/run/systemd", "tmpfs", 0, "mode=755"); err != nil {
			t.Fatalf("hide the host's /run/systemd: %v", err)
		}
	}
	// A bus without systemd on it, and without service files to start it
	// from: it answers ServiceUnknown, as a system bus does for systemd
	// while systemd re-executes.
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(busConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	bus := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1",
		"--address=unix:path="+filepath.Join(dir, "bus"))
	stdout, err := bus.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		bus.Process.Kill()
		bus.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon's address: %v", err)
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", strings.TrimSpace(addr))

	// What monitor asks (status, with a record of a start here, returns
	// this error as its own).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err = unitState(ctx, "vnfc-x.service")
	took := time.Since(t0)
	t.Logf("the unit's state without systemd: %v, after %v", err, took)
	if err == nil || !systemd.Unavailable(err) {
		t.Errorf("unitState: %v; want systemd's absence from the bus, which Do would retry", err)
	}
	if took > systemd.RetryWindow/2 {
		t.Errorf("status took %v: it waited for a systemd that is not coming", took)
	}
	// validate-all and start: systemd is not installed here, as far as
	// the VNFC is concerned (5: Pacemaker tries another node), not a
	// failure to retry here (1).
	for _, c := range []*config{{backend: backendSystemd, unit: "vnfc-x.service"}, {backend: backendSystemd, argv: []string{"x"}}} {
		err := validateSystemd(ctx, c)
		var oe *ocf.Error
		if !errors.As(err, &oe) || oe.Code != ocf.ErrNotInstalled || !strings.Contains(err.Error(), "systemd is not running on this node") {
			t.Errorf("validate %+v: %v; want 5, systemd is not running", c, err)
		}
	}
}

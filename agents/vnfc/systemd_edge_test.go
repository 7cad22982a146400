package vnfc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/systemd"
	"github.com/vnfha/vnfha/internal/systemd/systemdtest"
	"github.com/vnfha/vnfha/ocf"
)

// TestSystemdRefuseManualStop: a unit with RefuseManualStop=yes, which
// systemd refuses to stop on request, is still ended by stop (SIGKILL to
// all its processes) rather than failing it, which would fence the node.
func TestSystemdRefuseManualStop(t *testing.T) {
	b := boot(t)
	const unit = "vnfc-refuse.service"
	b.writeUnit(unit, "[Unit]\nRefuseManualStop=yes\n[Service]\nType=exec\nExecStart=/bin/sleep 100000\n")
	b.params["unit"] = unit
	b.must("start", ocf.Success)
	b.must("monitor", ocf.Success)
	if stderr := b.must("stop", ocf.Success); !strings.Contains(stderr, "systemd refused to stop unit "+unit) {
		t.Errorf("stop's stderr %q does not say that systemd refused the stop", stderr)
	}
	b.nothingLeft(unit)
}

// TestSystemdUnitNames: units named by an alias (a symbolic link to the
// unit file), by a template's instance, or with systemd's escapes all
// work: start returns, Restart= is overridden by a drop-in in the
// directory systemd reads for the unit's own name, a kill -9 is reported
// at once, monitor sees it, and stop restores Restart= and leaves no
// drop-in directory. Before, an alias's start waited for a JobRemoved
// that named another unit until its timeout, and its watcher for signals
// sent under another object path.
func TestSystemdUnitNames(t *testing.T) {
	for _, tt := range []struct {
		name, unit, file, link string // link: an alias of file
	}{
		{"alias", "vnfc-alias.service", "vnfc-real.service", "vnfc-alias.service"},
		{"template instance", "vnfc-t@a.service", "vnfc-t@.service", ""},
		{"escaped", `vnfc\x2dx.service`, `vnfc\x2dx.service`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := boot(t)
			if tt.link != "" {
				if err := os.Symlink(tt.file, b.sys.Path("/run/systemd/system/"+tt.link)); err != nil {
					t.Fatal(err)
				}
			}
			b.writeUnit(tt.file, restartUnit)
			own := tt.unit
			if tt.link != "" {
				own = tt.file
			}
			b.params["unit"] = tt.unit
			b.must("start", ocf.Success)
			if got := b.show(own, "Restart"); got != "no" {
				t.Errorf("Restart=%s while the cluster runs the unit, want no", got)
			}
			got := b.show(own, "DropInPaths")
			if u, err := strconv.Unquote(got); err == nil {
				got = u // systemctl quotes a path with a backslash in it
			}
			if got != "/run/systemd/system/"+own+".d/"+dropInName {
				t.Errorf("DropInPaths=%q", got)
			}
			if err := syscall.Kill(b.mainPID(own), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			b.waitLog("main process killed by signal 9")
			waitFor(t, 15*time.Second, "the report", func() bool { return b.reports() == 1 })
			b.must("monitor", ocf.ErrGeneric)
			b.must("stop", ocf.Success)
			if got := b.show(own, "Restart"); got != "always" {
				t.Errorf("Restart=%s after stop, want always", got)
			}
			for _, u := range []string{own, tt.unit} {
				if _, err := os.Stat(b.sys.Path(filepath.Join("/run/systemd/system", u+".d"))); !os.IsNotExist(err) {
					t.Errorf("drop-in directory of %s left (%v)", u, err)
				}
			}
			b.nothingLeft(own)
		})
	}
}

// TestSystemdKillModeLeftovers: stop leaves nothing of the VNFC running,
// even when the unit's KillMode= would leave processes behind.
func TestSystemdKillModeLeftovers(t *testing.T) {
	for _, mode := range []string{"process", "none"} {
		t.Run(mode, func(t *testing.T) {
			b := boot(t)
			const unit = "vnfc-km.service"
			b.writeUnit(unit, "[Service]\nType=exec\nKillMode="+mode+"\nExecStart=/bin/sh -c '/bin/sleep 100001 & exec /bin/sleep 100000'\n")
			b.params["unit"] = unit
			b.must("start", ocf.Success)
			waitFor(t, 5*time.Second, "both processes", func() bool { return len(b.unitProcs(unit)) == 2 })
			b.must("stop", ocf.Success)
			b.nothingLeft(unit)
		})
	}
}

// TestSystemdRestartForceExitStatus: RestartForceExitStatus= restarts a
// unit whatever its Restart=; the cluster's drop-in turns it off too.
func TestSystemdRestartForceExitStatus(t *testing.T) {
	b := boot(t)
	const unit = "vnfc-force.service"
	b.writeUnit(unit, "[Service]\nType=exec\nRestartForceExitStatus=SIGKILL\nRestartSec=0\nExecStart=/bin/sleep 100000\n")
	b.params["unit"] = unit
	b.must("start", ocf.Success)
	if err := syscall.Kill(b.mainPID(unit), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.waitLog("killed by signal 9")
	time.Sleep(200 * time.Millisecond)
	if st, n := b.show(unit, "ActiveState"), b.show(unit, "NRestarts"); st != "failed" || n != "0" {
		t.Errorf("after kill -9: ActiveState=%s NRestarts=%s, want failed and 0: systemd restarted it", st, n)
	}
	b.must("stop", ocf.Success)
	if got := b.show(unit, "RestartForceExitStatus"); !strings.Contains(got, "KILL") {
		t.Errorf("RestartForceExitStatus=%q after stop, want the unit's own", got)
	}
	b.nothingLeft(unit)
}

// TestSystemdUnitMissing: a unit that does not exist, is masked or does
// not load on this node is ERR_INSTALLED (5) from validate-all and start,
// with a reason that says so; a probe says 7 and stop 0.
func TestSystemdUnitMissing(t *testing.T) {
	b := boot(t)
	if err := os.Symlink("/dev/null", b.sys.Path("/run/systemd/system/vnfc-masked.service")); err != nil {
		t.Fatal(err)
	}
	b.writeUnit("vnfc-broken.service", "[Service]\nType=bogus\n")
	for _, tt := range []struct{ unit, reason string }{
		{"vnfc-none.service", "not found"},
		{"vnfc-masked.service", "masked"},
		{"vnfc-broken.service", "bad-setting"},
	} {
		t.Run(tt.unit, func(t *testing.T) {
			b.t = t
			b.params["unit"] = tt.unit
			for _, action := range []string{"validate-all", "start"} {
				if got, stderr := b.run(action); got != ocf.ErrNotInstalled || !strings.Contains(stderr, tt.reason) {
					t.Errorf("%s = %d, %q; want 5 with %q", action, got, stderr, tt.reason)
				}
			}
			b.must("monitor", ocf.NotRunning)
			b.must("stop", ocf.Success)
		})
	}
}

// TestSystemdRestartByOperator: with fast_fail=false, monitor finds that
// the unit was started anew since start (systemctl restart by hand), as
// the watcher reports it with fast_fail.
func TestSystemdRestartByOperator(t *testing.T) {
	b := boot(t)
	b.writeUnit("vnfc-file.service", fileUnit)
	b.params["unit"] = "vnfc-file.service"
	b.params["fast_fail"] = "false"
	b.must("start", ocf.Success)
	b.systemctl("restart", "vnfc-file.service")
	b.must("monitor", ocf.ErrGeneric)
	b.must("stop", ocf.Success)
	b.must("monitor", ocf.NotRunning)
}

// TestSystemdForeignUnit: a unit that runs here but that no start of this
// resource started (systemctl start by hand, or enabled at boot) runs, as
// a probe must say, but is degraded (190): nothing watches it and its own
// Restart= applies. A start takes it over (drop-in, watcher: monitor 0),
// without restarting it.
func TestSystemdForeignUnit(t *testing.T) {
	b := boot(t)
	const unit = "vnfc-r.service"
	b.writeUnit(unit, restartUnit)
	b.params["unit"] = unit
	b.systemctl("start", unit)
	pid := b.mainPID(unit)
	for _, interval := range []string{"0", "10000"} {
		b.params["CRM_meta_interval"] = interval
		if stderr := b.must("monitor", ocf.Degraded); !strings.Contains(stderr, "the cluster did not start it here") {
			t.Errorf("monitor (interval %s): %q", interval, stderr)
		}
	}
	b.must("start", ocf.Success)
	if got := b.mainPID(unit); got != pid {
		t.Errorf("start restarted the unit: main pid %d, was %d", got, pid)
	}
	if got := b.show(unit, "Restart"); got != "no" || len(b.watchers()) != 1 {
		t.Errorf("after start: Restart=%s, watchers %v; want no and one", got, b.watchers())
	}
	b.must("monitor", ocf.Success)
	b.must("stop", ocf.Success)
	if got := b.show(unit, "Restart"); got != "always" {
		t.Errorf("Restart=%s after stop, want always", got)
	}
	b.nothingLeft(unit)
}

// TestSystemdDropInDirectory: stop removes the drop-in's directory only
// if start made it: an operator's directory stays, empty or not, and so
// do the operator's drop-ins in it.
func TestSystemdDropInDirectory(t *testing.T) {
	b := boot(t)
	const unit = "vnfc-r.service"
	b.writeUnit(unit, restartUnit)
	b.params["unit"] = unit
	dir := b.sys.Path("/run/systemd/system/" + unit + ".d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b.must("start", ocf.Success)
	b.must("stop", ocf.Success)
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the operator's empty drop-in directory: %v", err)
	}
	admin := filepath.Join(dir, "10-admin.conf")
	if err := os.WriteFile(admin, []byte("[Service]\nEnvironment=A=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.systemctl("daemon-reload")
	b.must("start", ocf.Success)
	b.must("stop", ocf.Success)
	if _, err := os.Stat(admin); err != nil {
		t.Errorf("the operator's drop-in: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, dropInName)); !os.IsNotExist(err) {
		t.Errorf("the agent's drop-in is left (%v)", err)
	}
	if got := b.show(unit, "Restart"); got != "always" {
		t.Errorf("Restart=%s after stop, want always", got)
	}
}

// TestSystemdStartKilledAfterDropIn: a start that Pacemaker's executor
// kills after it wrote the drop-in (here while the unit hangs in
// ExecStartPre=) leaves a record; the stop that follows stops the unit,
// removes the drop-in and gives the unit its own Restart= back.
func TestSystemdStartKilledAfterDropIn(t *testing.T) {
	b := boot(t)
	const unit = "vnfc-rpre.service"
	b.writeUnit(unit, "[Service]\nType=exec\nRestart=always\nExecStartPre="+ignoreTerm+"\nExecStart=/bin/sleep 100000\nTimeoutStartSec=1h\nTimeoutStopSec=1h\n")
	b.params["unit"] = unit
	b.params["stop_timeout"] = "1s"
	b.timeout = 60000
	dropIn := b.sys.Path("/run/systemd/system/" + unit + ".d/" + dropInName)
	cmd := b.command("start")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	}()
	waitFor(t, 10*time.Second, "the drop-in and the unit in ExecStartPre", func() bool {
		_, err := os.Stat(dropIn)
		return err == nil && b.show(unit, "SubState") == "start-pre"
	})
	// What the executor does at the operation's timeout.
	killed = true
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	b.timeout = 5000
	b.must("monitor", ocf.ErrGeneric)
	b.must("stop", ocf.Success)
	if _, err := os.Stat(filepath.Dir(dropIn)); !os.IsNotExist(err) {
		t.Errorf("the drop-in directory is left after stop (%v)", err)
	}
	if got := b.show(unit, "Restart"); got != "always" {
		t.Errorf("Restart=%s after stop, want always", got)
	}
	b.nothingLeft(unit)
}

// followLines is a followLog for tests: it keeps the lines.
type followLines struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *followLines) add(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.t.Logf("watcher: %s", msg)
	l.mu.Lock()
	l.lines = append(l.lines, msg)
	l.mu.Unlock()
}

func (l *followLines) Infof(format string, args ...any)  { l.add(format, args...) }
func (l *followLines) Errorf(format string, args ...any) { l.add(format, args...) }

func (l *followLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// TestSystemdWatcherKeepsTrying: a watcher that cannot reach systemd
// again within Follow's give-up time (the test refuses its dials for a
// while after a daemon-reexec) does not end, which would leave monitor
// saying 190 for good: it says the VNFC runs unwatched, keeps trying
// while the instance is started, and reports a death once it is
// connected again. Once stop removed the instance's state, it ends.
func TestSystemdWatcherKeepsTrying(t *testing.T) {
	if testing.Short() {
		t.Skip("boots systemd; skipped in -short mode")
	}
	systemdtest.Require(t)
	s := systemdtest.Boot(t)
	var refuse atomic.Bool
	dial := func(ctx context.Context) (*systemd.Conn, error) {
		if refuse.Load() {
			return nil, fmt.Errorf("refused by the test: %w", syscall.ECONNREFUSED)
		}
		return systemd.DialPrivate(ctx, s.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reexec := func() {
		t.Helper()
		if out, err := exec.Command("nsenter", "-t", fmt.Sprint(s.PID), "-a", "systemctl", "daemon-reexec").CombinedOutput(); err != nil {
			t.Fatalf("daemon-reexec: %v %s", err, out)
		}
	}
	opt := followOptions{dial: dial, giveUp: 200 * time.Millisecond, retry: 100 * time.Millisecond}
	type result struct {
		st  systemd.State
		err error
	}
	// follow starts a transient unit and a followUnit of it.
	follow := func(unit string) (string, <-chan result, *followLines) {
		t.Helper()
		c, err := dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.StartTransient(ctx, unit, systemd.Transient{Argv: []string{"/bin/sleep", "100000"}}); err != nil {
			t.Fatal(err)
		}
		st, err := c.State(ctx, unit)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := writeRecord(dir, &record{Backend: backendSystemd, Unit: unit, Invocation: st.InvocationID}); err != nil {
			t.Fatal(err)
		}
		log := &followLines{t: t}
		ready := make(chan struct{})
		done := make(chan result, 1)
		go func() {
			st, err := followUnit(ctx, &watchSpec{Dir: dir, Unit: unit, Invocation: st.InvocationID}, opt,
				func() error { close(ready); return nil }, log)
			done <- result{st, err}
		}()
		select {
		case <-ready:
		case r := <-done:
			t.Fatalf("followUnit: %+v", r)
		case <-time.After(10 * time.Second):
			t.Fatal("followUnit not ready within 10s")
		}
		return dir, done, log
	}
	// gaveUp waits until Follow has given up reconnecting, and checks
	// that followUnit still runs a while later (several retries).
	gaveUp := func(done <-chan result, log *followLines) {
		t.Helper()
		for i := 0; log.count("runs unwatched") == 0; i++ {
			select {
			case r := <-done:
				t.Fatalf("followUnit ended when Follow gave up: %+v", r)
			case <-time.After(20 * time.Millisecond):
			}
			if i == 500 {
				t.Fatal("Follow did not give up within 10s")
			}
		}
		select {
		case r := <-done:
			t.Fatalf("followUnit ended after Follow gave up: %+v", r)
		case <-time.After(5 * opt.retry):
		}
	}

	t.Run("death after the outage", func(t *testing.T) {
		const unit = "vnfha-kept.service"
		_, done, log := follow(unit)
		refuse.Store(true)
		reexec()
		gaveUp(done, log)
		refuse.Store(false)
		c, err := dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		st, err := c.State(ctx, unit)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := s.HostPID(st.MainPID)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if log.count("connected to systemd again") != 1 {
				t.Errorf("the watcher did not say it is connected again")
			}
			if r.err != nil || r.st.ActiveState != "failed" {
				t.Errorf("followUnit: %+v, %v; want the failed unit", r.st, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the death was not seen within 10s of the outage's end")
		}
		if err := c.ResetFailed(ctx, unit); err != nil {
			t.Error(err)
		}
	})
	t.Run("stopped during the outage", func(t *testing.T) {
		dir, done, log := follow("vnfha-unwanted.service")
		refuse.Store(true)
		defer refuse.Store(false)
		reexec()
		gaveUp(done, log)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if !errors.Is(r.err, errUnwanted) {
				t.Errorf("followUnit: %+v, %v; want errUnwanted", r.st, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("followUnit still runs 10s after the instance's state is gone")
		}
	})
}

// TestUnitNamePolicy: the unit parameter names a service that is not the
// cluster stack's or systemd's own; anything else is refused by Check
// (6 everywhere), since its stop would stop what depends on it: a
// target, a slice, pacemaker.service.
func TestUnitNamePolicy(t *testing.T) {
	for _, tt := range []struct{ unit, err string }{
		{"vnfc-sig.service", ""},
		{"vnfc-sig@1.service", ""},
		{`vnfc\x2dsig.service`, ""},
		{"..service", ""}, // a strange name, but one file name
		{"sysinit.target", "must be a .service"},
		{"multi-user.target", "must be a .service"},
		{"system.slice", "must be a .service"},
		{"vnfc.socket", "must be a .service"},
		{"init.scope", "must be a .service"},
		{"pacemaker.service", "the cluster's or systemd's own"},
		{"corosync.service", "the cluster's or systemd's own"},
		{"dbus.service", "the cluster's or systemd's own"},
		{"systemd-journald.service", "the cluster's or systemd's own"},
		{"vnfc@.service", "template"},
		{"../x.service", "invalid character"},
	} {
		_, err := parseConfig(params(t, map[string]string{"backend": "systemd", "unit": tt.unit}))
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("unit=%s: %v; want %q", tt.unit, err, tt.err)
		}
	}
}

// TestSystemdUnitNameRefused: a refused unit is one answer, 6, from
// validate-all, start and probes, and stop returns 0 without touching it
// (unit=sysinit.target would otherwise stop every service of the node).
func TestSystemdUnitNameRefused(t *testing.T) {
	b := boot(t)
	b.writeUnit("vnfc-file.service", fileUnit)
	b.systemctl("start", "vnfc-file.service")
	for _, unit := range []string{"sysinit.target", "dbus.service"} {
		t.Run(unit, func(t *testing.T) {
			b.t = t
			b.params["unit"] = unit
			for _, action := range []string{"validate-all", "start", "monitor"} {
				if got, stderr := b.run(action); got != ocf.ErrNotConfigured || !strings.Contains(stderr, unit) {
					t.Errorf("%s = %d, %q; want 6 naming the unit", action, got, stderr)
				}
			}
			b.must("stop", ocf.Success)
			if st := b.show("vnfc-file.service", "ActiveState"); st != "active" {
				t.Errorf("vnfc-file.service is %s after the stop, want active", st)
			}
			if st := b.show(unit, "ActiveState"); st != "active" {
				t.Errorf("%s is %s after the stop, want active", unit, st)
			}
		})
	}
}

// TestSystemdDropInCost measures what the Restart= drop-in costs start
// and stop (a daemon-reload each), against a unit with Restart=no, on the
// booted system (a dozen units: a real host reloads slower, in proportion
// to its units). It logs the figures; it checks only that the drop-in is
// there while the unit runs.
func TestSystemdDropInCost(t *testing.T) {
	b := boot(t)
	b.writeUnit("vnfc-r.service", restartUnit)
	b.writeUnit("vnfc-file.service", fileUnit)
	b.params["fast_fail"] = "false"
	b.params["settle_time"] = "0"
	const rounds = 7
	for _, unit := range []string{"vnfc-file.service", "vnfc-r.service"} {
		b.params["unit"] = unit
		var starts, stops []time.Duration
		for range rounds {
			t0 := time.Now()
			b.must("start", ocf.Success)
			starts = append(starts, time.Since(t0))
			if unit == "vnfc-r.service" && b.show(unit, "Restart") != "no" {
				t.Fatal("no drop-in while the unit runs")
			}
			t0 = time.Now()
			b.must("stop", ocf.Success)
			stops = append(stops, time.Since(t0))
		}
		slices.Sort(starts)
		slices.Sort(stops)
		t.Logf("%s (Restart=%s): start median %v (min %v, max %v), stop median %v (min %v, max %v), %d rounds",
			unit, b.show(unit, "Restart"), starts[rounds/2].Round(time.Millisecond), starts[0].Round(time.Millisecond),
			starts[rounds-1].Round(time.Millisecond), stops[rounds/2].Round(time.Millisecond), stops[0].Round(time.Millisecond),
			stops[rounds-1].Round(time.Millisecond), rounds)
	}
	var reloads []time.Duration
	for range rounds {
		t0 := time.Now()
		b.systemctl("daemon-reload")
		reloads = append(reloads, time.Since(t0))
	}
	slices.Sort(reloads)
	t.Logf("systemctl daemon-reload (nsenter and systemctl included): median %v", reloads[rounds/2].Round(time.Millisecond))
}

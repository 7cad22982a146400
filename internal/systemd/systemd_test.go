package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/vnfha/vnfha/internal/systemd/systemdtest"
)

// These tests run against a real systemd 252, booted as PID 1 of its own
// namespaces by systemdtest, over both ways of reaching it: its private
// socket (as the agent does as root) and the system bus (dbus-daemon).

// opTimeout bounds every call to systemd in these tests.
const opTimeout = 20 * time.Second

// transports are the two ways to reach systemd.
var transports = []struct {
	name string
	dial func(ctx context.Context, t *testing.T, s *systemdtest.System) (*Conn, error)
}{
	{"private", func(ctx context.Context, t *testing.T, s *systemdtest.System) (*Conn, error) {
		return DialPrivate(ctx, s.Addr)
	}},
	{"bus", func(ctx context.Context, t *testing.T, s *systemdtest.System) (*Conn, error) {
		s.RequireBus(t)
		return DialBus(ctx, s.BusAddr)
	}},
}

// eachTransport boots systemd and runs f once per transport, with unit
// names made unique per transport by prefix.
func eachTransport(t *testing.T, f func(t *testing.T, s *systemdtest.System, c *Conn, prefix string)) {
	s := systemdtest.Boot(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			t0 := time.Now()
			c, err := tr.dial(ctx, t, s)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("dial took %v", time.Since(t0))
			t.Cleanup(func() { c.Close() })
			f(t, s, c, "vnfha-"+tr.name+"-")
		})
	}
}

// ctxT is a context bounded by opTimeout and the test.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitFile waits, bounded, until a file holds want.
func waitFile(t *testing.T, path, want string) string {
	t.Helper()
	var b []byte
	for range 200 {
		b, _ = os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b)
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s does not hold %q after 5s; it holds %q", path, want, b)
	return ""
}

// mustState reads a unit's state or fails the test.
func mustState(t *testing.T, c *Conn, unit string) State {
	t.Helper()
	st, err := c.State(ctxT(t), unit)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestTransientLifecycle starts a transient service with every setting,
// checks from /proc that the process got them, starts it again (a no-op),
// and stops it, twice, and stops units that never existed.
func TestTransientLifecycle(t *testing.T) {
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		unit := prefix + "sleep.service"
		// A directory of the booted system's private /run that nobody may
		// enter.
		wd := "/run/" + prefix + "wd"
		if err := os.Mkdir(s.Path(wd), 0o755); err != nil {
			t.Fatal(err)
		}
		tr := Transient{
			Description:      "vnfha test sleeper",
			Argv:             []string{"/bin/sleep", "1000"},
			User:             "nobody",
			Group:            "nogroup",
			WorkingDirectory: wd,
			Environment:      []string{"VNFHA_A=1", "VNFHA_B=two words"},
		}
		// The agent's probe reads the state first, which loads a
		// not-found stub of the unit: StartTransient must work over it.
		if st := mustState(t, c, unit); st.LoadState != "not-found" || st.ActiveState != "inactive" {
			t.Fatalf("state before start: %+v", st)
		}
		t0 := time.Now()
		if err := c.StartTransient(ctxT(t), unit, tr); err != nil {
			t.Fatal(err)
		}
		t.Logf("StartTransient took %v", time.Since(t0))
		t0 = time.Now()
		st := mustState(t, c, unit)
		t.Logf("State took %v", time.Since(t0))
		if st.LoadState != "loaded" || st.ActiveState != "active" || st.SubState != "running" || st.MainPID == 0 ||
			!st.Transient || st.FragmentPath != "/run/systemd/transient/"+unit {
			t.Fatalf("state after start: %+v", st)
		}
		proc := s.Path(fmt.Sprintf("/proc/%d", st.MainPID))
		env, err := os.ReadFile(proc + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		vars := strings.Split(string(env), "\x00")
		for _, v := range tr.Environment {
			if !slices.Contains(vars, v) {
				t.Errorf("environment %q lacks %q", vars, v)
			}
		}
		cmdline, _ := os.ReadFile(proc + "/cmdline")
		if got := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00"); !slices.Equal(got, tr.Argv) {
			t.Errorf("cmdline %q, want %q", got, tr.Argv)
		}
		status, _ := os.ReadFile(proc + "/status")
		for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534"} {
			if !strings.Contains(string(status), want+"\n") {
				t.Errorf("status lacks %q:\n%s", want, status)
			}
		}
		if a, b := stat(t, proc+"/cwd"), stat(t, s.Path(wd)); !os.SameFile(a, b) {
			t.Errorf("working directory is not %s", wd)
		}
		desc, err := c.bus.Object(destination, unitPath(unit)).GetProperty("org.freedesktop.systemd1.Unit.Description")
		if err != nil || desc.Value() != tr.Description {
			t.Errorf("Description = %v, %v", desc, err)
		}

		// Idempotent: the running unit is left alone.
		if err := c.StartTransient(ctxT(t), unit, tr); err != nil {
			t.Fatalf("second start: %v", err)
		}
		if st2 := mustState(t, c, unit); st2.MainPID != st.MainPID || !st2.Active() {
			t.Errorf("second start changed the unit: %+v, was %+v", st2, st)
		}

		t0 = time.Now()
		if err := c.Stop(ctxT(t), unit); err != nil {
			t.Fatal(err)
		}
		t.Logf("Stop took %v", time.Since(t0))
		// SIGTERM is a clean end for a service: the transient unit is
		// inactive and systemd has forgotten it.
		if st := mustState(t, c, unit); st.LoadState != "not-found" || st.ActiveState != "inactive" {
			t.Errorf("state after stop: %+v", st)
		}
		if _, err := os.Stat(proc); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("process %d still there after stop (%v)", st.MainPID, err)
		}
		for _, u := range []string{unit, prefix + "never.service", prefix + "never.target"} {
			if err := c.Stop(ctxT(t), u); err != nil {
				t.Errorf("stop %s: %v", u, err)
			}
		}
		// A unit that State loaded as a not-found stub stops too.
		if st := mustState(t, c, prefix+"stub.service"); st.LoadState != "not-found" || st.ActiveState != "inactive" {
			t.Errorf("state of a unit that never existed: %+v", st)
		}
		if err := c.Stop(ctxT(t), prefix+"stub.service"); err != nil {
			t.Errorf("stop of a not-found stub: %v", err)
		}
	})
}

func stat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// TestWatchReportsKill kills a service's main process with SIGKILL from
// outside and measures how soon Watch reports it; then StartTransient
// starts the same name again over the failed left-over.
func TestWatchReportsKill(t *testing.T) {
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		unit := prefix + "victim.service"
		tr := Transient{Argv: []string{"/bin/sleep", "1000"}}
		if err := c.StartTransient(ctxT(t), unit, tr); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctxT(t))
		states, err := c.Watch(wctx, unit)
		if err != nil {
			t.Fatal(err)
		}
		first := <-states
		if first.ActiveState != "active" || first.SubState != "running" || first.MainPID == 0 {
			t.Fatalf("first state from Watch: %+v", first)
		}
		pid, err := s.HostPID(first.MainPID)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var got State
		for got.ActiveState != "failed" {
			select {
			case got = <-states:
				t.Logf("Watch: %s/%s after %v", got.ActiveState, got.SubState, time.Since(t0))
			case <-time.After(5 * time.Second):
				t.Fatalf("Watch reported no failure within 5s of SIGKILL (last %+v)", got)
			}
		}
		t.Logf("Watch latency after kill -9: %v", time.Since(t0))
		if got.Result != "signal" || got.ExecMainCode != 2 || got.ExecMainStatus != 9 || got.MainPID != 0 {
			t.Errorf("failed state: %+v, want Result signal, killed (2) by signal 9", got)
		}
		cancel()
		for range states {
		}

		// The failed unit stays loaded, and stopping it leaves it so;
		// StartTransient clears it.
		if err := c.Stop(ctxT(t), unit); err != nil {
			t.Errorf("stop of a failed unit: %v", err)
		}
		if st := mustState(t, c, unit); st.ActiveState != "failed" || !st.Transient {
			t.Fatalf("left-over: %+v", st)
		}
		t0 = time.Now()
		if err := c.StartTransient(ctxT(t), unit, tr); err != nil {
			t.Fatalf("start over a failed left-over: %v", err)
		}
		t.Logf("StartTransient over a failed left-over took %v", time.Since(t0))
		if st := mustState(t, c, unit); !st.Active() || st.MainPID == 0 || st.MainPID == first.MainPID {
			t.Errorf("after restart: %+v", st)
		}
		if err := c.Stop(ctxT(t), unit); err != nil {
			t.Error(err)
		}
	})
}

// TestStartFailures: a command that cannot be executed fails the start
// (Type=exec); a unit that does not exist fails Start; StartTransient
// refuses to take over a unit with a unit file.
func TestStartFailures(t *testing.T) {
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		unit := prefix + "noexec.service"
		err := c.StartTransient(ctxT(t), unit, Transient{Argv: []string{"/nonexistent/vnfc"}})
		var jerr *JobError
		if !errors.As(err, &jerr) || jerr.Result != "failed" || jerr.UnitResult != "exit-code" {
			t.Fatalf("start of a missing command: %v, want a failed job with unit result exit-code", err)
		}
		if !strings.Contains(err.Error(), unit) {
			t.Errorf("error %q does not name the unit", err)
		}
		// 203 is systemd's EXIT_EXEC.
		if st := mustState(t, c, unit); st.ActiveState != "failed" || st.ExecMainStatus != 203 {
			t.Errorf("state: %+v", st)
		}

		err = c.Start(ctxT(t), prefix+"absent.service")
		if err == nil || !strings.Contains(err.Error(), prefix+"absent.service") {
			t.Errorf("start of a unit that does not exist: %v", err)
		}

		file := prefix + "file.service"
		writeUnit(t, s, c, file, "[Service]\nExecStart=/bin/sleep 1000\n")
		err = c.StartTransient(ctxT(t), file, Transient{Argv: []string{"/bin/true"}})
		if err == nil || !strings.Contains(err.Error(), "not transient") {
			t.Errorf("StartTransient over a unit file: %v", err)
		}
	})
}

// writeUnit writes a unit file into the booted system's
// /run/systemd/system and reloads systemd (daemon-reload).
func writeUnit(t *testing.T, s *systemdtest.System, c *Conn, name, text string) {
	t.Helper()
	if err := os.WriteFile(s.Path("/run/systemd/system/"+name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// Reload answers once the reload is done.
	if err := c.manager().CallWithContext(ctxT(t), managerIface+".Reload", 0).Err; err != nil {
		t.Fatalf("daemon-reload: %v", err)
	}
}

// TestUnitFile starts and stops a unit that has a unit file.
func TestUnitFile(t *testing.T) {
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		unit := prefix + "file.service"
		writeUnit(t, s, c, unit, "[Unit]\nDescription=from a file\n[Service]\nType=exec\nExecStart=/bin/sleep 1000\n")
		if err := c.Start(ctxT(t), unit); err != nil {
			t.Fatal(err)
		}
		st := mustState(t, c, unit)
		if !st.Active() || st.MainPID == 0 || st.Transient || st.FragmentPath != "/run/systemd/system/"+unit {
			t.Errorf("after start: %+v", st)
		}
		if err := c.Start(ctxT(t), unit); err != nil {
			t.Errorf("start of an active unit: %v", err)
		}
		if err := c.Stop(ctxT(t), unit); err != nil {
			t.Fatal(err)
		}
		if st := mustState(t, c, unit); st.LoadState != "loaded" || st.ActiveState != "inactive" {
			t.Errorf("after stop: %+v", st)
		}
	})
}

// TestOutputFile checks that OutputFile gets standard output and error,
// appended.
func TestOutputFile(t *testing.T) {
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		// The booted system shares the host's /tmp.
		out := filepath.Join(t.TempDir(), "out.log")
		if err := os.WriteFile(out, []byte("before\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		unit := prefix + "talker.service"
		err := c.StartTransient(ctxT(t), unit, Transient{
			Argv:       []string{"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 1000"},
			OutputFile: out,
		})
		if err != nil {
			t.Fatal(err)
		}
		got := waitFile(t, out, "to-stderr\n")
		if !strings.HasPrefix(got, "before\n") || !strings.Contains(got, "to-stdout\n") {
			t.Errorf("output file holds %q", got)
		}
		if err := c.Stop(ctxT(t), unit); err != nil {
			t.Error(err)
		}
	})
}

// trapScript ignores SIGTERM (its children inherit that), ends cleanly on
// SIGINT, and says when its traps are set.
const trapScript = `trap 'echo got-INT >> "$1"; exit 0' INT
trap '' TERM
echo ready >> "$1"
while :; do sleep 0.1; done`

// TestStopSignals checks KillSignal and the escalation to SIGKILL after
// TimeoutStop.
func TestStopSignals(t *testing.T) {
	tests := []struct {
		name        string
		killSignal  syscall.Signal
		timeoutStop time.Duration
		minStop     time.Duration
		wantFile    string
		wantLoad    string // after the stop
		wantResult  string
	}{
		// SIGINT ends it at once and cleanly: systemd forgets the unit.
		{"KillSignal=SIGINT", syscall.SIGINT, 20 * time.Second, 0, "ready\ngot-INT\n", "not-found", ""},
		// SIGTERM is ignored: after TimeoutStop, SIGKILL, and the unit
		// failed with Result timeout.
		{"SIGTERM ignored, TimeoutStop", 0, 1 * time.Second, time.Second, "ready\n", "loaded", "timeout"},
	}
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				unit := fmt.Sprintf("%strap%d.service", prefix, i)
				marks := filepath.Join(t.TempDir(), "marks")
				err := c.StartTransient(ctxT(t), unit, Transient{
					Argv:        []string{"/bin/sh", "-c", trapScript, "trap", marks},
					KillSignal:  tt.killSignal,
					TimeoutStop: tt.timeoutStop,
				})
				if err != nil {
					t.Fatal(err)
				}
				waitFile(t, marks, "ready\n")
				t0 := time.Now()
				if err := c.Stop(ctxT(t), unit); err != nil {
					t.Fatal(err)
				}
				took := time.Since(t0)
				t.Logf("Stop took %v", took)
				if took < tt.minStop || took > tt.timeoutStop+5*time.Second {
					t.Errorf("stop took %v, want between %v and %v", took, tt.minStop, tt.timeoutStop+5*time.Second)
				}
				if b, _ := os.ReadFile(marks); string(b) != tt.wantFile {
					t.Errorf("marks %q, want %q", b, tt.wantFile)
				}
				st := mustState(t, c, unit)
				if st.LoadState != tt.wantLoad || st.Active() || (tt.wantResult != "" && st.Result != tt.wantResult) {
					t.Errorf("after stop: %+v, want LoadState %s, Result %q", st, tt.wantLoad, tt.wantResult)
				}
			})
		}
	})
}

// TestUnitPathMatchesSystemd compares unitPath with the paths systemd's
// LoadUnit returns.
func TestUnitPathMatchesSystemd(t *testing.T) {
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		for _, name := range []string{
			"a.service", "0a.service", "-.slice", "init.scope", "getty@tty1.service",
			"a_b-c:d\\x2de.service", "Z9.target",
		} {
			var p dbus.ObjectPath
			if err := c.manager().CallWithContext(ctxT(t), managerIface+".LoadUnit", 0, name).Store(&p); err != nil {
				t.Errorf("LoadUnit(%s): %v", name, err)
				continue
			}
			if p != unitPath(name) {
				t.Errorf("unitPath(%q) = %q, systemd says %q", name, unitPath(name), p)
			}
		}
	})
}

// TestClose checks that Close ends the Watch goroutines and godbus's, and
// that calls after Close fail instead of hanging.
func TestClose(t *testing.T) {
	s := systemdtest.Boot(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			c, err := tr.dial(ctxT(t), t, s)
			if err != nil {
				t.Fatal(err)
			}
			states, err := c.Watch(context.Background(), "init.scope")
			if err != nil {
				t.Fatal(err)
			}
			if st := <-states; st.ActiveState != "active" {
				t.Errorf("init.scope: %+v", st)
			}
			if err := c.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			select {
			case _, ok := <-states:
				if ok {
					t.Error("Watch delivered after Close")
				}
			case <-time.After(time.Second):
				t.Error("Watch channel still open after Close")
			}
			if _, err := c.State(ctxT(t), "init.scope"); err == nil {
				t.Error("State after Close succeeded")
			}
			if err := c.Start(ctxT(t), "init.scope"); err == nil {
				t.Error("Start after Close succeeded")
			}
			n := 0
			for range 100 {
				if n = runtime.NumGoroutine(); n <= before {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		})
	}
}

// TestContext checks that an ended context stops Dial and the waits.
func TestContext(t *testing.T) {
	s := systemdtest.Boot(t)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DialPrivate(done, s.Addr); !errors.Is(err, context.Canceled) {
		t.Errorf("DialPrivate with a canceled context: %v", err)
	}
	c, err := DialPrivate(ctxT(t), s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A start that cannot finish in time: its job waits for a start that
	// takes long (ExecStartPre sleeps).
	writeUnit(t, s, c, "vnfha-slow.service", "[Service]\nType=exec\nExecStartPre=/bin/sleep 30\nExecStart=/bin/sleep 1000\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err = c.Start(ctx, "vnfha-slow.service")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 5*time.Second {
		t.Errorf("Start with a 300ms deadline: %v after %v", err, time.Since(t0))
	}
	if st := mustState(t, c, "vnfha-slow.service"); st.ActiveState != "activating" {
		t.Errorf("state: %+v, want activating", st)
	}
	// A stop replaces the start job under way.
	if err := c.Stop(ctxT(t), "vnfha-slow.service"); err != nil {
		t.Error(err)
	}
	// Killed in its ExecStartPre: failed.
	if st := mustState(t, c, "vnfha-slow.service"); st.Active() || st.ActiveState == "activating" {
		t.Errorf("after stop: %+v", st)
	}
}

// TestStartTransientOverBusyUnit starts a transient unit while one of the
// same name is still starting (StartTransient joins that start) or still
// stopping (StartTransient waits for the stop, resets the failed unit and
// starts anew).
func TestStartTransientOverBusyUnit(t *testing.T) {
	eachTransport(t, func(t *testing.T, s *systemdtest.System, c *Conn, prefix string) {
		tr := Transient{Argv: []string{"/bin/sleep", "1000"}}
		t.Run("activating", func(t *testing.T) {
			unit := prefix + "starting.service"
			// Queued without waiting: its ExecStartPre keeps it
			// activating for 500ms.
			startRaw(t, c, unit, property{"ExecStartPre", dbus.MakeVariant([]execCommand{{Path: "/bin/sleep", Argv: []string{"sleep", "0.5"}}})})
			waitActiveState(t, c, unit, "activating")
			t0 := time.Now()
			if err := c.StartTransient(ctxT(t), unit, tr); err != nil {
				t.Fatal(err)
			}
			t.Logf("StartTransient over an activating unit took %v", time.Since(t0))
			st := mustState(t, c, unit)
			if !st.Active() || time.Since(t0) < 300*time.Millisecond {
				t.Errorf("after %v: %+v; want active after the first start's 500ms", time.Since(t0), st)
			}
			// It is the first start's process: argv from startRaw.
			cmdline, _ := os.ReadFile(s.Path(fmt.Sprintf("/proc/%d/cmdline", st.MainPID)))
			if string(cmdline) != "/bin/sleep\x002000\x00" {
				t.Errorf("cmdline %q, want the first start's", cmdline)
			}
			if err := c.Stop(ctxT(t), unit); err != nil {
				t.Error(err)
			}
		})
		t.Run("deactivating", func(t *testing.T) {
			unit := prefix + "stopping.service"
			marks := filepath.Join(t.TempDir(), "marks")
			err := c.StartTransient(ctxT(t), unit, Transient{
				Argv:        []string{"/bin/sh", "-c", trapScript, "trap", marks},
				TimeoutStop: 500 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			waitFile(t, marks, "ready\n")
			// Queued without waiting: SIGTERM is ignored, so it stays
			// deactivating for 500ms, then fails (timeout).
			var job dbus.ObjectPath
			if err := c.manager().CallWithContext(ctxT(t), managerIface+".StopUnit", 0, unit, "replace").Store(&job); err != nil {
				t.Fatal(err)
			}
			waitActiveState(t, c, unit, "deactivating")
			t0 := time.Now()
			if err := c.StartTransient(ctxT(t), unit, tr); err != nil {
				t.Fatal(err)
			}
			t.Logf("StartTransient over a deactivating unit took %v", time.Since(t0))
			st := mustState(t, c, unit)
			cmdline, _ := os.ReadFile(s.Path(fmt.Sprintf("/proc/%d/cmdline", st.MainPID)))
			if !st.Active() || string(cmdline) != "/bin/sleep\x001000\x00" {
				t.Errorf("state %+v, cmdline %q; want the new command running", st, cmdline)
			}
			if err := c.Stop(ctxT(t), unit); err != nil {
				t.Error(err)
			}
		})
	})
}

// waitActiveState waits, bounded, until a unit's ActiveState is want: a
// queued job runs in systemd's next loop iteration.
func waitActiveState(t *testing.T, c *Conn, unit, want string) {
	t.Helper()
	var st State
	for range 200 {
		if st = mustState(t, c, unit); st.ActiveState == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("state: %+v, want %s within 1s", st, want)
}

// startRaw queues a transient sleeper with extra properties, without
// waiting for its job.
func startRaw(t *testing.T, c *Conn, unit string, extra ...property) {
	t.Helper()
	props := append([]property{
		{"Type", dbus.MakeVariant("exec")},
		{"ExecStart", dbus.MakeVariant([]execCommand{{Path: "/bin/sleep", Argv: []string{"/bin/sleep", "2000"}}})},
	}, extra...)
	var job dbus.ObjectPath
	err := c.manager().CallWithContext(ctxT(t), managerIface+".StartTransientUnit", 0, unit, "replace", props, []auxUnit{}).Store(&job)
	if err != nil {
		t.Fatal(err)
	}
}

// dialChildEnv marks the re-executed test binary in which TestDial runs.
const dialChildEnv = "VNFHA_SYSTEMD_DIAL_CHILD"

// TestDial checks Dial's way to systemd when there is no private socket:
// the system bus that DBUS_SYSTEM_BUS_ADDRESS names, and an error naming
// both when that fails too. On a machine that runs systemd, Dial would
// reach the host's private socket instead of the booted system, so the
// test runs in a child process with a mount namespace of its own, where an
// empty tmpfs hides the host's /run/systemd: the same on every machine,
// never skipped.
func TestDial(t *testing.T) {
	if os.Getenv(dialChildEnv) == "" {
		systemdtest.Require(t)
		cmd := exec.Command(os.Args[0], "-test.run=^TestDial$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), dialChildEnv+"=1")
		// Go makes / private (MS_REC|MS_PRIVATE) in a child with a new
		// mount namespace, so the child's mounts stay its own.
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestDial") {
			t.Fatalf("TestDial in a private mount namespace: %v\n%s", err, out)
		}
		t.Logf("in a private mount namespace:\n%s", out)
		return
	}
	if _, err := os.Stat("/run/systemd"); err == nil {
		if err := syscall.Mount("tmpfs", "/run/systemd", "tmpfs", 0, "mode=755"); err != nil {
			t.Fatalf("hide the host's /run/systemd: %v", err)
		}
	}
	if _, err := os.Stat("/run/systemd/private"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the host's private socket is still in sight: %v", err)
	}
	s := systemdtest.Boot(t)
	s.RequireBus(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", s.BusAddr)
	c, err := Dial(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.direct {
		t.Error("Dial says direct, want the bus")
	}
	if st := mustState(t, c, "vnfha-systemdtest-proxy.service"); !st.Active() {
		t.Errorf("Dial did not reach the booted system: %+v", st)
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")
	_, err = Dial(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/bus") || !strings.Contains(err.Error(), "/run/systemd/private") {
		t.Errorf("Dial with no systemd: %v; want an error naming both addresses", err)
	}
}

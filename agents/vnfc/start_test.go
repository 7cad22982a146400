package vnfc

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/ocf"
)

// leftovers returns the live processes that belong to instance: those
// whose environment holds VNFHA_RESOURCE=instance, as the VNFC's and the
// supervisor's do. Zombies do not count: they hold nothing but a pid.
func leftovers(t *testing.T, instance string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("VNFHA_RESOURCE=" + instance + "\x00")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.HasPrefix(env, marker) && !bytes.Contains(env, append([]byte{0}, marker...)) {
			continue
		}
		if st, err := procid.ReadStat(pid); err == nil && !st.Zombie() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// noLeftovers fails the test if any process of instance runs, after a
// short grace for processes that are being reaped; it kills them so that
// one failure does not leak into the next test.
func noLeftovers(t *testing.T, instance, when string) {
	t.Helper()
	var pids []int
	for i := 0; i < 100; i++ {
		if pids = leftovers(t, instance); len(pids) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	var what []string
	for _, pid := range pids {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		what = append(what, strconv.Itoa(pid)+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	t.Errorf("%s: processes of %s left running:\n%s", when, instance, strings.Join(what, "\n"))
}

// agentCommand is the agent as a process of its own (the test binary in
// agent mode) for action, with the instance's environment; wrapper, if
// given, is a command line that runs it (setpriv ...).
func (r *rsc) agentCommand(action string, wrapper ...string) *exec.Cmd {
	r.t.Helper()
	argv := append(wrapper, testBinary(r.t), action)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"VNFC_TEST_MODE=agent", "PATH=" + searchPath}
	for k, v := range r.env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// startProcess starts the agent as a process of its own (the test binary
// in agent mode) for action, as Pacemaker's executor would.
func (r *rsc) startProcess(action string) (*exec.Cmd, *bytes.Buffer) {
	r.t.Helper()
	cmd := r.agentCommand(action)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	return cmd, &stderr
}

// TestStartTimeoutLeavesNothing (defect 2): with pidfile set and a command
// that stays in the foreground and never writes it, start runs out of time.
// Whether start ends by itself or is killed by the executor, the stop that
// Pacemaker runs next ends the supervisor and the VNFC, and nothing else
// reads the instance as cleanly stopped while they run.
func TestStartTimeoutLeavesNothing(t *testing.T) {
	tests := []struct {
		name string
		// killAfter, if set, kills the agent's start this long after it
		// began, as the executor does at the operation's timeout.
		killAfter time.Duration
	}{
		{name: "start runs out of time"},
		{name: "start killed by the executor", killAfter: 700 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A short path, which the reason shows whole.
			r := newRsc(t, map[string]string{"command": "/bin/sleep 100000"})
			pidfile := filepath.Join(r.rscTmp, "vnfc.pid")
			r.params["pidfile"] = pidfile
			r.instance = "vnfc-pidfile-never-written"
			r.meta["timeout"] = "2000"
			if tt.killAfter == 0 {
				began := time.Now()
				got, stderr := r.run("start")
				if got != ocf.ErrGeneric {
					t.Errorf("start = %d, %q; want 1", got, stderr)
				}
				if took := time.Since(began); took > 2*time.Second {
					t.Errorf("start took %s, beyond its 2 s timeout", took)
				}
				if !strings.Contains(stderr, "pid file "+pidfile+" not written within the start timeout: sleep did not exit") {
					t.Errorf("start's reason %q does not say what went wrong", stderr)
				}
				// Principle 3: the failed start stopped what it started.
				noLeftovers(t, r.instance, "after the failed start")
				if exists(r.dir()) {
					t.Errorf("state directory %s left after the failed start", r.dir())
				}
			} else {
				cmd, stderr := r.startProcess("start")
				waitFor(t, 5*time.Second, "the VNFC", func() bool { return len(leftovers(t, r.instance)) >= 1 })
				time.Sleep(tt.killAfter)
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				// A probe must not read this as stopped: something runs.
				if got, out := r.run("monitor"); got == ocf.NotRunning || got == ocf.Success {
					t.Errorf("monitor after a killed start = %d, %q; want a failure (start stderr %q)", got, out, stderr)
				}
			}
			r.must("stop", ocf.Success)
			noLeftovers(t, r.instance, "after stop")
			r.must("monitor", ocf.NotRunning)
		})
	}
}

// TestExitDuringStart (defect 5): a VNFC that exits within the settle
// time fails start, every time, with how it ended; nothing of it is left,
// and no failure is reported for it. Each case runs 20 times: before the
// settle time, /bin/false started in about 2 of 3 tries.
func TestExitDuringStart(t *testing.T) {
	const tries = 20
	tests := []struct {
		name   string
		params map[string]string
		reason string
	}{
		{"/bin/false", map[string]string{"command": "/bin/false"}, "the VNFC exited with status 1 during start"},
		{"/bin/true", map[string]string{"command": "/bin/true"}, "the VNFC exited with status 0 during start"},
		{"exit 3", map[string]string{"command": "/bin/sh -c 'exit 3'"}, "the VNFC exited with status 3 during start"},
		{"killed", map[string]string{"command": "/bin/sh -c 'kill -9 $$'"}, "the VNFC was killed by signal 9"},
		{"exits before healthy", map[string]string{"command": "/bin/false", "health": "tcp://127.0.0.1:1", "health_timeout": "100ms"},
			"the VNFC exited with status 1 during start"},
		{"healthy, then exits", map[string]string{"command": "/bin/sh -c '/bin/sleep 0.05'", "health": "exec:/bin/true", "settle_time": "2s"},
			"the VNFC exited with status 0 during start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRsc(t, tt.params)
			r.instance = "vnfc-exit-during-start"
			for i := 0; i < tries; i++ {
				got, stderr := r.run("start")
				if got != ocf.ErrGeneric || !strings.Contains(stderr, tt.reason) {
					t.Fatalf("try %d: start = %d, %q; want 1 with %q", i+1, got, stderr, tt.reason)
				}
				if exists(r.dir()) {
					t.Fatalf("try %d: state directory left after the failed start", i+1)
				}
			}
			noLeftovers(t, r.instance, "after the failed starts")
			r.must("monitor", ocf.NotRunning)
			if strings.Contains(r.recorded(), "--fail") {
				t.Errorf("an exit during start was reported as a failure: %q", r.recorded())
			}
		})
	}
}

// TestSettleCost: a VNFC that keeps running starts, and start takes about
// the settle time, not much more (logged for the report; the bound is loose
// so that a loaded machine does not fail it).
func TestSettleCost(t *testing.T) {
	for _, settle := range []string{"0", "100ms"} {
		t.Run(settle, func(t *testing.T) {
			r := newRsc(t, map[string]string{"command": "/bin/sleep 100000", "settle_time": settle})
			var total time.Duration
			const n = 5
			for i := 0; i < n; i++ {
				began := time.Now()
				r.must("start", ocf.Success)
				total += time.Since(began)
				r.must("stop", ocf.Success)
			}
			d, _ := ocf.ParseInterval(settle)
			t.Logf("settle_time=%s: start took %s on average", settle, (total / n).Round(100*time.Microsecond))
			if avg := total / n; avg < d || avg > d+2*time.Second {
				t.Errorf("start took %s on average with settle_time=%s", avg, settle)
			}
		})
	}
}

// TestInstanceNames (defect 6): an instance name that would not stay one
// directory below HA_RSCTMP/vnfha-vnfc is refused by every action that acts
// on the configuration, before any file is touched, and stop returns 0:
// nothing can run under such a name. Clone instance names (with ':') work.
func TestInstanceNames(t *testing.T) {
	tests := []struct {
		name     string
		instance string
		ok       bool
	}{
		{"clone instance", "app:0", true},
		{"clone instance, two digits", "app-1:12", true},
		{"dots inside", "app.v2", true},
		{"escape two levels", "../../victim", false},
		{"escape one level", "../victim", false},
		{"dot dot", "..", false},
		{"dot", ".", false},
		{"dots in a name", "a..b", true},
		{"slash", "a/b", false},
		{"absolute", "/tmp/victim", false},
		{"NUL", "a\x00b", false},
		{"newline", "a\nb", false},
		{"too long", strings.Repeat("a", ocf.MaxNameLen+1), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRsc(t, map[string]string{"command": "/bin/sleep 100000"})
			// HA_RSCTMP two levels down, so that ../../victim lands next
			// to it, in the test's own directory.
			r.rscTmp = filepath.Join(r.rscTmp, "a", "b")
			if err := os.MkdirAll(r.rscTmp, 0o700); err != nil {
				t.Fatal(err)
			}
			victim := filepath.Join(filepath.Dir(r.rscTmp), "victim")
			if err := os.MkdirAll(victim, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(victim, "precious"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			r.instance = tt.instance
			if tt.ok {
				r.must("start", ocf.Success)
				r.must("monitor", ocf.Success)
				r.must("stop", ocf.Success)
				r.must("monitor", ocf.NotRunning)
			} else {
				for _, action := range []string{"validate-all", "start", "monitor", "promote"} {
					got, stderr := r.run(action)
					if action == "validate-all" && tt.instance == "" {
						// crm_resource --validate may set no name:
						// nothing is joined onto a directory then.
						if got != ocf.Success {
							t.Errorf("validate-all without a name = %d, %q; want 0", got, stderr)
						}
						continue
					}
					if got != ocf.ErrNotConfigured || !strings.Contains(stderr, "ocf-exit-reason:") {
						t.Errorf("%s = %d, %q; want 6 with a reason", action, got, stderr)
					}
					checkReason(t, action, stderr)
				}
				r.must("stop", ocf.Success)
				r.must("demote", ocf.Success)
				if ents, _ := os.ReadDir(r.rscTmp); len(ents) != 0 {
					t.Errorf("HA_RSCTMP holds %v after a refused name", ents)
				}
			}
			if _, err := os.Stat(filepath.Join(victim, "precious")); err != nil {
				t.Errorf("the directory next to HA_RSCTMP was touched: %v", err)
			}
			r.instance = "vnfc-test" // for the cleanup's stop
		})
	}
}

// checkReason checks an exit reason is what Pacemaker can keep and show: one
// line of at most 128 bytes.
func checkReason(t *testing.T, action, stderr string) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if reason, ok := strings.CutPrefix(line, "ocf-exit-reason:"); ok && len(reason) > 128 {
			t.Errorf("%s: exit reason of %d bytes: %q", action, len(reason), reason)
		}
	}
}

// TestDaemonsLeftBehind (defect 10): processes that left the VNFC's
// process group and session (setsid -f), with no pidfile, are found below
// the supervisor (a child subreaper) and ended: by stop, after they got
// stop_signal, and by the supervisor when the VNFC dies.
func TestDaemonsLeftBehind(t *testing.T) {
	tests := []struct {
		name    string
		command string // %s is a file the daemon writes when it gets SIGTERM
		end     string // stop, kill (of the main process), or "" for a start that must fail
	}{
		{"stop", `/bin/sh -c '/usr/bin/setsid -f /bin/sh -c "trap \"echo term > %s; exit 0\" TERM; /bin/sleep 100001 & wait"; exec /bin/sleep 100000'`, "stop"},
		{"stop, daemon ignores TERM", `/bin/sh -c '/usr/bin/setsid -f /bin/sh -c "trap \"\" TERM; /bin/sleep 100001"; exec /bin/sleep 100000'`, "stop"},
		{"the VNFC dies", `/bin/sh -c '/usr/bin/setsid -f /bin/sleep 100001; exec /bin/sleep 100000'`, "kill"},
		{"the command only daemonizes", `/usr/bin/setsid -f /bin/sleep 100001`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			termFile := filepath.Join(t.TempDir(), "term")
			cmd := tt.command
			if strings.Contains(cmd, "%s") {
				cmd = strings.Replace(cmd, "%s", termFile, 1)
			}
			r := newRsc(t, map[string]string{"command": cmd, "stop_timeout": "1s"})
			r.instance = "vnfc-daemons"
			if tt.end == "" {
				startsAndFails(t, r, "exited with status 0 during start")
				noLeftovers(t, r.instance, "after the failed start")
				return
			}
			r.must("start", ocf.Success)
			rec := r.record()
			waitFor(t, 5*time.Second, "the daemon", func() bool {
				for _, pid := range leftovers(t, r.instance) {
					if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); strings.Contains(string(b), "100001") {
						return true
					}
				}
				return false
			})
			switch tt.end {
			case "stop":
				r.must("stop", ocf.Success)
				noLeftovers(t, r.instance, "after stop")
				if strings.Contains(tt.command, "echo term") {
					if b, _ := os.ReadFile(termFile); strings.TrimSpace(string(b)) != "term" {
						t.Errorf("the daemon did not get stop_signal before SIGKILL")
					}
				}
			case "kill":
				if err := syscall.Kill(rec.Main.PID, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				waitFor(t, 5*time.Second, "supervisor exit", func() bool { return !rec.Supervisor.Alive() })
				noLeftovers(t, r.instance, "after the VNFC died")
				r.must("stop", ocf.Success)
			}
		})
	}
}

// startsAndFails runs start and checks it failed with reason.
func startsAndFails(t *testing.T, r *rsc, reason string) {
	t.Helper()
	got, stderr := r.run("start")
	if got != ocf.ErrGeneric || !strings.Contains(stderr, reason) {
		t.Errorf("start = %d, %q; want 1 with %q", got, stderr, reason)
	}
}

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
	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/ocf"
)

// threadNices returns the nice of every thread of pid, by thread id, from
// /proc/PID/task/TID/stat: what the scheduler uses, thread by thread.
func threadNices(t *testing.T, pid int) map[int]int {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("threads of pid %d: %v", pid, err)
	}
	out := map[int]int{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		st, err := procid.ParseStat(b)
		if err != nil {
			t.Fatalf("thread %s of pid %d: %v", e.Name(), pid, err)
		}
		tid, _ := strconv.Atoi(e.Name())
		out[tid] = st.Nice
	}
	return out
}

// allAtNice checks that every thread of pid runs at nice want; min is
// the fewest threads the process is known to have, so that the check
// cannot pass on a process that has not started its threads yet.
func allAtNice(t *testing.T, what string, pid, want, min int) {
	t.Helper()
	nices := threadNices(t, pid)
	if len(nices) < min {
		t.Errorf("%s (pid %d) has %d threads, want at least %d", what, pid, len(nices), min)
	}
	for tid, n := range nices {
		if n != want {
			t.Errorf("%s (pid %d): thread %d runs at nice %d, want %d (all: %v)", what, pid, tid, n, want, nices)
		}
	}
}

// autogroupLine is /proc/PID/autogroup: "/autogroup-N nice X".
func autogroupLine(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/autogroup")
	if err != nil {
		t.Fatalf("autogroup of pid %d: %v", pid, err)
	}
	return strings.TrimSpace(string(b))
}

// goThreads is the fewest threads a Go program that serves HTTP runs: the
// runtime starts sysmon and a thread per P that runs, and the tests run
// on at least 2 CPUs. Every one of them is created after exec, by the
// VNFC itself.
const goThreads = 3

// TestNice: with nice, the VNFC (the test binary serving HTTP, a Go
// program whose threads exist before its main) runs at that nice in every
// thread, in a session of its own whose autogroup has the same nice; the
// supervisor's threads and autogroup keep their priority. Without nice
// (0 or unset) the VNFC inherits the priority, in a process group of its
// own in the supervisor's session, as before the parameter existed. A
// kill -9 is reported and kills the group as before, and stop ends
// everything.
func TestNice(t *testing.T) {
	self, err := procid.ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	autogroups := autogroupOff() == ""
	if !autogroups {
		t.Logf("autogroups not checked: %s", autogroupOff())
	}
	tests := []struct {
		nice       string // "" for none
		want       int
		ownSession bool
	}{
		{"-7", -7, true},
		{"5", 5, true},
		{"-20", -20, true},
		{"19", 19, true},
		{"0", self.Nice, false},
		{"", self.Nice, false},
	}
	for _, tt := range tests {
		t.Run("nice="+tt.nice, func(t *testing.T) {
			addr := freeAddr(t)
			p := serving(t, addr, map[string]string{"health": "http://" + addr + "/health"})
			if tt.nice != "" {
				p["nice"] = tt.nice
			}
			r := newRsc(t, p)
			r.must("start", ocf.Success)
			rec := r.record()
			pid, sup := rec.Main.PID, rec.Supervisor.PID
			st, err := procid.ReadStat(pid)
			if err != nil {
				t.Fatal(err)
			}
			allAtNice(t, "the VNFC", pid, tt.want, goThreads)
			allAtNice(t, "the supervisor", sup, self.Nice, 1)
			// The group's id is the VNFC's pid either way: stop and the
			// supervisor kill the group by it.
			if st.PGID != pid || rec.PGID != pid || st.PPID != sup {
				t.Errorf("VNFC pgid %d (recorded %d), ppid %d; want its own group %d below the supervisor %d", st.PGID, rec.PGID, st.PPID, pid, sup)
			}
			wantSession := sup // the supervisor leads a session of its own
			if tt.ownSession {
				wantSession = pid
			}
			if st.Session != wantSession {
				t.Errorf("VNFC session %d, want %d", st.Session, wantSession)
			}
			if autogroups {
				vnfc, super := autogroupLine(t, pid), autogroupLine(t, sup)
				same := strings.Fields(vnfc)[0] == strings.Fields(super)[0]
				switch {
				case tt.ownSession && (same || vnfc != strings.Fields(vnfc)[0]+" nice "+tt.nice):
					t.Errorf("VNFC's autogroup %q, supervisor's %q; want one of its own with nice %s", vnfc, super, tt.nice)
				case !tt.ownSession && !same:
					t.Errorf("VNFC's autogroup %q, want the supervisor's %q", vnfc, super)
				}
				if !strings.HasSuffix(super, " nice 0") {
					t.Errorf("the supervisor's autogroup %q, want nice 0", super)
				}
			}
			r.must("monitor", ocf.Success)
			r.must("stop", ocf.Success)
			noLeftovers(t, r.instance, "after stop")
			if tt.nice != "-7" {
				return
			}
			// The kill of a niced VNFC, in its own session: reported, its
			// group killed, as without nice.
			r.must("start", ocf.Success)
			rec = r.record()
			if err := syscall.Kill(rec.Main.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "crm_resource --fail", func() bool { return strings.Contains(r.recorded(), "--fail") })
			waitFor(t, 5*time.Second, "supervisor exit", func() bool { return !rec.Supervisor.Alive() })
			r.must("monitor", ocf.ErrGeneric)
			r.must("stop", ocf.Success)
			noLeftovers(t, r.instance, "after the kill and stop")
		})
	}
}

// TestNiceGroup: with nice, what the VNFC starts stays at its nice and in
// its process group, whose id is still the VNFC's pid, so that stop ends
// all of it even when the supervisor is gone (only the group is left to
// find it by).
func TestNiceGroup(t *testing.T) {
	r := newRsc(t, map[string]string{"command": "/bin/sh -c '/bin/sleep 100000 & wait'", "nice": "-7"})
	r.must("start", ocf.Success)
	rec := r.record()
	var child procID
	waitFor(t, 2*time.Second, "the shell's child", func() bool {
		child = childOf(t, rec.Main.PID)
		return child.PID != 0
	})
	st, err := procid.ReadStat(child.PID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Nice != -7 || st.PGID != rec.Main.PID || st.Session != rec.Main.PID {
		t.Errorf("the VNFC's child: nice %d, pgid %d, session %d; want -7 and %d", st.Nice, st.PGID, st.Session, rec.Main.PID)
	}
	if err := syscall.Kill(rec.Supervisor.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "supervisor death", func() bool { return !rec.Supervisor.Alive() })
	r.must("monitor", ocf.Degraded)
	r.must("stop", ocf.Success)
	if rec.Main.Alive() || child.Alive() {
		t.Errorf("after stop: VNFC alive %v, its child alive %v", rec.Main.Alive(), child.Alive())
	}
	noLeftovers(t, r.instance, "after stop")
}

// TestNiceForking: with pidfile, the daemon the command leaves (in a new
// session: setsid, as daemons do) runs at the nice in every thread, and
// its session's autogroup gets the nice too.
func TestNiceForking(t *testing.T) {
	addr := freeAddr(t)
	pidfile := filepath.Join(t.TempDir(), "vnfc.pid")
	p := serving(t, addr, map[string]string{"pidfile": pidfile, "health": "http://" + addr + "/health", "nice": "-7"})
	p["environment"] = strings.Replace(p["environment"], "VNFC_TEST_MODE=serve", "VNFC_TEST_MODE=fork VNFC_TEST_PIDFILE="+pidfile, 1)
	r := newRsc(t, p)
	r.must("start", ocf.Success)
	rec := r.record()
	st, err := procid.ReadStat(rec.Main.PID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Session != rec.Main.PID {
		t.Fatalf("the daemon (pid %d) is in session %d: the test needs one that called setsid", rec.Main.PID, st.Session)
	}
	allAtNice(t, "the daemon", rec.Main.PID, -7, goThreads)
	if autogroupOff() == "" {
		if got := autogroupLine(t, rec.Main.PID); !strings.HasSuffix(got, " nice -7") {
			t.Errorf("the daemon's autogroup %q, want nice -7", got)
		}
	}
	r.must("monitor", ocf.Success)
	r.must("stop", ocf.Success)
	noLeftovers(t, r.instance, "after stop")
}

// TestNiceRefused: a nice the supervisor may not set fails start with
// the reason, and the failed start leaves nothing behind. The agent runs
// as Pacemaker's executor runs it, a process of its own, here without
// CAP_SYS_NICE (setpriv drops it from the bounding set, so neither the
// agent nor the supervisor has it), which a negative nice needs.
func TestNiceRefused(t *testing.T) {
	setpriv := testenv.Tool(t, "setpriv")
	r := newRsc(t, map[string]string{"command": "/bin/sleep 100000", "nice": "-7", "fast_fail": "false"})
	r.instance = "vnfc-nice-refused"
	cmd := r.agentCommand("start", setpriv, "--bounding-set=-sys_nice")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ocf.Code(ee.ExitCode()) != ocf.ErrGeneric {
		t.Fatalf("start without CAP_SYS_NICE: %v, want exit 1\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "set nice -7: permission denied") {
		t.Errorf("start's reason %q does not say why", stderr.String())
	}
	noLeftovers(t, r.instance, "after the failed start")
	if exists(r.dir()) {
		t.Error("the failed start left its state directory")
	}
	r.must("monitor", ocf.NotRunning)
}

// TestNiceCheck: nice is checked as every numeric parameter is (see
// TestHostileParameters for every action): the range of setpriority.
func TestNiceCheck(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		err  string
	}{
		{"-20", -20, ""},
		{"19", 19, ""},
		{" -7 ", -7, ""},
		{"+5", 5, ""},
		{"0", 0, ""},
		{"20", 0, "nice=20 is out of range -20..19"},
		{"-21", 0, "nice=-21 is out of range -20..19"},
		{"9223372036854775807", 0, "out of range -20..19"},
	} {
		c, err := parseConfig(params(t, map[string]string{"command": "x", "nice": tt.in}))
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("nice=%q: %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || c.nice != tt.want):
			t.Errorf("nice=%q: %+v, %v; want %d", tt.in, c, err, tt.want)
		}
	}
}

// TestNiceAsUser: the supervisor sets the nice and the autogroup of a
// VNFC that runs as another user (nobody), whose /proc files are not
// root's.
func TestNiceAsUser(t *testing.T) {
	r := newRsc(t, map[string]string{"command": "/bin/sleep 100000", "user": "nobody", "nice": "-7"})
	r.must("start", ocf.Success)
	rec := r.record()
	allAtNice(t, "the VNFC", rec.Main.PID, -7, 1)
	if status, _ := os.ReadFile("/proc/" + strconv.Itoa(rec.Main.PID) + "/status"); !strings.Contains(string(status), "Uid:\t65534") {
		t.Errorf("the VNFC does not run as nobody:\n%s", status)
	}
	if autogroupOff() == "" {
		if got := autogroupLine(t, rec.Main.PID); !strings.HasSuffix(got, " nice -7") {
			t.Errorf("the VNFC's autogroup %q, want nice -7", got)
		}
	}
	r.must("stop", ocf.Success)
	noLeftovers(t, r.instance, "after stop")
}

// TestAutogroupOff: where the kernel has no autogroups, or they are off,
// the autogroup nice is skipped with the reason, and nothing is written;
// with them on, a write to a pid that is gone is skipped too (the settle
// time says how the VNFC ended), not a failed start.
func TestAutogroupOff(t *testing.T) {
	dir := t.TempDir()
	old := autogroupSysctl
	t.Cleanup(func() { autogroupSysctl = old })
	for _, tt := range []struct {
		name, content string // content "" for no file
		pid           int
		skipped       string
	}{
		{"no autogroups in the kernel", "", os.Getpid(), "the kernel has no autogroups"},
		{"autogroups off", "0\n", os.Getpid(), "autogroups are off"},
		{"pid gone", "1\n", 1 << 30, "pid 1073741824 is gone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			autogroupSysctl = filepath.Join(dir, "missing")
			if tt.content != "" {
				autogroupSysctl = filepath.Join(dir, tt.name)
				must(t, os.WriteFile(autogroupSysctl, []byte(tt.content), 0o644))
			}
			before, _ := os.ReadFile("/proc/self/autogroup")
			skipped, err := setAutogroupNice(tt.pid, 7)
			if err != nil || !strings.Contains(skipped, tt.skipped) {
				t.Errorf("setAutogroupNice = %q, %v; want skipped with %q", skipped, err, tt.skipped)
			}
			if after, _ := os.ReadFile("/proc/self/autogroup"); !bytes.Equal(before, after) {
				t.Errorf("the test's own autogroup changed: %q, then %q", before, after)
			}
		})
	}
}

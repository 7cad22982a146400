package vnfc

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/ocf"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// TestMain makes the test binary serve as the agent's helper (start runs
// /proc/self/exe as the supervisor) and as a test VNFC.
func TestMain(m *testing.M) {
	if len(os.Args) > 3 && os.Args[1] == ocf.HelperArg && os.Args[2] == name {
		os.Exit(Agent.Helper(os.Args[3])(os.Args[4:]))
	}
	switch os.Getenv("VNFC_TEST_MODE") {
	case "serve":
		os.Exit(serveVNFC())
	case "fork":
		os.Exit(forkVNFC())
	case "agent":
		// The test binary as the agent itself, for tests that need a
		// separate process to kill, as Pacemaker's executor kills one.
		Agent.Main()
	}
	os.Exit(m.Run())
}

// serveVNFC is a test VNFC: an HTTP server on VNFC_TEST_ADDR whose
// /health answers 200 and /role records promote and demote POSTs.
func serveVNFC() int {
	ln, err := net.Listen("tcp", os.Getenv("VNFC_TEST_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/role/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		role := strings.TrimPrefix(r.URL.Path, "/role/")
		if role == "fail" {
			http.Error(w, "refused", http.StatusConflict)
			return
		}
		_ = os.WriteFile(os.Getenv("VNFC_TEST_ROLE_FILE"), []byte(role), 0o644)
	})
	_ = http.Serve(ln, mux)
	return 1
}

// forkVNFC is a forking VNFC: it starts a copy of itself in serve mode in
// a new session, writes its pid to VNFC_TEST_PIDFILE and exits 0.
func forkVNFC() int {
	self, _ := os.Executable()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VNFC_TEST_MODE=") {
			env = append(env, kv)
		}
	}
	env = append(env, "VNFC_TEST_MODE=serve")
	p, err := os.StartProcess(self, []string{self}, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{nil, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(os.Getenv("VNFC_TEST_PIDFILE"), []byte(strconv.Itoa(p.Pid)+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// rsc is one resource instance under test: its parameters and the
// environment Pacemaker would give the agent.
type rsc struct {
	t        *testing.T
	instance string // OCF_RESOURCE_INSTANCE
	params   map[string]string
	meta     map[string]string
	rscTmp   string
	calls    string // where the stand-in Pacemaker tools record their calls
	haLog    string // the node's log file (HA_LOGFILE), if set
}

func newRsc(t *testing.T, params map[string]string) *rsc {
	t.Helper()
	testenv.Root(t) // the supervisor and credentials tests
	dir := t.TempDir()
	// HA_RSCTMP is a tmpfs on a node (/run/resource-agents), where the
	// state files' fsyncs cost nothing; /tmp may be a disk, whose fsyncs
	// on a loaded machine would eat a short operation's margin.
	rscTmp, err := os.MkdirTemp("/dev/shm", "vnfc-rsctmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rscTmp) })
	r := &rsc{t: t, instance: "vnfc-test", params: params, meta: map[string]string{"on_node": "node1", "timeout": "20000"}, rscTmp: rscTmp,
		calls: filepath.Join(dir, "calls")}
	// Stand-ins for crm_resource and crm_attribute that record their
	// arguments: the lab's end-to-end tests use the real ones.
	for _, tool := range []struct {
		bin *string
		n   string
	}{{&crmResourceBin, "crm_resource"}, {&crmAttributeBin, "crm_attribute"}} {
		path := filepath.Join(dir, tool.n)
		script := "#!/bin/sh\necho " + tool.n + " \"$@\" >> " + r.calls + "\n"
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		old := *tool.bin
		*tool.bin = path
		t.Cleanup(func() { *tool.bin = old })
	}
	t.Cleanup(func() {
		// Whatever a test left running is stopped, even after a failure.
		r.run("stop")
	})
	return r
}

// env is the environment Pacemaker would give the agent.
func (r *rsc) env() map[string]string {
	env := map[string]string{
		"OCF_RESOURCE_INSTANCE": r.instance,
		"OCF_RESOURCE_TYPE":     "vnfc",
		"HA_RSCTMP":             r.rscTmp,
	}
	if r.haLog != "" {
		env["HA_LOGFILE"] = r.haLog
	}
	for k, v := range r.params {
		env["OCF_RESKEY_"+k] = v
	}
	for k, v := range r.meta {
		env["OCF_RESKEY_CRM_meta_"+k] = v
	}
	return env
}

// run runs one action and returns its exit code and stderr.
func (r *rsc) run(action string) (ocf.Code, string) {
	var stdout, stderr bytes.Buffer
	code := Agent.Run(context.Background(), []string{action}, ocf.MapLookup(r.env()), &stdout, &stderr)
	return code, stderr.String()
}

// must runs an action that must return want.
func (r *rsc) must(action string, want ocf.Code) string {
	r.t.Helper()
	got, stderr := r.run(action)
	if got != want {
		r.t.Fatalf("%s = %d (%s), want %d (%s)\n%s", action, got, got, want, want, stderr)
	}
	return stderr
}

func (r *rsc) record() *record {
	r.t.Helper()
	rec, err := readRecord(r.dir())
	if err != nil || rec == nil {
		r.t.Fatalf("no state record: %v", err)
	}
	return rec
}

// dir is the instance's state directory.
func (r *rsc) dir() string {
	return filepath.Join(r.rscTmp, "vnfha-vnfc", r.instance)
}

// recorded returns the stand-in tools' calls so far.
func (r *rsc) recorded() string {
	b, _ := os.ReadFile(r.calls)
	return string(b)
}

// waitFor polls cond every 5 ms, up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < int(d/(5*time.Millisecond)); i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, d)
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func testBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

func TestLifecycle(t *testing.T) {
	r := newRsc(t, map[string]string{"command": "/bin/sleep 100000"})
	r.must("monitor", ocf.NotRunning)
	r.must("start", ocf.Success)
	rec := r.record()
	r.must("start", ocf.Success) // idempotent
	if again := r.record(); again.Main != rec.Main {
		t.Errorf("second start replaced the VNFC: %+v, then %+v", rec.Main, again.Main)
	}
	r.must("monitor", ocf.Success)
	st, err := procid.ReadStat(rec.Main.PID)
	if err != nil {
		t.Fatal(err)
	}
	if st.PGID != rec.Main.PID || st.PPID != rec.Supervisor.PID {
		t.Errorf("VNFC pgid %d ppid %d, want its own group under the supervisor %d", st.PGID, st.PPID, rec.Supervisor.PID)
	}
	if sup, _ := procid.ReadStat(rec.Supervisor.PID); sup.PGID != rec.Supervisor.PID {
		t.Errorf("supervisor is not a session/group leader: pgid %d", sup.PGID)
	}
	r.must("stop", ocf.Success)
	r.must("stop", ocf.Success) // idempotent
	r.must("monitor", ocf.NotRunning)
	if rec.Main.Alive() || rec.Supervisor.Alive() {
		t.Errorf("after stop: VNFC alive %v, supervisor alive %v", rec.Main.Alive(), rec.Supervisor.Alive())
	}
	if got := r.recorded(); strings.Contains(got, "--fail") {
		t.Errorf("a deliberate stop was reported as a failure: %q", got)
	}
}

// TestFastFail: kill -9 of the VNFC is reported at once with
// crm_resource --fail for this instance on this node, and monitor then
// reports the failure with how the VNFC ended.
func TestFastFail(t *testing.T) {
	tests := []struct {
		name     string
		fastFail string
		sig      syscall.Signal
		wantCall bool
	}{
		{"kill -9 reported", "true", syscall.SIGKILL, true},
		{"SIGSEGV reported", "true", syscall.SIGSEGV, true},
		{"fast_fail off", "false", syscall.SIGKILL, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRsc(t, map[string]string{"command": "/bin/sleep 100000", "fast_fail": tt.fastFail})
			// The node's log, as Pacemaker names it to agents: the file
			// exists, Pacemaker's daemons write it.
			r.haLog = filepath.Join(t.TempDir(), "pacemaker.log")
			if err := os.WriteFile(r.haLog, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			r.must("start", ocf.Success)
			rec := r.record()
			killed := time.Now()
			if err := syscall.Kill(rec.Main.PID, tt.sig); err != nil {
				t.Fatal(err)
			}
			if tt.wantCall {
				waitFor(t, 5*time.Second, "crm_resource --fail", func() bool { return strings.Contains(r.recorded(), "--fail") })
				t.Logf("failure reported %s after the kill", time.Since(killed).Round(time.Millisecond))
				want := "crm_resource --fail --resource vnfc-test --node node1"
				if !strings.Contains(r.recorded(), want) {
					t.Errorf("calls %q, want %q", r.recorded(), want)
				}
			}
			waitFor(t, 5*time.Second, "supervisor exit", func() bool { return !rec.Supervisor.Alive() })
			if !tt.wantCall && strings.Contains(r.recorded(), "--fail") {
				t.Errorf("reported with fast_fail=false: %q", r.recorded())
			}
			stderr := r.must("monitor", ocf.ErrGeneric)
			killedBy := "killed by signal " + strconv.Itoa(int(tt.sig))
			if !strings.Contains(stderr, killedBy) {
				t.Errorf("monitor's reason %q does not say how the VNFC ended", stderr)
			}
			// Defect 3: how the VNFC ended is in the node's log, where an
			// operator who sees the failure in crm_mon looks.
			nodeLog, _ := os.ReadFile(r.haLog)
			if !strings.Contains(string(nodeLog), "vnfc(vnfc-test)") || !strings.Contains(string(nodeLog), "ERROR: the VNFC (pid "+strconv.Itoa(rec.Main.PID)+") was "+killedBy) {
				t.Errorf("the node's log does not say how the VNFC ended:\n%s", nodeLog)
			}
			r.must("stop", ocf.Success)
			r.must("monitor", ocf.NotRunning)
			r.must("start", ocf.Success) // recovery
			r.must("monitor", ocf.Success)
		})
	}
}

// TestStop: stop_signal goes to the whole process group, and SIGKILL
// follows after stop_timeout for a VNFC that ignores it.
func TestStop(t *testing.T) {
	tests := []struct {
		name     string
		command  string
		params   map[string]string
		minTime  time.Duration // the grace the VNFC had
		maxTime  time.Duration
		wantKill bool // ended by SIGKILL, not by stop_signal
	}{
		{"TERM ends it", "/bin/sleep 100000", nil, 0, 2 * time.Second, false},
		{"ignores TERM", "/bin/sh -c 'trap \"\" TERM; /bin/sleep 100000 & wait'", map[string]string{"stop_timeout": "300ms"}, 300 * time.Millisecond, 3 * time.Second, true},
		{"hung (SIGSTOP)", "/bin/sh -c 'trap \"exit 0\" TERM; /bin/sleep 100000 & wait'", map[string]string{"stop_timeout": "10s"}, 0, 2 * time.Second, false},
		{"stop_signal INT", "/bin/sh -c 'trap \"exit 0\" INT; trap \"\" TERM; /bin/sleep 100000 & wait'", map[string]string{"stop_signal": "INT", "stop_timeout": "10s"}, 0, 2 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]string{"command": tt.command, "log_file": filepath.Join(t.TempDir(), "log")}
			for k, v := range tt.params {
				params[k] = v
			}
			r := newRsc(t, params)
			r.must("start", ocf.Success)
			rec := r.record()
			// The shell's child, the grandchild of the supervisor, is in
			// the group and must die with it.
			var child procID
			waitFor(t, 2*time.Second, "the shell's child", func() bool {
				child = childOf(t, rec.Main.PID)
				return child.PID != 0 || !strings.HasPrefix(tt.command, "/bin/sh")
			})
			if strings.HasPrefix(tt.name, "hung") {
				syscall.Kill(rec.Main.PID, syscall.SIGSTOP)
			}
			began := time.Now()
			stderr := r.must("stop", ocf.Success)
			took := time.Since(began)
			if took < tt.minTime || took > tt.maxTime {
				t.Errorf("stop took %s, want %s to %s", took, tt.minTime, tt.maxTime)
			}
			if rec.Main.Alive() || child.Alive() || rec.Supervisor.Alive() {
				t.Errorf("left alive: VNFC %v, its child %v, supervisor %v", rec.Main.Alive(), child.Alive(), rec.Supervisor.Alive())
			}
			if gotKill := strings.Contains(stderr, "sending SIGKILL"); gotKill != tt.wantKill {
				t.Errorf("SIGKILL sent = %v, want %v; stderr:\n%s", gotKill, tt.wantKill, stderr)
			}
		})
	}
}

// allStopped reports whether every thread of pid is stopped (state T).
func allStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		st, err := procid.ParseStat(b)
		if err != nil || st.State != 'T' {
			return false
		}
	}
	return true
}

// childOf returns the first child of pid, or a zero procID.
func childOf(t *testing.T, pid int) procID {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return procID{}
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return procID{}
	}
	n, _ := strconv.Atoi(f[0])
	id, err := procid.Of(n)
	if err != nil {
		return procID{}
	}
	return id
}

// TestStopTimeoutFitsTheOperation: with stop_timeout longer than the stop
// operation's own timeout, SIGKILL still comes in time.
func TestStopTimeoutFitsTheOperation(t *testing.T) {
	r := newRsc(t, map[string]string{"command": "/bin/sh -c 'trap \"\" TERM; while :; do /bin/sleep 1; done'", "stop_timeout": "10min"})
	r.must("start", ocf.Success)
	rec := r.record()
	r.meta["timeout"] = "7000" // 7 s: leaves 1 s of grace before SIGKILL
	began := time.Now()
	r.must("stop", ocf.Success)
	if took := time.Since(began); took > 7*time.Second {
		t.Errorf("stop took %s, beyond its 7 s timeout", took)
	}
	if rec.Main.Alive() {
		t.Error("VNFC survived the stop")
	}
}

// TestRunsAs: user, group, workdir and environment reach the VNFC, and its
// environment holds nothing of the agent's.
func TestRunsAs(t *testing.T) {
	// Not t.TempDir: nobody must be able to reach it.
	dir := ocftest.PublicDir(t, "vnfc-workdir-")
	r := newRsc(t, map[string]string{
		"command":     "/bin/sleep 100000",
		"user":        "nobody",
		"group":       "nogroup",
		"workdir":     dir,
		"environment": `MODE=active 'GREETING=hello world' PATH=/bin`,
	})
	r.must("start", ocf.Success)
	pid := r.record().Main.PID
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if !strings.Contains(string(status), "Uid:\t65534\t65534\t65534\t65534") || !strings.Contains(string(status), "Gid:\t65534\t65534\t65534\t65534") {
		t.Errorf("not running as nobody:nogroup:\n%s", status)
	}
	if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != dir {
		t.Errorf("cwd %q, want %q", cwd, dir)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	env := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for _, want := range []string{"MODE=active", "GREETING=hello world", "PATH=/bin", "USER=nobody", "HOME=/nonexistent", "VNFHA_RESOURCE=vnfc-test", "VNFHA_NODE=node1"} {
		if !contains(env, want) {
			t.Errorf("environment lacks %q: %q", want, env)
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "OCF_") || strings.HasPrefix(kv, "HA_") {
			t.Errorf("agent variable leaked into the VNFC: %q", kv)
		}
	}
	if contains(env, "PATH="+searchPath) {
		t.Errorf("the environment parameter did not override PATH: %q", env)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestBadInput: what cannot work is refused before anything starts, with
// the exit code that bans the resource where it should.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   ocf.Code
		reason string
		// node is set for what validate-all checks on this node (users,
		// files): a probe does not look at it, and finds nothing running.
		node bool
	}{
		{"missing binary", map[string]string{"command": "/nonexistent/vnfc --flag"}, ocf.ErrNotInstalled, "/nonexistent/vnfc", false},
		{"binary not in search path", map[string]string{"command": "no-such-vnfc"}, ocf.ErrNotInstalled, "not found", false},
		{"not executable", map[string]string{"command": "/etc/passwd"}, ocf.ErrNotInstalled, "not an executable", false},
		{"relative path", map[string]string{"command": "bin/vnfc"}, ocf.ErrNotInstalled, "must be absolute", false},
		{"unknown user", map[string]string{"command": "/bin/sleep 1", "user": "no-such-user"}, ocf.ErrNotConfigured, `unknown user "no-such-user"`, true},
		{"unknown group", map[string]string{"command": "/bin/sleep 1", "group": "no-such-group"}, ocf.ErrNotConfigured, `unknown group`, true},
		{"malformed health URL", map[string]string{"command": "/bin/sleep 1", "health": "http://[::1/health"}, ocf.ErrNotConfigured, "health", false},
		{"health URL without host", map[string]string{"command": "/bin/sleep 1", "health": "http:///health"}, ocf.ErrNotConfigured, "no host", false},
		{"health with bad port", map[string]string{"command": "/bin/sleep 1", "health": "tcp://127.0.0.1:99999"}, ocf.ErrNotConfigured, "port", false},
		{"unknown health scheme", map[string]string{"command": "/bin/sleep 1", "health": "udp://127.0.0.1:53"}, ocf.ErrNotConfigured, "want none", false},
		{"unterminated quote", map[string]string{"command": "/bin/sleep '1"}, ocf.ErrNotConfigured, "unterminated", false},
		{"no command", map[string]string{}, ocf.ErrNotConfigured, "command is required", false},
		{"bad signal", map[string]string{"command": "/bin/sleep 1", "stop_signal": "SIGNOPE"}, ocf.ErrNotConfigured, "stop_signal", false},
		{"bad environment", map[string]string{"command": "/bin/sleep 1", "environment": "1X=2"}, ocf.ErrNotConfigured, "NAME=value", false},
		{"missing workdir", map[string]string{"command": "/bin/sleep 1", "workdir": "/nonexistent"}, ocf.ErrNotInstalled, "workdir", false},
		{"missing log directory", map[string]string{"command": "/bin/sleep 1", "log_file": "/nonexistent/log"}, ocf.ErrNotInstalled, "log_file", false},
		// Defect 12: validate-all accepted what start then refused.
		{"log_file a directory", map[string]string{"command": "/bin/sleep 1", "log_file": "/tmp"}, ocf.ErrNotConfigured, "log_file /tmp is a directory", true},
		{"log_file a device", map[string]string{"command": "/bin/sleep 1", "log_file": "/dev/zero"}, ocf.ErrNotConfigured, "log_file /dev/zero is not a regular file", true},
		{"pidfile a directory", map[string]string{"command": "/bin/sleep 1", "pidfile": "/tmp"}, ocf.ErrNotConfigured, "pidfile /tmp is a directory", true},
		{"workdir a file", map[string]string{"command": "/bin/sleep 1", "workdir": "/etc/passwd"}, ocf.ErrNotInstalled, "workdir /etc/passwd is not a directory", false},
		{"missing hook", map[string]string{"command": "/bin/sleep 1", "promote_command": "/nonexistent/promote"}, ocf.ErrNotInstalled, "hook", false},
		{"unknown backend", map[string]string{"command": "/bin/sleep 1", "backend": "docker"}, ocf.ErrNotConfigured, "backend", false},
		{"bad unit name", map[string]string{"backend": "systemd", "unit": "a/b.service"}, ocf.ErrNotConfigured, "unit", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRsc(t, tt.params)
			for _, action := range []string{"validate-all", "start"} {
				got, stderr := r.run(action)
				if got != tt.want || !strings.Contains(stderr, "ocf-exit-reason:") || !strings.Contains(stderr, tt.reason) {
					t.Errorf("%s = %d, %q; want %d and a reason with %q", action, got, stderr, tt.want, tt.reason)
				}
			}
			// One misconfiguration, one code: monitor (a probe here)
			// refuses what validate-all refuses as not configured; what
			// is missing on this node only means nothing runs here.
			wantMonitor := ocf.NotRunning
			if tt.want == ocf.ErrNotConfigured && !tt.node {
				wantMonitor = ocf.ErrNotConfigured
			}
			r.must("monitor", wantMonitor)
			r.must("stop", ocf.Success)
		})
	}
}

// TestStartFailures: a VNFC that cannot run fails start with the reason,
// leaves nothing behind, and is not reported as a runtime failure.
func TestStartFailures(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		reason string
	}{
		{"exits at once", map[string]string{"command": "/bin/false", "health": "tcp://127.0.0.1:1", "health_timeout": "200ms"}, "exited with status 1"},
		{"never healthy", map[string]string{"command": "/bin/sleep 100000", "health": "tcp://127.0.0.1:1", "health_timeout": "100ms"}, "not healthy within the start timeout"},
		// A workdir the user cannot reach is now refused before the
		// start, with 5, as validate-all does: TestUserAccess.
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRsc(t, tt.params)
			r.meta["timeout"] = "1500"
			got, stderr := r.run("start")
			if got != ocf.ErrGeneric || !strings.Contains(stderr, tt.reason) {
				t.Errorf("start = %d, %q; want 1 with %q", got, stderr, tt.reason)
			}
			r.must("monitor", ocf.NotRunning)
			if strings.Contains(r.recorded(), "--fail") {
				t.Errorf("a failed start was reported as a runtime failure: %q", r.recorded())
			}
		})
	}
}

// serving returns the parameters of a test VNFC that serves HTTP on addr.
func serving(t *testing.T, addr string, extra map[string]string) map[string]string {
	t.Helper()
	p := map[string]string{
		"command":     testBinary(t),
		"environment": "VNFC_TEST_MODE=serve VNFC_TEST_ADDR=" + addr + " VNFC_TEST_ROLE_FILE=" + filepath.Join(t.TempDir(), "role"),
		"log_file":    filepath.Join(t.TempDir(), "log"),
	}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// TestHealth: start waits for the check; monitor fails a VNFC that stops
// answering, including a hung one (SIGSTOP), within health_timeout.
func TestHealth(t *testing.T) {
	tests := []struct {
		name        string
		health      string // %s is the VNFC's address
		catchesHang bool
	}{
		{"http", "http://%s/health", true},
		{"tcp", "tcp://%s", false}, // the kernel completes the handshake
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			health := tt.health
			if strings.Contains(health, "%s") {
				health = fmt.Sprintf(health, addr)
			}
			r := newRsc(t, serving(t, addr, map[string]string{"health": health, "health_timeout": "500ms"}))
			r.must("start", ocf.Success)
			// Start returned only once the VNFC answered.
			if resp, err := http.Get("http://" + addr + "/health"); err != nil {
				t.Fatalf("VNFC not serving after start: %v", err)
			} else {
				resp.Body.Close()
			}
			r.must("monitor", ocf.Success)
			rec := r.record()
			if err := syscall.Kill(rec.Main.PID, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			// kill returns before every thread has stopped: a thread
			// still running could answer one more request.
			waitFor(t, 5*time.Second, "all threads of the VNFC stopped", func() bool { return allStopped(rec.Main.PID) })
			began := time.Now()
			got, stderr := r.run("monitor")
			took := time.Since(began)
			syscall.Kill(rec.Main.PID, syscall.SIGCONT)
			if tt.catchesHang {
				if got != ocf.ErrGeneric || !strings.Contains(stderr, "no answer within 500ms") {
					t.Errorf("monitor of a hung VNFC = %d, %q; want 1, no answer", got, stderr)
				}
				if took > 2*time.Second {
					t.Errorf("monitor took %s to find the hang, health_timeout is 500ms", took)
				}
			} else if got != ocf.Success {
				t.Logf("%s check on a hung VNFC: %d", tt.name, got)
			}
			r.must("monitor", ocf.Success)
			// A VNFC that stops serving fails its check.
			r.params["health"] = strings.Replace(health, addr, freeAddr(t), 1)
			got, stderr = r.run("monitor")
			if got != ocf.ErrGeneric || !strings.Contains(stderr, "health") {
				t.Errorf("monitor with a dead endpoint = %d, %q", got, stderr)
			}
		})
	}
}

// TestExecHealth: an exec check passes on exit status 0, fails with the
// command's last line of output otherwise, runs as the VNFC's user, and is
// killed, with its whole process group, at health_timeout.
func TestExecHealth(t *testing.T) {
	dir, err := os.MkdirTemp("", "vnfc-health-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	flag := filepath.Join(dir, "healthy")
	r := newRsc(t, map[string]string{
		"command":        "/bin/sleep 100000",
		"user":           "nobody",
		"health":         `exec:/bin/sh -c "test -e ` + flag + ` && touch ` + dir + `/ran-as-$(id -un) || { echo not ready; exit 3; }"`,
		"health_timeout": "300ms",
	})
	r.meta["timeout"] = "1000"
	if got, stderr := r.run("start"); got != ocf.ErrGeneric || !strings.Contains(stderr, "not ready") {
		t.Errorf("start with a failing check = %d, %q; want 1 with the check's output", got, stderr)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.must("start", ocf.Success)
	r.must("monitor", ocf.Success)
	if !exists(filepath.Join(dir, "ran-as-nobody")) {
		t.Error("the check did not run as user nobody")
	}
	os.Remove(flag)
	if got, stderr := r.run("monitor"); got != ocf.ErrGeneric || !strings.Contains(stderr, "exit status 3: not ready") {
		t.Errorf("monitor = %d, %q; want 1, exit status 3: not ready", got, stderr)
	}
	r.params["health"] = "exec:/bin/sh -c '/bin/sleep 30; true'"
	began := time.Now()
	if got, stderr := r.run("monitor"); got != ocf.ErrGeneric || !strings.Contains(stderr, "no answer within 300ms") {
		t.Errorf("monitor with a hanging check = %d, %q", got, stderr)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("a hanging check held monitor for %s", took)
	}
}

// TestPromotable: the promotion scores follow the role as in Stateful,
// monitor says 8 when promoted and 9 when the promoted VNFC died, and the
// hooks run with their failures and timeouts reported.
func TestPromotable(t *testing.T) {
	promotable := map[string]string{"clone_max": "2", "promotable": "true", "promoted_max": "1"}
	hookDir := t.TempDir()
	tests := []struct {
		name         string
		promote      string
		demote       string
		wantRole     func(r *rsc) string // what the hooks left behind
		wantPromoted string
		wantDemoted  string
		promoteFails string // part of promote's reason, if it must fail
	}{
		{name: "no hooks"},
		{
			name:         "command hooks",
			promote:      "/bin/sh -c 'echo promoted-$VNFHA_ACTION > " + hookDir + "/role'",
			demote:       "/bin/sh -c 'echo demoted-$VNFHA_ACTION > " + hookDir + "/role'",
			wantPromoted: "promoted-promote", wantDemoted: "demoted-demote",
		},
		{name: "HTTP hooks", promote: "http://%s/role/promoted", demote: "http://%s/role/unpromoted", wantPromoted: "promoted", wantDemoted: "unpromoted"},
		{name: "failing command", promote: "/bin/sh -c 'echo cannot take over; exit 4'", promoteFails: "exit status 4: cannot take over"},
		{name: "refused by HTTP", promote: "http://%s/role/fail", promoteFails: "409 Conflict"},
		{name: "hook times out", promote: "/bin/sh -c '/bin/sleep 60'", promoteFails: "did not finish within the promote timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			p := serving(t, addr, map[string]string{"health": "http://" + addr + "/health"})
			roleFile := strings.TrimPrefix(strings.Fields(p["environment"])[2], "VNFC_TEST_ROLE_FILE=")
			if tt.promote != "" {
				p["promote_command"] = strings.ReplaceAll(tt.promote, "%s", addr)
			}
			if tt.demote != "" {
				p["demote_command"] = strings.ReplaceAll(tt.demote, "%s", addr)
			}
			os.Remove(filepath.Join(hookDir, "role"))
			r := newRsc(t, p)
			for k, v := range promotable {
				r.meta[k] = v
			}
			r.must("start", ocf.Success)
			r.must("monitor", ocf.Success)
			if tt.promoteFails != "" {
				r.meta["timeout"] = "1000"
				began := time.Now()
				got, stderr := r.run("promote")
				if got != ocf.ErrGeneric || !strings.Contains(stderr, tt.promoteFails) {
					t.Errorf("promote = %d, %q; want 1 with %q", got, stderr, tt.promoteFails)
				}
				if took := time.Since(began); took > 1500*time.Millisecond {
					t.Errorf("promote took %s with a 1 s timeout", took)
				}
				r.must("monitor", ocf.Success) // still unpromoted
				return
			}
			r.must("promote", ocf.Success)
			r.must("monitor", ocf.RunningPromoted)
			r.must("promote", ocf.Success) // idempotent
			readRole := func() string {
				for _, f := range []string{roleFile, filepath.Join(hookDir, "role")} {
					if b, err := os.ReadFile(f); err == nil {
						return strings.TrimSpace(string(b))
					}
				}
				return ""
			}
			if got := readRole(); got != tt.wantPromoted {
				t.Errorf("after promote the hook left %q, want %q", got, tt.wantPromoted)
			}
			r.must("demote", ocf.Success)
			r.must("monitor", ocf.Success)
			if got := readRole(); got != tt.wantDemoted {
				t.Errorf("after demote the hook left %q, want %q", got, tt.wantDemoted)
			}
			r.must("promote", ocf.Success)
			// The promoted VNFC dies: failed promoted, and demote (the
			// first step of Pacemaker's recovery) skips the hook.
			rec := r.record()
			syscall.Kill(rec.Main.PID, syscall.SIGKILL)
			waitFor(t, 5*time.Second, "supervisor exit", func() bool { return !rec.Supervisor.Alive() })
			r.must("monitor", ocf.FailedPromoted)
			r.must("demote", ocf.Success)
			r.must("stop", ocf.Success)
			r.must("demote", ocf.NotRunning)

			want := []string{
				"crm_attribute --promotion vnfc-test --lifetime reboot --node node1 --update 5",  // start
				"crm_attribute --promotion vnfc-test --lifetime reboot --node node1 --update 10", // promote
				"crm_attribute --promotion vnfc-test --lifetime reboot --node node1 --update 10", // promote again
				"crm_attribute --promotion vnfc-test --lifetime reboot --node node1 --update 5",  // demote
				"crm_attribute --promotion vnfc-test --lifetime reboot --node node1 --update 10", // promote
				"crm_resource --fail --resource vnfc-test --node node1",                          // the kill
				"crm_attribute --promotion vnfc-test --lifetime reboot --node node1 --delete",    // stop; the demote of the dead VNFC set no score
			}
			if got := strings.Split(strings.TrimSpace(r.recorded()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("Pacemaker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestNotPromotable: a primitive or a plain clone sets no promotion score.
func TestNotPromotable(t *testing.T) {
	r := newRsc(t, map[string]string{"command": "/bin/sleep 100000"})
	r.meta["clone_max"] = "3"
	r.must("start", ocf.Success)
	r.must("stop", ocf.Success)
	if got := r.recorded(); got != "" {
		t.Errorf("calls %q, want none", got)
	}
}

// TestSupervisorKilled: a VNFC whose supervisor was killed still runs and
// is reported degraded, not failed; stop still ends it.
func TestSupervisorKilled(t *testing.T) {
	r := newRsc(t, map[string]string{"command": "/bin/sleep 100000"})
	r.must("start", ocf.Success)
	rec := r.record()
	syscall.Kill(rec.Supervisor.PID, syscall.SIGKILL)
	waitFor(t, 5*time.Second, "supervisor death", func() bool { return !rec.Supervisor.Alive() })
	stderr := r.must("monitor", ocf.Degraded)
	if !strings.Contains(stderr, "supervisor is gone") {
		t.Errorf("reason %q", stderr)
	}
	r.must("stop", ocf.Success)
	if rec.Main.Alive() {
		t.Error("VNFC survived the stop")
	}
}

// TestForking: with pidfile, a VNFC that forks into the background is
// followed through its daemon, which the supervisor reaps and reports.
func TestForking(t *testing.T) {
	addr := freeAddr(t)
	pidfile := filepath.Join(t.TempDir(), "vnfc.pid")
	p := serving(t, addr, map[string]string{"pidfile": pidfile, "health": "http://" + addr + "/health"})
	p["environment"] = strings.Replace(p["environment"], "VNFC_TEST_MODE=serve", "VNFC_TEST_MODE=fork VNFC_TEST_PIDFILE="+pidfile, 1)
	r := newRsc(t, p)
	r.must("start", ocf.Success)
	rec := r.record()
	b, _ := os.ReadFile(pidfile)
	if want, _ := strconv.Atoi(strings.TrimSpace(string(b))); rec.Main.PID != want {
		t.Fatalf("main pid %d, want the daemon's %d", rec.Main.PID, want)
	}
	if st, _ := procid.ReadStat(rec.Main.PID); st.PPID != rec.Supervisor.PID {
		t.Errorf("daemon's parent is %d, want the supervisor %d (child subreaper)", st.PPID, rec.Supervisor.PID)
	}
	r.must("monitor", ocf.Success)
	syscall.Kill(rec.Main.PID, syscall.SIGKILL)
	waitFor(t, 5*time.Second, "crm_resource --fail", func() bool { return strings.Contains(r.recorded(), "--fail") })
	r.must("stop", ocf.Success)
	r.must("start", ocf.Success)
	rec = r.record()
	r.must("stop", ocf.Success)
	if rec.Main.Alive() {
		t.Error("daemon survived the stop")
	}
}

// TestExitKillsTheGroup: when the VNFC's main process dies, what it left
// in its process group dies with it, so that a restart here finds its
// port free.
func TestExitKillsTheGroup(t *testing.T) {
	r := newRsc(t, map[string]string{"command": "/bin/sh -c '/bin/sleep 100000 & wait'"})
	r.must("start", ocf.Success)
	rec := r.record()
	var child procID
	waitFor(t, 2*time.Second, "the shell's child", func() bool {
		child = childOf(t, rec.Main.PID)
		return child.PID != 0
	})
	syscall.Kill(rec.Main.PID, syscall.SIGKILL)
	waitFor(t, 5*time.Second, "the child's death", func() bool { return !child.Alive() })
	waitFor(t, 5*time.Second, "crm_resource --fail", func() bool { return strings.Contains(r.recorded(), "--fail") })
}

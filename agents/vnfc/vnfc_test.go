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

	"github.com/vnfha/vnfha/ocf"
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
	env := append(os.Environ(), "VNFC_TEST_MODE=serve")
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
	t      *testing.T
	params map[string]string
	meta   map[string]string
	rscTmp string
	calls  string // where the stand-in Pacemaker tools record their calls
}

func newRsc(t *testing.T, params map[string]string) *rsc {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the supervisor and credentials tests need root")
	}
	dir := t.TempDir()
	r := &rsc{t: t, params: params, meta: map[string]string{"on_node": "node1", "timeout": "20000"}, rscTmp: dir,
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

// run runs one action and returns its exit code and stderr.
func (r *rsc) run(action string) (ocf.Code, string) {
	env := map[string]string{
		"OCF_RESOURCE_INSTANCE": "vnfc-test",
		"OCF_RESOURCE_TYPE":     "vnfc",
		"HA_RSCTMP":             r.rscTmp,
	}
	for k, v := range r.params {
		env["OCF_RESKEY_"+k] = v
	}
	for k, v := range r.meta {
		env["OCF_RESKEY_CRM_meta_"+k] = v
	}
	var stdout, stderr bytes.Buffer
	code := Agent.Run(context.Background(), []string{action}, ocf.MapLookup(env), &stdout, &stderr)
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
	rec, err := readRecord(filepath.Join(r.rscTmp, "vnfha-vnfc", "vnfc-test"))
	if err != nil || rec == nil {
		r.t.Fatalf("no state record: %v", err)
	}
	return rec
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
	st, err := readStat(rec.Main.PID)
	if err != nil {
		t.Fatal(err)
	}
	if st.pgid != rec.Main.PID || st.ppid != rec.Supervisor.PID {
		t.Errorf("VNFC pgid %d ppid %d, want its own group under the supervisor %d", st.pgid, st.ppid, rec.Supervisor.PID)
	}
	if sup, _ := readStat(rec.Supervisor.PID); sup.pgid != rec.Supervisor.PID {
		t.Errorf("supervisor is not a session/group leader: pgid %d", sup.pgid)
	}
	r.must("stop", ocf.Success)
	r.must("stop", ocf.Success) // idempotent
	r.must("monitor", ocf.NotRunning)
	if rec.Main.alive() || rec.Supervisor.alive() {
		t.Errorf("after stop: VNFC alive %v, supervisor alive %v", rec.Main.alive(), rec.Supervisor.alive())
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
			waitFor(t, 5*time.Second, "supervisor exit", func() bool { return !rec.Supervisor.alive() })
			if !tt.wantCall && strings.Contains(r.recorded(), "--fail") {
				t.Errorf("reported with fast_fail=false: %q", r.recorded())
			}
			stderr := r.must("monitor", ocf.ErrGeneric)
			if !strings.Contains(stderr, "killed by signal "+strconv.Itoa(int(tt.sig))) {
				t.Errorf("monitor's reason %q does not say how the VNFC ended", stderr)
			}
			r.must("stop", ocf.Success)
			r.must("monitor", ocf.NotRunning)
			r.must("start", ocf.Success) // recovery
			r.must("monitor", ocf.Success)
		})
	}
}

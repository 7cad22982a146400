// Package labtest gives tests a lab: a real Pacemaker cluster built from
// the code under test, torn down with t.Cleanup even when the test fails.
package labtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/agents"
	"github.com/vnfha/vnfha/internal/cmdtree"
	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// RequireHost skips (or, under CI=true, fails) a test on a machine that
// cannot run a lab: not root, or Pacemaker not installed.
func RequireHost(t testing.TB) {
	t.Helper()
	testenv.Require(t, "lab", lab.CheckHost())
}

// Build compiles the vnfha CLI and the agent binary of this checkout into a
// fresh directory laid out as `make build` lays out build/: bin/vnfha,
// bin/vnfha-agent and lib/ocf/resource.d/vnfha/<agent> links. It returns
// the vnfha binary and the agent directory.
func Build(t testing.TB) (binary, agentDir string) {
	t.Helper()
	root := ModuleRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-o", bin+"/", "./cmd/vnfha", "./cmd/vnfha-agent")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build vnfha: %v\n%s", err, out)
	}
	agentDir = filepath.Join(dir, "lib", "ocf", "resource.d", "vnfha")
	if err := os.MkdirAll(agentDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range agents.Names() {
		if err := os.Symlink(filepath.Join(bin, "vnfha-agent"), filepath.Join(agentDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(bin, "vnfha"), agentDir
}

// BuildVNFCd builds test/vnfcd, the VNFC that tests and benchmarks run,
// into a directory that every lab node, and any user, can read.
func BuildVNFCd(t testing.TB) string {
	t.Helper()
	return BuildPublic(t, "./test/vnfcd", "vnfcd")
}

// BuildPublic builds the command pkg (a path relative to the module's
// root, e.g. ./test/vnfm/cmd/vnfm) as name, into a directory that every
// lab node and host, and any user, can read, and returns its path.
func BuildPublic(t testing.TB, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(ocftest.PublicDir(t, name+"-"), name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = ModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// ModuleRoot is the directory of this checkout's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		t.Fatal("not inside the vnfha module")
	}
	return filepath.Dir(mod)
}

// Up builds the code under test, brings a lab up with it and registers its
// teardown. Options left empty get the lab's defaults; Name defaults to a
// name derived from the test, so that tests in parallel packages do not
// share a lab.
//
// The lab lives as long as the test: when the test ends, its nodes' logs
// are written to the test log if it failed, and the lab is torn down. The
// test's own deadline (see Context) does the same while the test still
// runs, so a hung test fails with the logs instead of being killed by go
// test's -timeout with its lab left up.
func Up(t testing.TB, opts lab.Options) *lab.Lab {
	t.Helper()
	RequireHost(t)
	ctx := Context(t)
	if opts.Binary == "" {
		opts.Binary, opts.AgentDir = Build(t)
	}
	if opts.Name == "" {
		opts.Name = nameFor(t)
	}
	if opts.Log == nil {
		opts.Log = t.Logf
	}
	// A lab left over by a crashed run of the same test goes first.
	if err := lab.Down(opts.Name, opts.StateRoot); err != nil {
		t.Fatalf("clean up an old lab %s: %v", opts.Name, err)
	}
	Track(t, opts)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	l, err := lab.Up(ctx, opts)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Logf("lab %s up in %s", l.Name(), time.Since(start).Round(10*time.Millisecond))
	return l
}

// Track makes test t own the lab opts names (by Name and StateRoot), one
// that Up did not bring up, such as a lab a test starts through the CLI:
// it is torn down when the test ends, with its nodes' logs if the test
// failed, or at once by the watchdog if the test's deadline passes (see
// Context).
func Track(t testing.TB, opts lab.Options) {
	t.Helper()
	e := &labEntry{opts: opts}
	stateOf(t).add(e)
	t.Cleanup(func() { e.teardown(t, t.Failed()) })
}

// nameFor makes a lab name (at most 12 characters) from a test's name.
func nameFor(t testing.TB) string {
	var b strings.Builder
	b.WriteString("t")
	for _, r := range strings.ToLower(t.Name()) {
		if b.Len() >= 12 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// KeepLogsEnv names a directory in which a failed test's labs leave
// their nodes' whole logs, <dir>/<lab>/<node>/, before they are removed:
// the test log holds only the last lines of each.
const KeepLogsEnv = "VNFHA_KEEP_LOGS"

// keepLogs copies each node's logs under dir, if dir is set.
func keepLogs(t testing.TB, opts lab.Options, dir string) {
	t.Helper()
	if dir == "" {
		return
	}
	l, err := lab.Open(opts.Name, opts.StateRoot)
	if err != nil {
		return
	}
	for _, n := range l.Nodes() {
		to := filepath.Join(dir, l.Name(), n)
		if err := os.MkdirAll(to, 0o755); err != nil {
			t.Logf("keep the logs: %v", err)
			return
		}
		for _, f := range []string{"init.log", "log-pacemaker", "log-corosync"} {
			if out, err := exec.Command("cp", "-a", filepath.Join(l.NodeDir(n), f), to).CombinedOutput(); err != nil {
				t.Logf("keep the logs: %v %s", err, out)
			}
		}
	}
	t.Logf("the nodes' whole logs are in %s", filepath.Join(dir, l.Name()))
}

// DumpLogs writes the tail of each node's logs to the test log, so that a
// failure in CI can be read without the machine.
func DumpLogs(t testing.TB, opts lab.Options) {
	t.Helper()
	l, err := lab.Open(opts.Name, opts.StateRoot)
	if err != nil {
		return
	}
	for _, n := range l.Nodes() {
		for _, f := range []string{"init.log", "log-pacemaker/pacemaker.log", "log-corosync/corosync.log"} {
			b, err := os.ReadFile(filepath.Join(l.NodeDir(n), f))
			if err != nil {
				continue
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			t.Logf("--- %s %s (last %d lines)\n%s", n, f, len(lines), strings.Join(lines, "\n"))
		}
	}
}

// fatal fails t with msg, and keeps msg to be repeated after the logs of
// t's labs when they are dumped.
func fatal(t testing.TB, msg string) {
	t.Helper()
	if st := lookup(t); st != nil {
		st.mu.Lock()
		st.failures = append(st.failures, msg)
		st.mu.Unlock()
	}
	t.Fatal(msg)
}

// Eventually polls cond every interval until it returns true, at most for
// timeout, and no longer than the test's own deadline (see Context). It
// fails the test with the last reason cond gave.
func Eventually(t testing.TB, timeout, interval time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var done <-chan struct{}
	if st := lookup(t); st != nil {
		done = st.ctx.Done()
	}
	deadline := time.Now().Add(timeout)
	var why string
	for {
		var ok bool
		if ok, why = cond(); ok {
			return
		}
		if time.Now().After(deadline) {
			fatal(t, fmt.Sprintf("%s: %s: not within %s: %s", t.Name(), what, timeout, why))
		}
		select {
		case <-done:
			fatal(t, fmt.Sprintf("%s: %s: %v: %s", t.Name(), what, cmdtree.ContextErr(lookup(t).ctx), why))
		case <-time.After(interval):
		}
	}
}

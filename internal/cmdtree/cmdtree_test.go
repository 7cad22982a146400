package cmdtree

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/cmdtree/cmdtreetest"
	"github.com/vnfha/vnfha/internal/testenv"
)

// returnBound is how long after its context ends a bound command may take
// to return: the kill is immediate, WaitDelay covers an escaped holder of
// the pipes, and the rest is slack for a loaded 2-core machine. Without
// Bind the hung cases never return; the bound only tells "returned" from
// "hung".
const returnBound = WaitDelay + 5*time.Second

// TestBindEndsHungCommands runs hung commands under a short context and
// checks that each returns within returnBound, with the context's error,
// and leaves no process behind: the forms a lab exec takes (a plain
// command, a shell whose background child holds stdout, a child that left
// the process group, a wrapper that forks into a new PID namespace as
// nsenter -a does).
func TestBindEndsHungCommands(t *testing.T) {
	for i, tc := range []struct {
		name   string
		root   bool // needs root (a new PID namespace)
		argv   func(marker string) []string
		output string // printed before the hang, must be returned
	}{
		{"plain command", false, func(m string) []string { return []string{"sleep", m} }, ""},
		{"background child holds stdout", false, func(m string) []string {
			return []string{"sh", "-c", "sleep " + m + " & echo started; wait"}
		}, "started"},
		{"child left the process group", false, func(m string) []string {
			return []string{"sh", "-c", "setsid sleep " + m + " & echo started; wait"}
		}, "started"},
		{"wrapper forks into a PID namespace (nsenter -a)", true, func(m string) []string {
			return []string{"unshare", "--pid", "--fork", "--", "sh", "-c", "sleep " + m + " & echo started; wait"}
		}, "started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				testenv.Root(t)
				testenv.Tool(t, "unshare")
			}
			marker := cmdtreetest.Marker(900 + i)
			cmdtreetest.Cleanup(t, marker)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			argv := tc.argv(marker)
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			Bind(cmd)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- cmd.Run() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(returnBound + 300*time.Millisecond):
				t.Fatalf("%v still runs %s after its context ended", argv, returnBound)
			}
			t.Logf("returned after %s: %v", time.Since(start).Round(time.Millisecond), err)
			if err == nil {
				t.Errorf("a killed command returned no error")
			}
			if ctx.Err() == nil {
				t.Errorf("returned before its context ended")
			}
			if !strings.Contains(out.String(), tc.output) {
				t.Errorf("output %q lacks %q", out.String(), tc.output)
			}
			if left := cmdtreetest.WaitGone(marker, 2*time.Second); len(left) > 0 {
				t.Errorf("processes left behind: %v", left)
			}
		})
	}
}

// TestBindLeavesFinishedCommandAlone: a command that ends by itself gives
// its own result, and a background child that does not hold its pipes
// survives it (a command may start a daemon on purpose).
func TestBindLeavesFinishedCommandAlone(t *testing.T) {
	marker := cmdtreetest.Marker(950)
	cmdtreetest.Cleanup(t, marker)
	cmd := exec.CommandContext(context.Background(), "sh", "-c", "sleep "+marker+" >/dev/null 2>&1 & echo ok; exit 3")
	Bind(cmd)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit: %v, want status 3", err)
	}
	if strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("output %q", out)
	}
	if len(cmdtreetest.Marked(marker)) != 1 {
		t.Errorf("the background child did not survive a command that ended by itself")
	}
}

func TestKillGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := Kill(cmd.Process.Pid); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Kill of a reaped process: %v, want os.ErrProcessDone", err)
	}
	if err := Kill(0); err == nil {
		t.Error("Kill(0) must refuse: it would signal our own group")
	}
}

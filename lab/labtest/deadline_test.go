package labtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/cmdtree"
	"github.com/vnfha/vnfha/internal/cmdtree/cmdtreetest"
)

// childEnv names the scenario a re-executed test binary plays; the parent
// test checks how that child failed.
const childEnv = "LABTEST_DEADLINE_CHILD"

// TestDeadline runs, in a child test process, tests that outlive their own
// deadline, and checks that each fails (exit 1, not go test's panic)
// within seconds, with the watchdog's message, its hung exec killed and
// its waits ended.
func TestDeadline(t *testing.T) {
	if scenario := os.Getenv(childEnv); scenario != "" {
		deadlineChild(t, scenario)
		return
	}
	for _, tc := range []struct {
		scenario string
		// go test's -timeout of the child: the test's own deadline must
		// fall Margin before it.
		timeout string
		want    []string
	}{
		{"own", "2m", []string{
			"the test's own deadline (1s",
			"exec ended: signal: killed; context: context deadline exceeded: the test ran past its own deadline (1s)",
			"never: context deadline exceeded: the test ran past its own deadline (1s): still waiting",
		}},
		{"go-test-timeout", (Margin + 2*time.Second).String(), []string{
			"the test's own deadline (" + DefaultTimeout.String(),
			"deadline within 3s of the start",
			"context ended: context deadline exceeded",
		}},
		{"subtest", "2m", []string{
			"the test's own deadline (1s",
			"subtest shares the clock",
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			marker := cmdtreetest.Marker(700)
			cmdtreetest.Cleanup(t, marker)
			cmd := exec.Command(os.Args[0], "-test.run=^TestDeadline$", "-test.v", "-test.timeout="+tc.timeout)
			cmd.Env = append(os.Environ(), childEnv+"="+tc.scenario, "LABTEST_MARKER="+marker)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("child exit %v, want status 1 (a failed test, not a panic):\n%s", err, out)
			}
			if strings.Contains(string(out), "panic:") {
				t.Errorf("the child panicked:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("child output lacks %q:\n%s", w, out)
				}
			}
			// The watchdog fires 1-3 s in; the rest is slack for a loaded
			// machine. Without it the child runs into its -timeout.
			if took > 20*time.Second {
				t.Errorf("the child took %s", took)
			}
			if left := cmdtreetest.WaitGone(marker, 2*time.Second); len(left) > 0 {
				t.Errorf("the hung exec survived the test's deadline: %v", left)
			}
		})
	}
}

// deadlineChild plays one scenario; each is meant to fail.
func deadlineChild(t *testing.T, scenario string) {
	marker := os.Getenv("LABTEST_MARKER")
	switch scenario {
	case "own":
		SetTimeout(t, time.Second)
		ctx := Context(t)
		cmd := exec.CommandContext(ctx, "sh", "-c", "sleep "+marker+" & wait")
		cmdtree.Bind(cmd)
		err := cmd.Run()
		t.Logf("exec ended: %v; context: %v", err, cmdtree.ContextErr(ctx))
		Eventually(t, time.Minute, 50*time.Millisecond, "never", func() (bool, string) { return false, "still waiting" })
		t.Log("not reached")
	case "go-test-timeout":
		ctx := Context(t)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 3*time.Second {
			t.Log("deadline within 3s of the start")
		}
		// A test stuck where only its context reaches: bounded, and far
		// beyond the child's -timeout.
		select {
		case <-ctx.Done():
			t.Logf("context ended: %v", cmdtree.ContextErr(ctx))
		case <-time.After(time.Minute):
		}
	case "subtest":
		SetTimeout(t, time.Second)
		parent := Context(t)
		t.Run("sub", func(t *testing.T) {
			if Context(t) == parent {
				t.Log("subtest shares the clock")
			}
			<-Context(t).Done()
		})
	}
}

func TestSetTimeoutTwice(t *testing.T) {
	if os.Getenv(childEnv) == "twice" {
		Context(t)
		SetTimeout(t, time.Second)
		t.Log("not reached")
		return
	}
	if os.Getenv(childEnv) != "" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSetTimeoutTwice$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=twice")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "after the test's clock started") || strings.Contains(string(out), "not reached") {
		t.Errorf("a second clock was accepted: %v\n%s", err, out)
	}
}

// TestContextEndsWithTest: a test that ends in time does not fail, and its
// context ends with it.
func TestContextEndsWithTest(t *testing.T) {
	var ctx context.Context
	t.Run("in time", func(t *testing.T) {
		SetTimeout(t, time.Minute)
		ctx = Context(t)
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
	})
	if ctx.Err() == nil {
		t.Error("the context outlived its test")
	}
	if errors.Is(context.Cause(ctx), ErrTestDeadline) {
		t.Errorf("cause %v: the test ended in time", context.Cause(ctx))
	}
}

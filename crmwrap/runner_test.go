package crmwrap

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/cmdtree"
	"github.com/vnfha/vnfha/internal/cmdtree/cmdtreetest"
	"github.com/vnfha/vnfha/internal/testenv"
)

// TestExecRunnerTimeout: a tool that hangs, and keeps its stdout open in a
// background child, is ended with everything it started when the context
// ends, directly and behind a prefix that forks it into a new PID
// namespace (as the lab's nsenter -a does); Run returns within a bounded
// delay with the context's error and what the tool printed.
func TestExecRunnerTimeout(t *testing.T) {
	for i, tc := range []struct {
		name   string
		root   bool
		prefix []string
	}{
		{"local", false, nil},
		{"behind a forking PID-namespace prefix", true, []string{"unshare", "--pid", "--fork", "--"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				testenv.Root(t)
				testenv.Tool(t, "unshare")
			}
			marker := cmdtreetest.Marker(800 + i)
			cmdtreetest.Cleanup(t, marker)
			r := ExecRunner{Prefix: tc.prefix, Paths: map[string]string{"cibadmin": "sh"}}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			type result struct {
				out []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := r.Run(ctx, "cibadmin", []string{"-c", "sleep " + marker + " & echo partial; wait"}, nil)
				done <- result{out, err}
			}()
			bound := cmdtree.WaitDelay + 5*time.Second
			var res result
			select {
			case res = <-done:
			case <-time.After(300*time.Millisecond + bound):
				t.Fatalf("Run still blocks %s after its context ended", bound)
			}
			if !errors.Is(res.err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", res.err)
			}
			var ee *ExitError
			if errors.As(res.err, &ee) {
				t.Errorf("a timeout reported as an exit of the tool: %v", res.err)
			}
			if strings.TrimSpace(string(res.out)) != "partial" {
				t.Errorf("output %q, want what the tool printed before the timeout", res.out)
			}
			if left := cmdtreetest.WaitGone(marker, 2*time.Second); len(left) > 0 {
				t.Errorf("processes left behind: %v", left)
			}
		})
	}
}

// TestExecRunnerExit: a tool that fails on its own is an *ExitError with
// its code, stdout and stderr, as before timeouts were handled.
func TestExecRunnerExit(t *testing.T) {
	r := ExecRunner{Paths: map[string]string{"crm_mon": "sh"}}
	out, err := r.Run(context.Background(), "crm_mon", []string{"-c", "echo xml; echo why >&2; exit 4"}, nil)
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v is not an *ExitError", err)
	}
	if ee.Code != 4 || string(ee.Stderr) != "why\n" || string(out) != "xml\n" || string(ee.Stdout) != "xml\n" {
		t.Errorf("got code %d stdout %q stderr %q out %q", ee.Code, ee.Stdout, ee.Stderr, out)
	}
	if out, err := r.Run(context.Background(), "crm_mon", []string{"-c", "cat"}, []byte("in")); err != nil || string(out) != "in" {
		t.Errorf("stdin: %q %v", out, err)
	}
}

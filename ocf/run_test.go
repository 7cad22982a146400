package ocf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	base := map[string]string{"OCF_RESOURCE_INSTANCE": "t1", "OCF_RESKEY_name": "n1", "OCF_RESKEY_CRM_meta_interval": "10000"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name       string
		reload     bool
		args       []string
		env        map[string]string
		result     string // TEST_RESULT for the handlers
		wantCode   Code
		wantReason string // "" means no ocf-exit-reason line
		wantStdout string // substring
	}{
		{name: "no action", args: nil, env: base, wantCode: ErrArgs, wantReason: "no action given"},
		{name: "unknown action", args: []string{"migrate_to"}, env: base, wantCode: ErrUnimplemented, wantReason: `testagent does not implement action "migrate_to"`},
		{name: "reload without handler", args: []string{"reload"}, env: base, wantCode: ErrUnimplemented, wantReason: `testagent does not implement action "reload"`},
		{name: "reload-agent without handler", args: []string{"reload-agent"}, env: base, wantCode: ErrUnimplemented, wantReason: `testagent does not implement action "reload-agent"`},
		{name: "meta-data needs no environment", args: []string{"meta-data"}, env: nil, wantCode: Success, wantStdout: `<resource-agent name="testagent"`},
		{name: "usage", args: []string{"usage"}, env: nil, wantCode: Success, wantStdout: "usage: testagent {start|stop|monitor|promote|demote|notify|validate-all|meta-data|usage}"},
		{name: "start", args: []string{"start"}, env: base, wantCode: Success},
		{name: "monitor not running", args: []string{"monitor"}, env: base, result: "not-running", wantCode: NotRunning},
		{name: "monitor promoted", args: []string{"monitor"}, env: base, result: "promoted", wantCode: RunningPromoted},
		{name: "probe flag on interval 0", args: []string{"monitor"}, env: with("OCF_RESKEY_CRM_meta_interval", "0"), result: "probe", wantCode: NotRunning},
		{name: "probe flag on absent interval", args: []string{"monitor"}, env: map[string]string{"OCF_RESKEY_name": "n"}, result: "probe", wantCode: NotRunning},
		{name: "recurring monitor is no probe", args: []string{"monitor"}, env: base, result: "probe", wantCode: Success},
		{name: "plain error", args: []string{"stop"}, env: base, result: "plain", wantCode: ErrGeneric, wantReason: "plain failure"},
		{name: "ocf error", args: []string{"start"}, env: base, result: "perm", wantCode: ErrPerm, wantReason: "cannot open /dev/x"},
		{name: "panic", args: []string{"promote"}, env: base, result: "panic", wantCode: ErrGeneric, wantReason: "testagent promote panicked: boom"},
		{name: "validate-all ok", args: []string{"validate-all"}, env: base, wantCode: Success},
		{name: "validate-all missing required", args: []string{"validate-all"}, env: map[string]string{}, wantCode: ErrNotConfigured, wantReason: "invalid parameters: required parameter name is not set"},
		{name: "validate-all bad type", args: []string{"validate-all"}, env: with("OCF_RESKEY_count", "x"), wantCode: ErrNotConfigured, wantReason: `invalid parameters: read OCF_RESKEY_count: invalid value for integer: "x"`},
		{name: "validate hook", args: []string{"validate-all"}, env: with("OCF_RESKEY_name", "invalid"), wantCode: ErrNotConfigured, wantReason: `name must not be "invalid"`},
		{name: "start runs the validate hook", args: []string{"start"}, env: with("OCF_RESKEY_name", "invalid"), wantCode: ErrNotConfigured, wantReason: `name must not be "invalid"`},
		{name: "stop ignores bad parameters", args: []string{"stop"}, env: map[string]string{}, wantCode: Success},
		{name: "monitor refuses bad parameters", args: []string{"monitor"}, env: with("OCF_RESKEY_count", "x"), result: "not-running", wantCode: ErrNotConfigured, wantReason: `invalid parameters: read OCF_RESKEY_count: invalid value for integer: "x"`},
		{name: "bad meta interval does not fail stop", args: []string{"stop"}, env: with("OCF_RESKEY_CRM_meta_interval", "soon"), wantCode: Success},
		{name: "long unknown action is quoted short", args: []string{strings.Repeat("x", 500)}, env: base, wantCode: ErrUnimplemented, wantReason: `testagent does not implement action "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"... (500 bytes)`},
		{name: "bad meta interval", args: []string{"monitor"}, env: with("OCF_RESKEY_CRM_meta_interval", "soon"), wantCode: ErrArgs, wantReason: "read Pacemaker environment"},
		{name: "notify without environment", args: []string{"notify"}, env: base, wantCode: Success},
		{name: "legacy reload reaches reload-agent", reload: true, args: []string{"reload"}, env: base, result: "perm", wantCode: ErrPerm, wantReason: "cannot open /dev/x"},
		{name: "reload-agent", reload: true, args: []string{"reload-agent"}, env: base, wantCode: Success},
		{name: "reload-agent validates", reload: true, args: []string{"reload-agent"}, env: map[string]string{}, wantCode: ErrNotConfigured, wantReason: "invalid parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TEST_RESULT", tt.result)
			a := mustAgent(t, tt.reload)
			var stdout, stderr bytes.Buffer
			code := a.Run(context.Background(), tt.args, MapLookup(tt.env), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("code = %d (%s), want %d (%s); stderr:\n%s", code, code, tt.wantCode, tt.wantCode, &stderr)
			}
			reason := exitReason(stderr.String())
			if tt.wantReason == "" && reason != "" {
				t.Errorf("unexpected exit reason %q", reason)
			}
			if tt.wantReason != "" && !strings.HasPrefix(reason, tt.wantReason) {
				t.Errorf("exit reason = %q, want prefix %q", reason, tt.wantReason)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", &stdout, tt.wantStdout)
			}
		})
	}
}

// exitReason returns the text of the last ocf-exit-reason line, which is the
// one Pacemaker keeps.
func exitReason(stderr string) string {
	reason := ""
	for _, line := range strings.Split(stderr, "\n") {
		if r, ok := strings.CutPrefix(line, "ocf-exit-reason:"); ok {
			reason = r
		}
	}
	return reason
}

// TestRunContextMargin checks principle 3's timing: the handler's context
// ends Margin before the operation's timeout, and the cleanup context it
// gets once that has happened still has time, and ends before the timeout.
// Before the margin existed the handler's deadline was the timeout itself.
func TestRunContextMargin(t *testing.T) {
	tests := []struct {
		timeout     time.Duration
		wantMargin  time.Duration
		wantCleanup time.Duration // how long before the timeout cleanup ends
	}{
		{200 * time.Millisecond, 100 * time.Millisecond, 20 * time.Millisecond},
		{time.Second, 500 * time.Millisecond, 100 * time.Millisecond},
		{5 * time.Second, time.Second, 200 * time.Millisecond},
		{20 * time.Second, 2 * time.Second, 400 * time.Millisecond},
		{600 * time.Second, 5 * time.Second, time.Second},
		{3 * time.Hour, 5 * time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.timeout.String(), func(t *testing.T) {
			if got := Margin(tt.timeout); got != tt.wantMargin {
				t.Errorf("Margin(%v) = %v, want %v", tt.timeout, got, tt.wantMargin)
			}
			decl := testAgentDecl(false)
			var handlerDL, cleanupDL time.Time
			var hasDL bool
			decl.Actions[0].Handler = func(ctx context.Context, _ *Request) error {
				handlerDL, hasDL = ctx.Deadline()
				// Read the cleanup context without waiting for ctx to end: its
				// deadline does not depend on when it is taken.
				cctx, cancel := CleanupContext(ctx)
				defer cancel()
				cleanupDL, _ = cctx.Deadline()
				return nil
			}
			a := MustNew(decl)
			var out bytes.Buffer
			before := time.Now()
			code := a.Run(context.Background(), []string{"start"}, MapLookup(map[string]string{"OCF_RESKEY_name": "n",
				"OCF_RESKEY_CRM_meta_timeout": strconv.FormatInt(tt.timeout.Milliseconds(), 10)}), &out, &out)
			after := time.Now()
			if code != Success {
				t.Fatalf("start = %d, want 0:\n%s", code, &out)
			}
			if !hasDL {
				t.Fatal("handler context has no deadline")
			}
			// Run took the time of its own start, between before and after.
			within := func(what string, got time.Time, beforeTimeout time.Duration) {
				t.Helper()
				lo, hi := before.Add(tt.timeout-beforeTimeout), after.Add(tt.timeout-beforeTimeout)
				if got.Before(lo) || got.After(hi) {
					t.Errorf("%s deadline = start + %v, want start + %v (timeout %v - %v)", what, got.Sub(before), tt.timeout-beforeTimeout, tt.timeout, beforeTimeout)
				}
			}
			within("handler", handlerDL, tt.wantMargin)
			within("cleanup", cleanupDL, tt.wantCleanup)
			if !cleanupDL.After(handlerDL) {
				t.Errorf("cleanup deadline %v is not after the handler's %v", cleanupDL, handlerDL)
			}
		})
	}
}

// TestCleanupContextAfterTimeout runs a start that outlives its context,
// as a slow start does, and cleans up with CleanupContext: the cleanup
// context is live when the handler's has ended, and the failure is
// reported by the handler, not by a kill.
func TestCleanupContextAfterTimeout(t *testing.T) {
	decl := testAgentDecl(false)
	var cleanupErr error
	var cleanupLeft time.Duration
	decl.Actions[0].Handler = func(ctx context.Context, _ *Request) error {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			return errors.New("the handler's context did not end")
		}
		cctx, cancel := CleanupContext(ctx)
		defer cancel()
		cleanupErr = cctx.Err()
		dl, _ := cctx.Deadline()
		cleanupLeft = time.Until(dl)
		return Generic("not healthy within the start timeout; stopped what was started")
	}
	a := MustNew(decl)
	var stderr bytes.Buffer
	code := a.Run(context.Background(), []string{"start"}, MapLookup(map[string]string{"OCF_RESKEY_name": "n", "OCF_RESKEY_CRM_meta_timeout": "1000"}), &bytes.Buffer{}, &stderr)
	if code != ErrGeneric || exitReason(stderr.String()) != "not healthy within the start timeout; stopped what was started" {
		t.Errorf("start = %d, reason %q; want the handler's own failure", code, exitReason(stderr.String()))
	}
	if cleanupErr != nil {
		t.Errorf("cleanup context already ended: %v", cleanupErr)
	}
	// 1s timeout: the handler's ctx ends at 0.5s, cleanup at 0.9s.
	if cleanupLeft <= 0 || cleanupLeft > 400*time.Millisecond {
		t.Errorf("cleanup context has %v left, want (0, 400ms]", cleanupLeft)
	}
}

// TestCleanupContextOutsideRun: without an operation timeout the cleanup
// context is still bounded, and it survives the cancellation of its parent.
func TestCleanupContextOutsideRun(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), cleanupKey{}, "not a time"))
	cancelParent()
	cctx, cancel := CleanupContext(parent)
	defer cancel()
	if cctx.Err() != nil {
		t.Fatalf("cleanup context ended with its parent: %v", cctx.Err())
	}
	dl, ok := cctx.Deadline()
	if !ok || time.Until(dl) > DefaultCleanupTimeout || time.Until(dl) < DefaultCleanupTimeout-time.Second {
		t.Errorf("deadline in %v (set %v), want about %v", time.Until(dl), ok, DefaultCleanupTimeout)
	}
	if cctx.Value(cleanupKey{}) != "not a time" {
		t.Error("values of the parent were lost")
	}
}

// TestRunWatchdog: a handler that ignores its context and the cleanup time
// still gets a reason reported before the operation's timeout, instead of
// being killed by the executor without one.
func TestRunWatchdog(t *testing.T) {
	decl := testAgentDecl(false)
	release, finished := make(chan struct{}), make(chan struct{})
	decl.Actions[0].Handler = func(_ context.Context, req *Request) error {
		defer close(finished)
		// Logs on while Run reports: run with -race, this checks that the
		// two do not write stderr at once.
		for i := 0; i < 1000; i++ {
			req.Log.Warn("still busy")
			select {
			case <-release:
				return nil
			case <-time.After(10 * time.Millisecond):
			}
		}
		return nil
	}
	a := MustNew(decl)
	var stderr bytes.Buffer
	done := make(chan Code, 1)
	go func() {
		done <- a.Run(context.Background(), []string{"start"}, MapLookup(map[string]string{"OCF_RESKEY_name": "n", "OCF_RESKEY_CRM_meta_timeout": "1000"}), &bytes.Buffer{}, &stderr)
	}()
	var code Code
	select {
	case code = <-done:
	case <-time.After(8 * time.Second):
		t.Fatal("Run waited for a handler that ignores its context")
	}
	close(release)
	<-finished
	if code != ErrGeneric {
		t.Errorf("start = %d, want 1", code)
	}
	if got, want := exitReason(stderr.String()), "start did not finish within its 1s timeout"; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
}

// TestInvalidParameterRule is principle 4 with the agreed rule: a value
// that does not parse, a missing required one and one out of range (Check)
// each give ERR_CONFIGURED with one reason from validate-all, start,
// promote and monitor, probe included; stop, demote and notify run, and
// only warn. A node-local failure (Validate) is not checked by monitor.
// Before the rule, a monitor warned and used defaults (7 in a probe).
func TestInvalidParameterRule(t *testing.T) {
	base := map[string]string{"OCF_RESOURCE_INSTANCE": "t1", "OCF_RESKEY_name": "n1"}
	configs := []struct {
		name       string
		env        map[string]string
		wantReason string
	}{
		{"unparsable", map[string]string{"OCF_RESKEY_count": "seven"}, `invalid parameters: read OCF_RESKEY_count: invalid value for integer: "seven"`},
		{"missing required", map[string]string{"OCF_RESKEY_name": ""}, "invalid parameters: required parameter name is not set"},
		{"out of range", map[string]string{"OCF_RESKEY_count": "1000"}, "count 1000 is out of range 0-100"},
		{"unparsable and long", map[string]string{"OCF_RESKEY_delay": strings.Repeat("9", 4000) + "s"},
			`invalid parameters: read OCF_RESKEY_delay: invalid value for time: "999999999999999999999999999999"... (4001 bytes)`},
	}
	actions := []struct {
		name     string
		args     []string
		env      map[string]string
		tolerant bool
	}{
		{"validate-all", []string{"validate-all"}, nil, false},
		{"start", []string{"start"}, nil, false},
		{"promote", []string{"promote"}, nil, false},
		{"probe", []string{"monitor"}, map[string]string{"OCF_RESKEY_CRM_meta_interval": "0"}, false},
		{"monitor", []string{"monitor"}, map[string]string{"OCF_RESKEY_CRM_meta_interval": "10000"}, false},
		{"stop", []string{"stop"}, nil, true},
		{"demote", []string{"demote"}, nil, true},
		{"notify", []string{"notify"}, nil, true},
	}
	a := mustAgent(t, false)
	for _, c := range configs {
		for _, act := range actions {
			t.Run(c.name+"/"+act.name, func(t *testing.T) {
				t.Setenv("TEST_RESULT", "probe")
				env := map[string]string{}
				for _, m := range []map[string]string{base, act.env, c.env} {
					for k, v := range m {
						env[k] = v
					}
				}
				var stderr bytes.Buffer
				code := a.Run(context.Background(), act.args, MapLookup(env), &bytes.Buffer{}, &stderr)
				reason := exitReason(stderr.String())
				if act.tolerant {
					if code.IsFailure() || reason != "" {
						t.Errorf("%s = %d %q, want it to run", act.name, code, reason)
					}
					if !strings.Contains(stderr.String(), "level=warning") {
						t.Errorf("no warning on stderr:\n%s", &stderr)
					}
					return
				}
				if code != ErrNotConfigured || reason != c.wantReason {
					t.Errorf("%s = %d %q, want 6 %q", act.name, code, reason, c.wantReason)
				}
			})
		}
	}
	t.Run("node-local failure is not a monitor's business", func(t *testing.T) {
		t.Setenv("TEST_RESULT", "probe")
		for _, tt := range []struct {
			args []string
			env  map[string]string
			want Code
		}{
			{[]string{"validate-all"}, nil, ErrArgs},
			{[]string{"start"}, nil, ErrArgs},
			{[]string{"monitor"}, map[string]string{"OCF_RESKEY_CRM_meta_interval": "0"}, NotRunning},
			{[]string{"monitor"}, map[string]string{"OCF_RESKEY_CRM_meta_interval": "10000"}, Success},
			{[]string{"stop"}, nil, Success},
		} {
			env := map[string]string{"OCF_RESOURCE_INSTANCE": "t1", "OCF_RESKEY_name": "elsewhere"}
			for k, v := range tt.env {
				env[k] = v
			}
			var stderr bytes.Buffer
			if code := a.Run(context.Background(), tt.args, MapLookup(env), &bytes.Buffer{}, &stderr); code != tt.want {
				t.Errorf("%s = %d, want %d:\n%s", tt.args[0], code, tt.want, &stderr)
			}
		}
	})
}

// TestInstanceNameRule is principle 6 in the framework: an instance name
// that would leave HA_RSCTMP when joined onto it is refused by every action
// that could create something, and stop, demote and notify succeed without
// reaching the handler (which would join it onto a directory). Before, the
// handler got any name.
func TestInstanceNameRule(t *testing.T) {
	a := mustAgent(t, false)
	for _, inst := range []string{"../../victim", "a/b", "..", strings.Repeat("n", 300), "a\nb"} {
		for _, act := range []struct {
			action string
			want   Code
		}{
			{"validate-all", ErrNotConfigured}, {"start", ErrNotConfigured}, {"monitor", ErrNotConfigured},
			{"promote", ErrNotConfigured}, {"stop", Success}, {"demote", Success}, {"notify", Success},
		} {
			// "plain" makes the handler fail: reaching it shows.
			t.Setenv("TEST_RESULT", "plain")
			var stderr bytes.Buffer
			env := MapLookup(map[string]string{"OCF_RESOURCE_INSTANCE": inst, "OCF_RESKEY_name": "n"})
			code := a.Run(context.Background(), []string{act.action}, env, &bytes.Buffer{}, &stderr)
			reason := exitReason(stderr.String())
			if code != act.want {
				t.Errorf("%s with instance %.20q = %d %q, want %d", act.action, inst, code, reason, act.want)
			}
			if act.want == ErrNotConfigured && (!strings.HasPrefix(reason, "OCF_RESOURCE_INSTANCE \"") || len(reason) > MaxReasonLen) {
				t.Errorf("%s with instance %.20q: reason %q", act.action, inst, reason)
			}
		}
	}
	// Clone instances and odd but harmless names still work.
	for _, inst := range []string{"vnfc:1", "a..b", "web-1_x.y"} {
		t.Setenv("TEST_RESULT", "")
		var stderr bytes.Buffer
		if code := a.Run(context.Background(), []string{"start"}, MapLookup(map[string]string{"OCF_RESOURCE_INSTANCE": inst, "OCF_RESKEY_name": "n"}), &bytes.Buffer{}, &stderr); code != Success {
			t.Errorf("start with instance %q = %d:\n%s", inst, code, &stderr)
		}
	}
}

// TestCheckIsAlwaysNotConfigured: whatever code a Check returns, and even
// if it panics, the result is ERR_CONFIGURED, and a stop still runs.
func TestCheckIsAlwaysNotConfigured(t *testing.T) {
	tests := []struct {
		name       string
		check      func(*Request) error
		wantReason string
	}{
		{"ocf error with another code", func(*Request) error { return Errorf(ErrArgs, "mode %q unknown", "x") }, `mode "x" unknown`},
		{"bare code", func(*Request) error { return ErrGeneric }, "generic error"},
		{"panic", func(*Request) error { panic("bad") }, "checking the parameters panicked: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decl := testAgentDecl(false)
			decl.Check = tt.check
			a := MustNew(decl)
			env := MapLookup(map[string]string{"OCF_RESKEY_name": "n"})
			var stderr bytes.Buffer
			if code := a.Run(context.Background(), []string{"monitor"}, env, &bytes.Buffer{}, &stderr); code != ErrNotConfigured || exitReason(stderr.String()) != tt.wantReason {
				t.Errorf("monitor = %d %q, want 6 %q", code, exitReason(stderr.String()), tt.wantReason)
			}
			stderr.Reset()
			if code := a.Run(context.Background(), []string{"stop"}, env, &bytes.Buffer{}, &stderr); code != Success {
				t.Errorf("stop = %d, want 0:\n%s", code, &stderr)
			}
		})
	}
}

// TestRunLogsLongReason: a reason cut for the CIB is logged whole, as an
// error line on stderr for a failure.
func TestRunLogsLongReason(t *testing.T) {
	decl := testAgentDecl(false)
	long := strings.Repeat("very long context ", 10)
	decl.Actions[0].Handler = func(context.Context, *Request) error {
		return fmt.Errorf("%s: %w", long, Generic("the cause"))
	}
	a := MustNew(decl)
	var stderr bytes.Buffer
	a.Run(context.Background(), []string{"start"}, MapLookup(map[string]string{"OCF_RESKEY_name": "n"}), &bytes.Buffer{}, &stderr)
	want := "level=error msg=\"" + long + ": the cause (exit 1, generic error)\" action=start"
	if !strings.Contains(stderr.String(), want) || !strings.HasPrefix(exitReason(stderr.String()), "the cause (very long context") {
		t.Errorf("stderr lacks the full reason %q or the cause-first exit reason:\n%s", want, &stderr)
	}
}

func TestRunLogs(t *testing.T) {
	a := mustAgent(t, false)
	tests := []struct {
		name, debug string
		wantBegin   bool
	}{
		{"debug on", "1", true},
		{"debug yes", "yes", true},
		{"debug off", "0", false},
		{"debug unset", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TEST_RESULT", "plain")
			env := map[string]string{"OCF_RESOURCE_INSTANCE": "rsc7", "OCF_RESKEY_name": "n"}
			if tt.debug != "" {
				env["HA_debug"] = tt.debug
			}
			var stderr bytes.Buffer
			a.Run(context.Background(), []string{"stop"}, MapLookup(env), &bytes.Buffer{}, &stderr)
			out := stderr.String()
			if got := strings.Contains(out, "msg=begin"); got != tt.wantBegin {
				t.Errorf("debug line present = %v, want %v:\n%s", got, tt.wantBegin, out)
			}
			if got := strings.Contains(out, "level=debug msg=\"end: 1 (generic error)\" action=stop rsc=rsc7"); got != tt.wantBegin {
				t.Errorf("debug end line present = %v, want %v:\n%s", got, tt.wantBegin, out)
			}
			// Pacemaker logs the result and the reason line: no error line
			// of ours repeats them.
			if strings.Contains(out, "level=error") || exitReason(out) != "plain failure" {
				t.Errorf("stderr has an error line or lacks the reason:\n%s", out)
			}
		})
	}
}

// TestSubprocessExitCode runs the test binary as a real agent process (see
// TestMain), to check the process exit status and the stderr line that
// Pacemaker reads, not just Run's return value.
func TestSubprocessExitCode(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		action, result string
		env            []string
		wantCode       int
		wantReason     string
	}{
		{"start", "", nil, 0, ""},
		{"monitor", "not-running", nil, 7, ""},
		{"monitor", "promoted", nil, 8, ""},
		{"stop", "plain", nil, 1, "plain failure"},
		{"start", "perm", nil, 4, "cannot open /dev/x"},
		{"promote", "panic", nil, 1, "testagent promote panicked: boom"},
		{"bogus", "", nil, 3, `testagent does not implement action "bogus"`},
		{"validate-all", "", []string{"OCF_RESKEY_name="}, 6, "invalid parameters: required parameter name is not set"},
		{"reload", "", nil, 0, ""},
		// The process itself ends, with a reason, before the 1s timeout.
		{"start", "hang", []string{"OCF_RESKEY_CRM_meta_timeout=1000"}, 1, "start did not finish within its 1s timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.action+"/"+tt.result, func(t *testing.T) {
			cmd := exec.Command(self, tt.action)
			cmd.Env = append(os.Environ(), "OCF_TEST_AGENT_PROCESS=1", "TEST_RESULT="+tt.result,
				"OCF_RESOURCE_INSTANCE=t1", "OCF_RESKEY_name=n1", "OCF_RESKEY_CRM_meta_interval=10000")
			cmd.Env = append(cmd.Env, tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d; stderr:\n%s", code, tt.wantCode, &stderr)
			}
			if got := exitReason(stderr.String()); got != tt.wantReason {
				t.Errorf("exit reason = %q, want %q", got, tt.wantReason)
			}
		})
	}
}

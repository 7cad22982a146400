package ocf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
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
		{name: "monitor ignores bad parameters", args: []string{"monitor"}, env: with("OCF_RESKEY_count", "x"), result: "not-running", wantCode: NotRunning},
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

func TestRunContextHasTimeout(t *testing.T) {
	decl := testAgentDecl(false)
	var deadline time.Time
	var hasDeadline bool
	decl.Actions[0].Handler = func(ctx context.Context, _ *Request) error {
		deadline, hasDeadline = ctx.Deadline()
		return nil
	}
	a := MustNew(decl)
	var out bytes.Buffer
	a.Run(context.Background(), []string{"start"}, MapLookup(map[string]string{"OCF_RESKEY_name": "n", "OCF_RESKEY_CRM_meta_timeout": "20000"}), &out, &out)
	if !hasDeadline || time.Until(deadline) > 20*time.Second || time.Until(deadline) < 19*time.Second {
		t.Errorf("deadline = %v (set %v), want about 20s from now", deadline, hasDeadline)
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
			if !strings.Contains(out, "level=error") || !strings.Contains(out, "rsc=rsc7") || !strings.Contains(out, "action=stop") {
				t.Errorf("failure not logged with rsc and action fields:\n%s", out)
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

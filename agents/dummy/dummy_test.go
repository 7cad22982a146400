package dummy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/ocf"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// TestLifecycle walks the dummy through what Pacemaker does to a promotable
// clone instance, checking every exit code, idempotence included.
func TestLifecycle(t *testing.T) {
	tmp := t.TempDir()
	env := map[string]string{
		"OCF_RESOURCE_INSTANCE":        "d:0",
		"HA_RSCTMP":                    tmp,
		"OCF_RESKEY_CRM_meta_interval": "10000",
		"OCF_RESKEY_fake":              "one",
	}
	statePath := filepath.Join(tmp, "vnfha-dummy-d:0.state")
	steps := []struct {
		action string
		env    map[string]string // added for this step only
		want   ocf.Code
	}{
		{"validate-all", nil, ocf.Success},
		{"monitor", map[string]string{"OCF_RESKEY_CRM_meta_interval": "0"}, ocf.NotRunning},
		{"monitor", nil, ocf.NotRunning},
		{"stop", nil, ocf.Success},
		{"demote", nil, ocf.NotRunning},
		{"promote", nil, ocf.ErrGeneric},
		{"start", nil, ocf.Success},
		{"start", nil, ocf.Success},
		{"monitor", nil, ocf.Success},
		{"notify", map[string]string{"OCF_RESKEY_CRM_meta_notify_type": "pre", "OCF_RESKEY_CRM_meta_notify_operation": "promote"}, ocf.Success},
		{"promote", nil, ocf.Success},
		{"promote", nil, ocf.Success},
		{"monitor", nil, ocf.RunningPromoted},
		{"monitor", map[string]string{"OCF_RESKEY_CRM_meta_interval": "0"}, ocf.RunningPromoted},
		{"reload", map[string]string{"OCF_RESKEY_fake": "two"}, ocf.Success},
		{"demote", nil, ocf.Success},
		{"demote", nil, ocf.Success},
		{"monitor", nil, ocf.Success},
		{"stop", nil, ocf.Success},
		{"stop", nil, ocf.Success},
		{"monitor", nil, ocf.NotRunning},
		{"migrate_to", nil, ocf.ErrUnimplemented},
	}
	for i, s := range steps {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range s.env {
			e[k] = v
		}
		var out bytes.Buffer
		if got := Agent.Run(context.Background(), []string{s.action}, ocf.MapLookup(e), &out, &out); got != s.want {
			t.Fatalf("step %d %s = %d (%s), want %d (%s)\n%s", i, s.action, got, got, s.want, s.want, &out)
		}
		if s.action == "reload" {
			b, err := os.ReadFile(statePath)
			if err != nil {
				t.Fatal(err)
			}
			var st state
			if err := json.Unmarshal(b, &st); err != nil || st.Fake != "two" || st.Role != ocf.RolePromoted {
				t.Fatalf("after reload, state = %s (%v)", b, err)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want ocf.Code
	}{
		{"instance only", map[string]string{"OCF_RESOURCE_INSTANCE": "d"}, ocf.Success},
		{"explicit state", map[string]string{"OCF_RESKEY_state": "/run/x.state"}, ocf.Success},
		{"relative state", map[string]string{"OCF_RESOURCE_INSTANCE": "d", "OCF_RESKEY_state": "x.state"}, ocf.ErrNotConfigured},
		{"nothing", map[string]string{}, ocf.ErrNotConfigured},
		{"bad op_sleep", map[string]string{"OCF_RESOURCE_INSTANCE": "d", "OCF_RESKEY_op_sleep": "soon"}, ocf.ErrNotConfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := Agent.Run(context.Background(), []string{"validate-all"}, ocf.MapLookup(tt.env), &out, &out); got != tt.want {
				t.Errorf("validate-all = %d, want %d\n%s", got, tt.want, &out)
			}
		})
	}
}

func TestOpSleepRespectsTimeout(t *testing.T) {
	env := map[string]string{
		"OCF_RESOURCE_INSTANCE": "d", "HA_RSCTMP": t.TempDir(),
		"OCF_RESKEY_op_sleep": "10s", "OCF_RESKEY_CRM_meta_timeout": "50",
	}
	var out bytes.Buffer
	if got := Agent.Run(context.Background(), []string{"start"}, ocf.MapLookup(env), &out, &out); got != ocf.ErrGeneric {
		t.Fatalf("start = %d, want %d", got, ocf.ErrGeneric)
	}
	if !strings.Contains(out.String(), "ocf-exit-reason:op_sleep 10s outlasted the timeout") {
		t.Errorf("no exit reason in:\n%s", &out)
	}
}

// TestOCFTester runs resource-agents' ocf-tester against the built binary,
// as the acceptance check of the framework and of the dummy agent.
func TestOCFTester(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary; skipped in -short mode")
	}
	tester := ocftest.RequireTool(t, "ocf-tester")
	ocftest.RequireTool(t, "xmllint")
	agent := ocftest.BuildAgent(t, Agent.Name)
	cmd := exec.Command(tester, "-v", "-n", "t1", agent)
	cmd.Env = append(os.Environ(), "OCF_ROOT=/usr/lib/ocf", "HA_RSCTMP="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "passed all tests") {
		t.Fatalf("ocf-tester: %v\n%s", err, out)
	}
}

// TestHostileState feeds state values that name no file the dummy writes
// to every action: one code and one bounded reason for the misconfigured
// ones, stop always 0, and no file that is not a dummy state ever removed
// or read whole (docs/agents/README.md, principles 1, 4, 5 and 6).
func TestHostileState(t *testing.T) {
	tmp := t.TempDir()
	foreign := filepath.Join(tmp, "passwd")
	secret := "root:x:0:0:root:/root:/bin/bash\n" + strings.Repeat("secret", 100)
	if err := os.WriteFile(foreign, []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(tmp, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const probe, recurring = "0", "10000"
	type want struct{ validate, start, probe, monitor ocf.Code }
	misconfigured := want{ocf.ErrNotConfigured, ocf.ErrNotConfigured, ocf.ErrNotConfigured, ocf.ErrNotConfigured}
	for _, tt := range []struct {
		name, state string
		want        want
		reason      string // in every failing action's reason
	}{
		{"relative", "tmp/x.state", misconfigured, `state must be an absolute path, not "tmp/x.state"`},
		{"dot-dot", tmp + "/../x.state", misconfigured, `holds ".."`},
		{"too long", "/" + strings.Repeat("a", 5000), misconfigured, "longer than a path can be"},
		{"a file not ours", foreign, want{ocf.Success, ocf.ErrGeneric, ocf.NotRunning, ocf.ErrGeneric}, "holds no dummy state"},
		{"a fifo", fifo, want{ocf.Success, ocf.ErrGeneric, ocf.NotRunning, ocf.ErrGeneric}, "is not a regular file"},
		{"a directory", dir, want{ocf.Success, ocf.ErrGeneric, ocf.NotRunning, ocf.ErrGeneric}, "is not a regular file"},
		{"a device", "/dev/zero", want{ocf.Success, ocf.ErrGeneric, ocf.NotRunning, ocf.ErrGeneric}, "is not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			run := func(action, interval string) (ocf.Code, string) {
				t.Helper()
				env := map[string]string{
					"OCF_RESOURCE_INSTANCE":        "d",
					"HA_RSCTMP":                    tmp,
					"OCF_RESKEY_state":             tt.state,
					"OCF_RESKEY_CRM_meta_interval": interval,
					"OCF_RESKEY_CRM_meta_timeout":  "5000",
				}
				var stdout, stderr bytes.Buffer
				done := make(chan ocf.Code, 1)
				go func() {
					done <- Agent.Run(context.Background(), []string{action}, ocf.MapLookup(env), &stdout, &stderr)
				}()
				select {
				case code := <-done:
					return code, stderr.String()
				case <-time.After(10 * time.Second):
					t.Fatalf("%s hung", action)
					return 0, ""
				}
			}
			for _, c := range []struct {
				action, interval string
				want             ocf.Code
			}{
				{"validate-all", recurring, tt.want.validate},
				{"start", recurring, tt.want.start},
				{"monitor", probe, tt.want.probe},
				{"monitor", recurring, tt.want.monitor},
				{"stop", recurring, ocf.Success},
				{"demote", recurring, ocf.Success},
			} {
				if tt.want.validate == ocf.Success && c.action == "demote" {
					continue // a real state path: demote of a stopped instance is 7
				}
				code, stderr := run(c.action, c.interval)
				if code != c.want {
					t.Errorf("%s (interval %s) = %d, want %d; stderr %q", c.action, c.interval, code, c.want, stderr)
				}
				reason := ""
				for _, l := range strings.Split(stderr, "\n") {
					if r, ok := strings.CutPrefix(l, "ocf-exit-reason:"); ok {
						reason = r
					}
				}
				if c.want.IsFailure() && !strings.Contains(reason, tt.reason) {
					t.Errorf("%s reason %q lacks %q", c.action, reason, tt.reason)
				}
				if len(reason) > ocf.MaxReasonLen || strings.Contains(stderr, "secret") {
					t.Errorf("%s: reason %d bytes, or a file's contents quoted: %q", c.action, len(reason), stderr)
				}
			}
			if b, err := os.ReadFile(foreign); err != nil || string(b) != secret {
				t.Errorf("a file that is no dummy state was changed or removed: %v", err)
			}
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				t.Errorf("the directory given as state was removed: %v", err)
			}
		})
	}
}

package dummy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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

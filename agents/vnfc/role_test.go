package vnfc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/ocf"
)

// promotableRsc is a resource in a promotable clone whose crm_attribute
// is crm (a path; "" for the recording stand-in of newRsc).
func promotableRsc(t *testing.T, params map[string]string, crm string) *rsc {
	t.Helper()
	r := newRsc(t, params)
	for k, v := range map[string]string{"clone_max": "2", "clone": "0", "promotable": "true", "promoted_max": "1"} {
		r.meta[k] = v
	}
	if crm != "" {
		old := crmAttributeBin
		crmAttributeBin = crm
		t.Cleanup(func() { crmAttributeBin = old })
	}
	return r
}

// failingTool writes a stand-in that fails as crm_attribute does without
// a CIB to talk to.
func failingTool(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "crm_attribute")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho 'Could not connect to the CIB: Transport endpoint is not connected' >&2\nexit 102\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStopWhenScoreFails (review 2, item 2): stop of a promotable
// instance succeeds when crm_attribute fails or is missing: the score is
// transient, and nothing runs.
func TestStopWhenScoreFails(t *testing.T) {
	tests := []struct {
		name    string
		crm     func(t *testing.T) string
		started bool
	}{
		{"CIB unreachable, never started", failingTool, false},
		{"crm_attribute missing, never started", func(t *testing.T) string { return "/nonexistent/crm_attribute" }, false},
		{"CIB unreachable, running", failingTool, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := promotableRsc(t, map[string]string{"command": "/bin/sleep 1000"}, "")
			if tt.started {
				r.must("start", ocf.Success)
			}
			crmAttributeBin = tt.crm(t)
			r.must("stop", ocf.Success)
			if exists(r.dir()) {
				t.Errorf("state directory left")
			}
		})
	}
}

// TestDemoteNeverConfiguration (review 2, item 4): demote of a running
// promoted instance never gives 2, 5 or 6: with parameters that are
// invalid or name what this node lacks, the hook is skipped and the
// promoted marker goes; a failing crm_attribute gives 1 at most.
func TestDemoteNeverConfiguration(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string // set after promote
		crm    func(t *testing.T) string
		want   ocf.Code
	}{
		{"stop_timeout=0", map[string]string{"stop_timeout": "0"}, nil, ocf.Success},
		{"unknown user", map[string]string{"user": "nosuchuser"}, nil, ocf.Success},
		{"hook program missing", map[string]string{"demote_command": "/nonexistent/hook"}, nil, ocf.Success},
		{"crm_attribute missing", nil, func(t *testing.T) string { return "/nonexistent/crm_attribute" }, ocf.ErrGeneric},
		{"CIB unreachable", nil, failingTool, ocf.ErrGeneric},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := promotableRsc(t, map[string]string{"command": "/bin/sleep 1000"}, "")
			r.must("start", ocf.Success)
			r.must("promote", ocf.Success)
			for k, v := range tt.params {
				r.params[k] = v
			}
			if tt.crm != nil {
				crmAttributeBin = tt.crm(t)
			}
			got, stderr := r.run("demote")
			if got != tt.want {
				t.Errorf("demote = %d (%s), want %d\n%s", got, got, tt.want, stderr)
			}
			if exists(filepath.Join(r.dir(), promotedFile)) {
				t.Errorf("the promoted marker stays after demote")
			}
			if tt.want == ocf.Success && tt.params != nil && !strings.Contains(stderr, "demote hook skipped") {
				t.Errorf("no warning that the hook was skipped:\n%s", stderr)
			}
		})
	}
}

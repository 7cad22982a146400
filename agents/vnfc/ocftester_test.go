package vnfc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// TestOCFTester runs resource-agents' ocf-tester against the built agent:
// as a primitive with the command, and with role hooks, which
// ocf-tester drives through promote and demote (twice each, and repeated).
// The promotable clone with real promotion scores is tested in a lab node
// (test/e2e), where crm_attribute has a cluster to talk to.
func TestOCFTester(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary; skipped in -short mode")
	}
	tester := ocftest.RequireTool(t, "ocf-tester")
	ocftest.RequireTool(t, "xmllint")
	ocftest.RequireTool(t, "crm_resource") // fast_fail needs it at start
	// ocf-tester checks permissions as root.
	testenv.Root(t)
	agent := ocftest.BuildAgent(t, name)
	hooks := t.TempDir()
	for _, tt := range []struct {
		name string
		opts []string
		hook bool
	}{
		{"primitive", []string{"command=/bin/sleep 100000"}, false},
		{"nice", []string{"command=/bin/sleep 100000", "nice=-7"}, false},
		{"role hooks", []string{
			"command=/bin/sleep 100000",
			// ocf-tester puts each value in single quotes for its eval,
			// so the hooks quote with double quotes.
			`promote_command=/bin/sh -c "echo promoted >> ` + hooks + `/log"`,
			`demote_command=/bin/sh -c "echo demoted >> ` + hooks + `/log"`,
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-v", "-n", "vnfc1"}
			for _, o := range tt.opts {
				args = append(args, "-o", o)
			}
			cmd := exec.Command(tester, append(args, agent)...)
			rscTmp := t.TempDir()
			cmd.Env = append(os.Environ(), "OCF_ROOT=/usr/lib/ocf", "HA_RSCTMP="+rscTmp)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "passed all tests") {
				t.Fatalf("ocf-tester: %v\n%s", err, out)
			}
			if ents, _ := os.ReadDir(filepath.Join(rscTmp, "vnfha-vnfc")); len(ents) != 0 {
				t.Errorf("state left behind after the last stop: %v", ents)
			}
			if tt.hook {
				b, _ := os.ReadFile(filepath.Join(hooks, "log"))
				// ocf-tester promotes four times, once an already promoted
				// instance, whose hook is not run again; it demotes five
				// times, and every demote of a running VNFC tells it.
				if p, d := strings.Count(string(b), "promoted"), strings.Count(string(b), "demoted"); p != 3 || d != 5 {
					t.Errorf("hooks ran %d promotes and %d demotes:\n%s", p, d, b)
				}
			}
		})
	}
}

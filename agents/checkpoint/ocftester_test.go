package checkpoint

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// TestOCFTester runs resource-agents' ocf-tester against the built agent
// with data_dir alone, as the issue asks, plus binary (the real store,
// built from this checkout: /usr/bin/vnfha is the installed one) and the
// node Pacemaker would name (OCF_RESKEY_CRM_meta_on_node,
// which Pacemaker always sets; here the first node of this host's
// corosync.conf, so that the defaults come from it). The promotable clone
// with real scores and marks runs in the lab (test/e2e).
func TestOCFTester(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary; skipped in -short mode")
	}
	tester := ocftest.RequireTool(t, "ocf-tester")
	ocftest.RequireTool(t, "xmllint")
	ocftest.RequireTool(t, "crm_resource") // fast_fail needs it at start
	testenv.Root(t)
	agent := ocftest.BuildAgent(t, name)
	nodes, err := readNodelist(corosyncConf)
	if err == nil && len(nodes) != 1 {
		err = fmt.Errorf("%s lists %d nodes", corosyncConf, len(nodes))
	}
	testenv.Require(t, "a corosync.conf of one node (Debian's default)", err)
	// The real store, built from this checkout.
	store := filepath.Join(ocftest.PublicDir(t, "vnfha-"), "vnfha")
	build := exec.Command(ocftest.RequireTool(t, "go"), "build", "-o", store, "github.com/vnfha/vnfha/cmd/vnfha")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(t.TempDir(), "data")
	rscTmp := t.TempDir()
	cmd := exec.Command(tester, "-v", "-n", "ckpt_tester", "-o", "data_dir="+data, "-o", "binary="+store, agent)
	cmd.Env = append(os.Environ(), "OCF_ROOT=/usr/lib/ocf", "HA_RSCTMP="+rscTmp, "OCF_RESKEY_CRM_meta_on_node="+nodes[0].Name)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil || !strings.Contains(string(out), "passed all tests") {
		t.Fatalf("ocf-tester: %v\n%s", err, out)
	}
	if ents, _ := os.ReadDir(filepath.Join(rscTmp, "vnfha-checkpoint")); len(ents) != 0 {
		t.Errorf("state left behind after the last stop: %v", ents)
	}
	if _, err := os.Stat("/run/vnfha/checkpoint/ckpt_tester.sock"); !os.IsNotExist(err) {
		t.Errorf("the socket is left: %v", err)
	}
}

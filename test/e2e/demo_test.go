package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/test/demo"
	"github.com/vnfha/vnfha/test/vnfm/labvnfm"
)

// TestDemo runs `make demo`'s script on a lab of its own: both set-ups
// deployed from docs/operations.md, the process kill and the power loss.
// Every event of each timeline must be seen, from the components' own
// records and in an order that can be, and every command of the blocks
// the demo reads must have run. With VNFHA_RECORD_DEMO=1 it copies those
// records to test/demo/testdata/run, which test/demo's tests read.
func TestDemo(t *testing.T) {
	labtest.RequireHost(t)
	labtest.SetTimeout(t, 6*time.Minute)
	bin, agents := labtest.Build(t)
	name := "e2edemo"
	labtest.Track(t, lab.Options{Name: name})
	var out bytes.Buffer
	root := labtest.ModuleRoot(t)
	rep, err := demo.Run(labtest.Context(t), demo.Options{
		Name: name, Ops: filepath.Join(root, "docs", "operations.md"),
		Binary: bin, AgentDir: agents, VNFCd: labtest.BuildVNFCd(t), VNFM: labvnfm.Build(t),
		Out: &out, Settle: 45 * time.Second,
	})
	t.Logf("the demo's output:\n%s", &out)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("VNFHA_RECORD_DEMO") != "" {
		// test/demo's tests build the timelines again from this copy.
		dir := filepath.Join(root, "test", "demo", "testdata", "run")
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := demo.Record(rep, dir); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded the run's records in %s", dir)
	}
	if len(rep.Timelines) != 2 || rep.Timelines[0].Fault.Kind != demo.KindKill || rep.Timelines[1].Fault.Kind != demo.KindPower {
		t.Fatalf("timelines %+v: want the kill, then the power loss", rep.Timelines)
	}
	for _, tl := range rep.Timelines {
		if p := tl.Problems(); len(p) > 0 {
			t.Errorf("%s: %s", tl.Fault.Kind, strings.Join(p, "; "))
		}
		if tl.SentA == 0 || tl.SentB == 0 || tl.FailedB > tl.SentB/10 {
			t.Errorf("%s: client sent %d/%d, %d failed through the LBs", tl.Fault.Kind, tl.SentA, tl.SentB, tl.FailedB)
		}
	}
	// Every command of the blocks it reads ran, as written.
	md, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := demo.Blocks(md)
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	for _, r := range rep.Ran {
		ran[r.Block+"\x00"+r.Doc] = true
	}
	for _, b := range []string{"setup-a", "setup-b"} {
		for _, c := range blocks[b].Commands() {
			if !ran[b+"\x00"+c] {
				t.Errorf("docs/operations.md's %s: %q did not run in the demo", b, c)
			}
		}
	}
	if err := lab.Down(name, ""); err != nil {
		t.Error(err)
	}
}

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// TestOCFAgentWithPcs checks that an agent declared with package ocf is
// accepted by pcs 0.11 as a real operator uses it, without --force, and
// that Pacemaker runs it: as a primitive and as a promotable clone.
func TestOCFAgentWithPcs(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3})
	ctx := labtest.Context(t)

	out, err := l.Exec(ctx, "node1", "pcs", "resource", "describe", "ocf:vnfha:dummy")
	if err != nil {
		t.Fatalf("pcs resource describe: %v", err)
	}
	for _, want := range []string{"ocf:vnfha:dummy", "state (unique)", "fake"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pcs resource describe lacks %q:\n%s", want, out)
		}
	}
	for _, create := range [][]string{
		{"pcs", "resource", "create", "d1", "ocf:vnfha:dummy", "fake=hello", "op", "monitor", "interval=2s"},
		{"pcs", "resource", "create", "s1", "ocf:vnfha:dummy", "promotable"},
	} {
		if out, err := l.Exec(ctx, "node1", create...); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(create, " "), err, out)
		}
	}
	// A misspelt parameter must still be refused: pcs really validates.
	if out, err := l.Exec(ctx, "node1", "pcs", "resource", "create", "d2", "ocf:vnfha:dummy", "nosuch=1"); err == nil {
		t.Errorf("pcs accepted an unknown parameter:\n%s", out)
	}

	// pcs enforces the meta-data's unique="1": a second resource with the
	// same state file is refused (see package ocf, metadata.go, for why that
	// matters to agents that reload).
	if out, err := l.Exec(ctx, "node1", "pcs", "resource", "create", "u1", "ocf:vnfha:dummy", "state=/run/u.state", "meta", "target-role=Stopped"); err != nil {
		t.Fatalf("create u1: %v\n%s", err, out)
	}
	out, err = l.Exec(ctx, "node1", "pcs", "resource", "create", "u2", "ocf:vnfha:dummy", "state=/run/u.state")
	if err == nil || !strings.Contains(string(out), "is not unique") {
		t.Errorf("pcs accepted a duplicate unique parameter: %v\n%s", err, out)
	}

	c := crmwrap.New(l.Runner("node1"))
	labtest.Eventually(t, 30*time.Second, 250*time.Millisecond, "d1 started and s1 unpromoted on every node", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		started, unpromoted := 0, 0
		for _, i := range st.Instances() {
			switch {
			case i.ID == "d1" && i.Role == "Started" && i.Active:
				started++
			case strings.HasPrefix(i.ID, "s1") && i.Clone == "s1-clone" && i.Role == "Unpromoted" && i.Active:
				unpromoted++
			}
		}
		if len(st.Failures) > 0 {
			return false, fmt.Sprintf("failures: %+v", st.Failures)
		}
		return started == 1 && unpromoted == 3, fmt.Sprintf("d1 started %d, s1 unpromoted %d", started, unpromoted)
	})
}

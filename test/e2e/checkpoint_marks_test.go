package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint/marks"
	"github.com/vnfha/vnfha/checkpoint/marks/markstest"
	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// TestCheckpointMarks writes and reads the checkpoint store's marks on a
// real cluster: a new cluster has none; a mark written on node1 is read
// on node3; marks change. With VNFHA_RECORD_MARKS=1 it records node1's
// tool calls in checkpoint/marks/testdata/lab-calls.json, which the
// package's unit test replays in the same order (keep the two in step).
func TestCheckpointMarks(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3, NoFencing: true})
	ctx := labtest.Context(t)
	rec := &marks.Recorder{R: l.Runner("node1")}
	m, err := marks.New(crmwrap.New(rec), "cp")
	if err != nil {
		t.Fatal(err)
	}
	m3, _ := marks.New(crmwrap.New(l.Runner("node3")), "cp")
	markstest.Scenario(t, ctx, m)
	if os.Getenv("VNFHA_RECORD_MARKS") != "" {
		data, err := rec.JSON()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(labtest.ModuleRoot(t), "checkpoint", "marks", "testdata", "lab-calls.json")
		if err := os.WriteFile(p, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s", p)
	}
	// Written on node1, in the CIB everywhere.
	if got, err := m3.All(ctx); err != nil || !maps.Equal(got, map[string]string{"node1": "sync", "node2": "sync"}) {
		t.Fatalf("marks read on node3: %v, %v", got, err)
	}
	// How long a mark takes (crm_attribute and crm_node --quorum, each
	// through nsenter here): what a write waits when a standby leaves the
	// synchronous set, and a promote for its own and the others' marks.
	var took []time.Duration
	for i := range 10 {
		mark := m.Stale
		if i%2 == 1 {
			mark = m.Sync
		}
		t0 := time.Now()
		if err := mark(ctx, "node3"); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	t.Logf("a mark takes %s (median of 10), at most %s", took[5].Round(time.Millisecond), took[9].Round(time.Millisecond))
}

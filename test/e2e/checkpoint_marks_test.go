package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"testing"

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
	// Written on node1, in the CIB everywhere.
	if got, err := m3.All(ctx); err != nil || !maps.Equal(got, map[string]string{"node1": "sync", "node2": "sync"}) {
		t.Fatalf("marks read on node3: %v, %v", got, err)
	}
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
}

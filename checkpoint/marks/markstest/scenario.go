// Package markstest holds the sequence of marks calls that the lab test
// (test/e2e TestCheckpointMarks) runs on a real cluster, recording its
// tool calls, and that checkpoint/marks's unit test replays against that
// recording: one sequence, so the two cannot drift apart.
package markstest

import (
	"context"
	"maps"
	"testing"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/marks"
)

// Scenario runs on a 3-node cluster (node1..node3) with no marks yet:
// none; node1 sync and node2 stale; node3 none; node2 sync; a node that
// does not exist refused.
func Scenario(t testing.TB, ctx context.Context, m *marks.Marks) {
	t.Helper()
	all := func(want map[string]string) {
		t.Helper()
		got, err := m.All(ctx)
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("marks %v, %v; want %v", got, err, want)
		}
	}
	all(map[string]string{})
	if err := m.Sync(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Stale(ctx, "node2"); err != nil {
		t.Fatal(err)
	}
	if v, err := m.Mark(ctx, "node1"); err != nil || v != checkpoint.MarkSync {
		t.Fatalf("node1: %q, %v", v, err)
	}
	if v, err := m.Mark(ctx, "node3"); err != nil || v != "" {
		t.Fatalf("node3: %q, %v", v, err)
	}
	all(map[string]string{"node1": "sync", "node2": "stale"})
	if err := m.Sync(ctx, "node2"); err != nil {
		t.Fatal(err)
	}
	all(map[string]string{"node1": "sync", "node2": "sync"})
	if err := m.Sync(ctx, "nosuchnode"); err == nil {
		t.Fatal("a mark on a node that does not exist was accepted")
	}
}

package checkpoint

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestParseAbsent(t *testing.T) {
	peers := map[string]string{"node2": "198.18.0.2:7420", "node3": "198.18.0.3:7420"}
	for _, tc := range []struct {
		out  string
		want []string
		err  bool
	}{
		{"node1 node2 node3\n", nil, false},
		{"node1 node2\n", []string{"node3"}, false},
		{"node1\n", []string{"node2", "node3"}, false},
		{"  node3\tnode1  \n", []string{"node2"}, false},
		{"node1 node20 node30\n", []string{"node2", "node3"}, false}, // names, not prefixes
		{"", nil, true},
		{"\n \n", nil, true},
		{"node2 node3\n", nil, true},          // not this node: names differ
		{"host-a host-b host-c\n", nil, true}, // Pacemaker names them otherwise
	} {
		got, err := parseAbsent(tc.out, "node1", peers)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parseAbsent(%q) = %q, %v; want %q (error %v)", tc.out, got, err, tc.want, tc.err)
		}
	}
}

// TestAbsentPeersHungTool: a crm_node that does not answer costs promote
// partitionTimeout, then every peer is asked (an error, no names).
func TestAbsentPeersHungTool(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "crm_node")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := crmNodeBin
	crmNodeBin = bin
	defer func() { crmNodeBin = old }()
	// Longer than partitionTimeout, shorter than runTool's own bound.
	ctx, cancel := context.WithTimeout(context.Background(), 2*partitionTimeout+time.Second)
	defer cancel()
	absent, err := absentPeers(ctx, "node1", map[string]string{"node2": "a", "node3": "b"})
	if err == nil || absent != nil {
		t.Fatalf("a hung crm_node: %q, %v; want an error and no names", absent, err)
	}
	if ctx.Err() != nil {
		t.Fatal("absentPeers waited for the caller's deadline, not its own")
	}
}

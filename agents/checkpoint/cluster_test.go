package checkpoint

import (
	"slices"
	"testing"
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

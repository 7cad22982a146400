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
		{"node20 node30\n", []string{"node2", "node3"}, false}, // names, not prefixes
		{"", nil, true},
		{"\n \n", nil, true},
	} {
		got, err := parseAbsent(tc.out, peers)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parseAbsent(%q) = %q, %v; want %q (error %v)", tc.out, got, err, tc.want, tc.err)
		}
	}
}

package lab

import "testing"

// TestHostsFile checks the /etc/hosts every node sees: every member by
// name at its lab address, localhost kept.
func TestHostsFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   *state
		want string
	}{
		{"nodes and client", &state{Name: "x", Slot: 3, Nodes: []string{"node1", "node2"}},
			"# vnfha lab x: every member of the lab\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
				"198.18.3.1\tnode1\n198.18.3.2\tnode2\n198.18.3.200\tclient\n"},
		{"hosts", &state{Name: "y", Slot: 300, Nodes: []string{"node1"}, Hosts: []string{"lb1", "vnfm"}},
			"# vnfha lab y: every member of the lab\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
				"198.19.44.1\tnode1\n198.19.44.200\tclient\n198.19.44.201\tlb1\n198.19.44.202\tvnfm\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hostsFile(tc.st); got != tc.want {
				t.Errorf("hostsFile:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

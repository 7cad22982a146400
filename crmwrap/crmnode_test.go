package crmwrap

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/internal/fixture"
)

func TestLocalNodeName(t *testing.T) {
	c, f := newFake(reply{stdout: readFixture(t, "crm_node", "name.txt")})
	name, err := c.LocalNodeName(context.Background())
	if err != nil || name != "node2" {
		t.Fatalf("name %q, err %v", name, err)
	}
	wantCalls(t, f, call{Tool: "crm_node", Args: []string{"--name"}})
}

func TestParseNodeList(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    []ClusterNode
		wantErr string
	}{
		{"lab", readFixture(t, "crm_node", "lab-list.txt"),
			[]ClusterNode{{1, "node1", "member"}, {2, "node2", "member"}, {3, "node3", "member"}}, ""},
		// Not recorded: a node whose name the controller does not know
		// yet. crm_node.c prints "%lu %s %s\n" with an empty name.
		{"unnamed node", []byte("7  member\n"), []ClusterNode{{7, "", "member"}}, ""},
		{"empty", nil, []ClusterNode{}, ""},
		{"bad id", []byte("x node1 member\n"), nil, "bad id"},
		{"too many fields", []byte("1 node 1 member\n"), nil, "want \"ID NAME STATE\""},
		{"id overflow", []byte("4294967296 n member\n"), nil, "bad id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNodeList(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
		})
	}
}

// TestParseNodeListLost reads the list recorded after the lab fenced the
// node that held the promoted instance, whichever node that was.
func TestParseNodeListLost(t *testing.T) {
	nodes, err := ParseNodeList(readFixture(t, "crm_node", "lab-list-lost.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, n := range nodes {
		if n.State == "lost" {
			lost++
		} else if n.State != "member" {
			t.Errorf("node %+v in state %q", n, n.State)
		}
	}
	if len(nodes) != 3 || lost != 1 {
		t.Errorf("nodes = %+v; want three, one lost", nodes)
	}
}

func TestCrmNodeCommands(t *testing.T) {
	ctx := context.Background()
	fixture := func(name string) []byte { return readFixture(t, "crm_node", name) }
	tests := []struct {
		name  string
		reply reply
		do    func(c *Client) (any, error)
		args  []string
		want  any
		err   bool
	}{
		{"quorate", reply{stdout: fixture("lab-quorum.txt")}, func(c *Client) (any, error) { return c.HasQuorum(ctx) }, []string{"--quorum"}, true, false},
		// Without quorum crm_node prints 0 and exits 106 (CRM_EX_QUORUM).
		{"not quorate", reply{stdout: fixture("lab-quorum-lost.txt"), code: ExitQuorum}, func(c *Client) (any, error) { return c.HasQuorum(ctx) }, []string{"--quorum"}, false, false},
		{"quorum, no controller", reply{code: ExitNotConnected, stderr: "error: Could not connect to controller: Connection refused"},
			func(c *Client) (any, error) { return c.HasQuorum(ctx) }, []string{"--quorum"}, false, true},
		{"id", reply{stdout: fixture("lab-cluster-id.txt")}, func(c *Client) (any, error) { return c.LocalNodeID(ctx) }, []string{"--cluster-id"}, uint32(2), false},
		{"name", reply{stdout: fixture("lab-name.txt")}, func(c *Client) (any, error) { return c.LocalNodeName(ctx) }, []string{"--name"}, "node2", false},
		{"list", reply{stdout: fixture("lab-list.txt")}, func(c *Client) (any, error) {
			n, err := c.ListNodes(ctx)
			if len(n) != 3 {
				return n, err
			}
			return n[2], err
		}, []string{"--list"}, ClusterNode{3, "node3", "member"}, false},
		{"partition", reply{stdout: fixture("lab-partition.txt")}, func(c *Client) (any, error) {
			p, err := c.PartitionNodes(ctx)
			return strings.Join(p, ","), err
		}, []string{"--partition"}, "node1,node2,node3", false},
		{"garbage name", reply{stdout: []byte("two words\n")}, func(c *Client) (any, error) { return c.LocalNodeName(ctx) }, []string{"--name"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newFake(tt.reply)
			got, err := tt.do(c)
			wantCalls(t, f, call{Tool: "crm_node", Args: tt.args})
			if (err != nil) != tt.err {
				t.Fatalf("err = %v; want error %v", err, tt.err)
			}
			if !tt.err && got != tt.want {
				t.Errorf("got %v; want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseNodeList(f *testing.F) {
	fixture.Seed(f, "testdata/crm_node", ".txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, err := ParseNodeList(data)
		if err != nil && nodes != nil {
			t.Fatalf("nodes %v with error %v", nodes, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "parse crm_node --list") {
			t.Fatalf("error without context: %v", err)
		}
	})
}

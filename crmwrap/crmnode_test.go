package crmwrap

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func TestLocalNodeName(t *testing.T) {
	c, f := newFake(reply{stdout: readFixture(t, "crm_node", "name.txt")})
	name, err := c.LocalNodeName(context.Background())
	if err != nil || name != "node2" {
		t.Fatalf("name %q, err %v", name, err)
	}
	wantCalls(t, f, call{Tool: "crm_node", Args: []string{"--name"}})
}

// The crm_node --list, --quorum and --cluster-id cases below are not
// recordings: those commands need a running controller, and the offline
// recorder has none. Their text follows the printf formats of
// tools/crm_node.c in 2.1.5 ("%lu %s %s\n", "%d\n"); lab-recorded
// fixtures should replace them.

func TestParseNodeList(t *testing.T) {
	tests := []struct {
		name, in string
		want     []ClusterNode
		wantErr  string
	}{
		{"three", "1 node1 member\n2 node2 member\n3 node3 lost\n",
			[]ClusterNode{{1, "node1", "member"}, {2, "node2", "member"}, {3, "node3", "lost"}}, ""},
		{"unnamed node", "7  member\n", []ClusterNode{{7, "", "member"}}, ""},
		{"empty", "", []ClusterNode{}, ""},
		{"bad id", "x node1 member\n", nil, "bad id"},
		{"too many fields", "1 node 1 member\n", nil, "want \"ID NAME STATE\""},
		{"id overflow", "4294967296 n member\n", nil, "bad id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNodeList([]byte(tt.in))
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

func TestCrmNodeCommands(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		reply reply
		do    func(c *Client) (any, error)
		args  []string
		want  any
		err   bool
	}{
		{"quorate", reply{stdout: []byte("1\n")}, func(c *Client) (any, error) { return c.HasQuorum(ctx) }, []string{"--quorum"}, true, false},
		// Without quorum crm_node prints 0 and exits 106 (CRM_EX_QUORUM).
		{"not quorate", reply{stdout: []byte("0\n"), code: ExitQuorum}, func(c *Client) (any, error) { return c.HasQuorum(ctx) }, []string{"--quorum"}, false, false},
		{"quorum no controller", reply{code: ExitNotConnected, stderr: "error: Could not connect to controller: Connection refused"},
			func(c *Client) (any, error) { return c.HasQuorum(ctx) }, []string{"--quorum"}, false, true},
		{"id", reply{stdout: []byte("2\n")}, func(c *Client) (any, error) { return c.LocalNodeID(ctx) }, []string{"--cluster-id"}, uint32(2), false},
		{"list", reply{stdout: []byte("1 node1 member\n")}, func(c *Client) (any, error) {
			n, err := c.ListNodes(ctx)
			if len(n) != 1 {
				return n, err
			}
			return n[0], err
		}, []string{"--list"}, ClusterNode{1, "node1", "member"}, false},
		{"partition", reply{stdout: []byte("node1 node2 \n")}, func(c *Client) (any, error) {
			p, err := c.PartitionNodes(ctx)
			return strings.Join(p, ","), err
		}, []string{"--partition"}, "node1,node2", false},
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
	f.Add([]byte("1 node1 member\n2 node2 lost\n"))
	f.Add(readFixture(f, "crm_node", "name.txt"))
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

package crmwrap

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/internal/fixture"
)

func TestParseLocate(t *testing.T) {
	tests := []struct {
		fixture  string
		want     []LocatedNode
		wantCode int
	}{
		{"locate-state-clone", []LocatedNode{{Node: "node3"}, {Node: "node2"}, {Node: "node1", Promoted: true}}, 0},
		{"locate-grp", []LocatedNode{{Node: "node3"}}, 0},
		{"locate-vip", []LocatedNode{{Node: "node1"}}, 0},
		{"locate-stopped", []LocatedNode{}, 0},
		{"locate-nosuch", nil, ExitNoSuch},
		{"locate-not-running", nil, ExitNotConnected},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := ParseLocate(readFixture(t, "crm_resource", tt.fixture+".xml"))
			if ExitCode(err) != tt.wantCode && !(tt.wantCode == 0 && err == nil) {
				t.Fatalf("err = %v; want code %d", err, tt.wantCode)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("nodes = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestParseLocateLab(t *testing.T) {
	nodes, err := ParseLocate(readFixture(t, "crm_resource", "lab-locate-vip.xml"))
	if err != nil || len(nodes) != 1 || nodes[0].Promoted || !strings.HasPrefix(nodes[0].Node, "node") {
		t.Errorf("nodes %+v, err %v; want vip on one node", nodes, err)
	}
}

func TestLocateCommand(t *testing.T) {
	ctx := context.Background()
	c, f := newFake(reply{stdout: readFixture(t, "crm_resource", "locate-state-clone.xml")})
	nodes, err := c.Locate(ctx, "state-clone")
	if err != nil || len(nodes) != 3 {
		t.Fatalf("nodes %v, err %v", nodes, err)
	}
	wantCalls(t, f, call{Tool: "crm_resource", Args: []string{"--locate", "--resource", "state-clone", "--output-as=xml"}})

	c, _ = newFake(reply{code: ExitNoSuch, stdout: readFixture(t, "crm_resource", "locate-nosuch.xml")})
	if _, err := c.Locate(ctx, "nosuch"); !IsNotFound(err) || !strings.Contains(err.Error(), "Resource 'nosuch' not found") {
		t.Errorf("err = %v; want not found with crm_resource's reason", err)
	}
}

func TestFailAndCleanup(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		do   func(c *Client) error
		want []string // nil: no call expected
	}{
		{"fail", func(c *Client) error { return c.Fail(ctx, "vnfc", "node-2") },
			[]string{"--fail", "--resource", "vnfc", "--node", "node-2"}},
		{"fail without node", func(c *Client) error { return c.Fail(ctx, "vnfc", "") }, nil},
		{"cleanup one", func(c *Client) error { return c.Cleanup(ctx, "vnfc", "node-2") },
			[]string{"--cleanup", "--resource", "vnfc", "--node", "node-2"}},
		{"cleanup all", func(c *Client) error { return c.Cleanup(ctx, "", "") }, []string{"--cleanup"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newFake(reply{})
			err := tt.do(c)
			if tt.want == nil {
				if err == nil {
					t.Fatal("want an error")
				}
				wantCalls(t, f)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantCalls(t, f, call{Tool: "crm_resource", Args: tt.want})
		})
	}
}

func TestValidate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		fixture string
		agent   string
		params  map[string]string
		args    []string
		wantOK  bool
		reason  string
		wantErr string
	}{
		{
			fixture: "validate-ok", agent: "ocf:pacemaker:Dummy", params: map[string]string{"fake": "x"},
			args:   []string{"--validate", "--class", "ocf", "--provider", "pacemaker", "--agent", "Dummy", "--option", "fake=x", "--output-as=xml"},
			wantOK: true,
		},
		{
			fixture: "validate-not-configured", agent: "ocf:heartbeat:IPaddr2", params: map[string]string{"cidr_netmask": "24", "nic": "eth0"},
			args:   []string{"--validate", "--class", "ocf", "--provider", "heartbeat", "--agent", "IPaddr2", "--option", "cidr_netmask=24", "--option", "nic=eth0", "--output-as=xml"},
			reason: "IP address (the ip parameter) is mandatory",
		},
		{
			fixture: "validate-unknown-agent", agent: "stonith:fence_nosuch",
			args:    []string{"--validate", "--class", "stonith", "--agent", "fence_nosuch", "--output-as=xml"},
			wantErr: "is not a known resource",
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			data := readFixture(t, "crm_resource", tt.fixture+".xml")
			code := 0
			if !tt.wantOK {
				code = 6
			}
			c, f := newFake(reply{stdout: data, code: code})
			agent, err := ParseAgent(tt.agent)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Validate(ctx, agent, tt.params)
			wantCalls(t, f, call{Tool: "crm_resource", Args: tt.args})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.OK() != tt.wantOK || res.Reason != tt.reason {
				t.Errorf("result = %+v; want OK %v, reason %q", res, tt.wantOK, tt.reason)
			}
			if !tt.wantOK && !strings.Contains(res.Stderr, "ocf-exit-reason:") {
				t.Errorf("stderr %q lacks the agent's output", res.Stderr)
			}
		})
	}
}

func TestParseAgent(t *testing.T) {
	tests := []struct {
		in   string
		want Agent
		ok   bool
	}{
		{"ocf:vnfha:vip", Agent{"ocf", "vnfha", "vip"}, true},
		{"stonith:fence_xvm", Agent{Class: "stonith", Type: "fence_xvm"}, true},
		{"vip", Agent{}, false},
		{"ocf::vip", Agent{}, false},
		{"a:b:c:d", Agent{}, false},
	}
	for _, tt := range tests {
		got, err := ParseAgent(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseAgent(%q) = %+v, %v", tt.in, got, err)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("%+v.String() = %q; want %q", got, got.String(), tt.in)
		}
	}
}

func FuzzParseLocate(f *testing.F) {
	fixture.Seed(f, "testdata/crm_resource", ".xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, err := ParseLocate(data)
		if err != nil && nodes != nil {
			t.Fatalf("nodes %v with error %v", nodes, err)
		}
	})
}

func FuzzParseValidate(f *testing.F) {
	fixture.Seed(f, "testdata/crm_resource", ".xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := ParseValidate(data)
		if (res == nil) == (err == nil) {
			t.Fatalf("result %v and error %v: want exactly one", res, err)
		}
	})
}

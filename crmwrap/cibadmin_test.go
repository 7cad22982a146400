package crmwrap

import (
	"context"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/internal/fixture"
)

func TestCibadminCommands(t *testing.T) {
	ctx := context.Background()
	frag := []byte(`<primitive id="vip" class="ocf" provider="pacemaker" type="Dummy"/>`)
	nodes := readFixture(t, "cibadmin", "query-nodes.xml")
	tests := []struct {
		name string
		do   func(c *Client) error
		want call
	}{
		{"query whole", func(c *Client) error { _, err := c.Query(ctx, ScopeAll); return err },
			call{Tool: "cibadmin", Args: []string{"--query"}}},
		{"query nodes", func(c *Client) error { _, err := c.Query(ctx, ScopeNodes); return err },
			call{Tool: "cibadmin", Args: []string{"--query", "--scope", "nodes"}}},
		{"query xpath", func(c *Client) error { _, err := c.QueryXPath(ctx, XPathByID("primitive", `a'b"c`)); return err },
			call{Tool: "cibadmin", Args: []string{"--query", "--xpath", `//primitive[@id=concat('a',"'",'b"c')]`}}},
		{"create", func(c *Client) error { return c.Create(ctx, ScopeResources, frag) },
			call{Tool: "cibadmin", Args: []string{"--create", "--scope", "resources", "--xml-pipe"}, Stdin: string(frag)}},
		{"modify", func(c *Client) error { return c.Modify(ctx, ScopeResources, frag, false) },
			call{Tool: "cibadmin", Args: []string{"--modify", "--scope", "resources", "--xml-pipe"}, Stdin: string(frag)}},
		{"modify or create", func(c *Client) error { return c.Modify(ctx, ScopeResources, frag, true) },
			call{Tool: "cibadmin", Args: []string{"--modify", "--scope", "resources", "--allow-create", "--xml-pipe"}, Stdin: string(frag)}},
		{"replace", func(c *Client) error { return c.Replace(ctx, ScopeConstraints, []byte("<constraints/>")) },
			call{Tool: "cibadmin", Args: []string{"--replace", "--scope", "constraints", "--xml-pipe"}, Stdin: "<constraints/>"}},
		{"delete", func(c *Client) error { return c.Delete(ctx, ScopeAll, []byte(`<primitive id="vip"/>`)) },
			call{Tool: "cibadmin", Args: []string{"--delete", "--xml-pipe"}, Stdin: `<primitive id="vip"/>`}},
		{"delete xpath", func(c *Client) error { return c.DeleteXPath(ctx, XPathByID("nvpair", "x"), false) },
			call{Tool: "cibadmin", Args: []string{"--delete", "--xpath", "//nvpair[@id='x']"}}},
		{"delete all xpath", func(c *Client) error {
			return c.DeleteXPath(ctx, XPathByAttr("nvpair", "name", "is-managed"), true)
		}, call{Tool: "cibadmin", Args: []string{"--delete-all", "--force", "--xpath", "//nvpair[@name='is-managed']"}}},
		{"empty", func(c *Client) error { _, err := c.EmptyCIB(ctx); return err },
			call{Tool: "cibadmin", Args: []string{"--empty"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newFake(reply{stdout: nodes})
			if err := tt.do(c); err != nil {
				t.Fatal(err)
			}
			wantCalls(t, f, tt.want)
		})
	}
}

func TestCibadminErrors(t *testing.T) {
	ctx := context.Background()
	stderr := string(readFixture(t, "cibadmin", "query-xpath-nosuch.stderr"))
	c, _ := newFake(reply{code: ExitNoSuch, stderr: stderr})
	_, err := c.QueryXPath(ctx, XPathByID("primitive", "nosuch"))
	if !IsNotFound(err) || !strings.Contains(err.Error(), "query CIB //primitive[@id='nosuch']") {
		t.Errorf("err = %v; want a wrapped not-found", err)
	}

	notRunning := string(readFixture(t, "cibadmin", "not-running.stderr"))
	c, _ = newFake(reply{code: ExitNotConnected, stderr: notRunning})
	if _, err := c.Query(ctx, ScopeStatus); ExitCode(err) != ExitNotConnected || !strings.Contains(err.Error(), "Could not connect to the CIB") {
		t.Errorf("err = %v; want not connected", err)
	}

	c, f := newFake()
	if err := c.Create(ctx, ScopeResources, nil); err == nil {
		t.Errorf("empty fragment accepted")
	}
	wantCalls(t, f)
}

func TestQueryCIB(t *testing.T) {
	c, f := newFake(reply{stdout: fixture.Read(t, "cib/testdata/promotable-running.xml")})
	cib, err := c.QueryCIB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cib.Status) != 3 {
		t.Errorf("%d node states", len(cib.Status))
	}
	wantCalls(t, f, call{Tool: "cibadmin", Args: []string{"--query"}})
}

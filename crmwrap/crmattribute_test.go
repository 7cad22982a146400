package crmwrap

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/internal/fixture"
)

func TestParseAttributes(t *testing.T) {
	tests := []struct {
		fixture  string
		want     []Attribute
		wantCode int
	}{
		{"promotion-query", []Attribute{{Name: "master-state", Value: "10", Scope: "status"}}, 0},
		{"node-query", []Attribute{{Name: "site", Value: "dc-east", Scope: "nodes"}}, 0},
		{"property-query", []Attribute{{Name: "cluster-name", Value: "vnfha-fixture", Scope: "crm_config"}}, 0},
		{"missing-query", nil, ExitNoSuch},
		{"not-running", nil, ExitNotConnected},
		{"promotion-update", nil, 0},
		{"unknown-node-update", nil, ExitNoSuch},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := ParseAttributes(readFixture(t, "crm_attribute", tt.fixture+".xml"))
			if tt.wantCode == 0 && err != nil || tt.wantCode != 0 && ExitCode(err) != tt.wantCode {
				t.Fatalf("err = %v; want code %d", err, tt.wantCode)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("attributes = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestAttributeCommands(t *testing.T) {
	ctx := context.Background()
	ok := readFixture(t, "crm_attribute", "promotion-update.xml")
	tests := []struct {
		name  string
		reply string // fixture answering the call
		do    func(c *Client) (any, error)
		args  []string
		want  any
	}{
		{"promotion query", "promotion-query", func(c *Client) (any, error) { return c.PromotionScore(ctx, "state", "node1") },
			[]string{"--promotion=state", "--node", "node1", "--lifetime", "reboot", "--query", "--output-as=xml"}, 10},
		{"promotion set", "promotion-update", func(c *Client) (any, error) { return nil, c.SetPromotionScore(ctx, "state", "node1", 20) },
			[]string{"--promotion=state", "--node", "node1", "--lifetime", "reboot", "--update", "20", "--output-as=xml"}, nil},
		{"promotion set infinity", "promotion-update", func(c *Client) (any, error) {
			return nil, c.SetPromotionScore(ctx, "state", "node1", 5*ScoreInfinity)
		}, []string{"--promotion=state", "--node", "node1", "--lifetime", "reboot", "--update", "INFINITY", "--output-as=xml"}, nil},
		{"promotion delete", "promotion-update", func(c *Client) (any, error) { return nil, c.DeletePromotionScore(ctx, "state", "node1") },
			[]string{"--promotion=state", "--node", "node1", "--lifetime", "reboot", "--delete", "--output-as=xml"}, nil},
		{"node attr query", "node-query", func(c *Client) (any, error) { return c.NodeAttr(ctx, "node2", "site", LifetimeForever) },
			[]string{"--node", "node2", "--name", "site", "--lifetime", "forever", "--query", "--output-as=xml"}, "dc-east"},
		{"node attr set", "promotion-update", func(c *Client) (any, error) {
			return nil, c.SetNodeAttr(ctx, "node2", "vnfha-ready", "a b'c", LifetimeReboot)
		}, []string{"--node", "node2", "--name", "vnfha-ready", "--lifetime", "reboot", "--update", "a b'c", "--output-as=xml"}, nil},
		{"node attr delete", "promotion-update", func(c *Client) (any, error) {
			return nil, c.DeleteNodeAttr(ctx, "node2", "site", LifetimeForever)
		}, []string{"--node", "node2", "--name", "site", "--lifetime", "forever", "--delete", "--output-as=xml"}, nil},
		{"property query", "property-query", func(c *Client) (any, error) { return c.Property(ctx, "cluster-name") },
			[]string{"--type", "crm_config", "--name", "cluster-name", "--query", "--output-as=xml"}, "vnfha-fixture"},
		{"property set", "promotion-update", func(c *Client) (any, error) { return nil, c.SetProperty(ctx, "maintenance-mode", "true") },
			[]string{"--type", "crm_config", "--name", "maintenance-mode", "--update", "true", "--output-as=xml"}, nil},
		{"property delete", "promotion-update", func(c *Client) (any, error) { return nil, c.DeleteProperty(ctx, "maintenance-mode") },
			[]string{"--type", "crm_config", "--name", "maintenance-mode", "--delete", "--output-as=xml"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := ok
			if tt.reply != "" {
				data = readFixture(t, "crm_attribute", tt.reply+".xml")
			}
			c, f := newFake(reply{stdout: data})
			got, err := tt.do(c)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v; want %v", got, tt.want)
			}
			wantCalls(t, f, call{Tool: "crm_attribute", Args: tt.args})
		})
	}
}

func TestAttributeErrors(t *testing.T) {
	ctx := context.Background()
	missing := readFixture(t, "crm_attribute", "missing-query.xml")
	c, _ := newFake(reply{code: ExitNoSuch, stdout: missing})
	if _, err := c.PromotionScore(ctx, "state", "node3"); !IsNotFound(err) || !strings.Contains(err.Error(), "promotion score of state on node3") {
		t.Errorf("err = %v; want wrapped not found", err)
	}
	unknown := readFixture(t, "crm_attribute", "unknown-node-update.xml")
	c, _ = newFake(reply{code: ExitNoSuch, stdout: unknown})
	if err := c.SetNodeAttr(ctx, "nonode", "site", "x", LifetimeForever); !IsNotFound(err) || !strings.Contains(err.Error(), "Could not map name=nonode") {
		t.Errorf("err = %v; want crm_attribute's reason", err)
	}
	c, f := newFake()
	if err := c.SetPromotionScore(ctx, "", "node1", 1); err == nil {
		t.Error("empty resource accepted")
	}
	wantCalls(t, f)
}

func TestScores(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
		out  string
	}{
		{"10", 10, true, "10"},
		{"-5", -5, true, "-5"},
		{"INFINITY", ScoreInfinity, true, "INFINITY"},
		{"+INFINITY", ScoreInfinity, true, "INFINITY"},
		{"-INFINITY", -ScoreInfinity, true, "-INFINITY"},
		{"2000000", ScoreInfinity, true, "INFINITY"},
		{"ten", 0, false, ""},
	}
	for _, tt := range tests {
		got, err := ParseScore(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseScore(%q) = %d, %v", tt.in, got, err)
		}
		if tt.ok && FormatScore(got) != tt.out {
			t.Errorf("FormatScore(%d) = %q; want %q", got, FormatScore(got), tt.out)
		}
	}
}

func FuzzParseAttributes(f *testing.F) {
	fixture.Seed(f, "testdata/crm_attribute", ".xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		attrs, err := ParseAttributes(data)
		if err != nil && attrs != nil {
			t.Fatalf("attributes %v with error %v", attrs, err)
		}
	})
}

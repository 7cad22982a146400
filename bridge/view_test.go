package bridge

import (
	"strings"

	"github.com/vnfha/vnfha/crmwrap/cib"
	"testing"
	"time"
)

func TestWantRules(t *testing.T) {
	online := &nodeFacts{Name: "node1", Online: true}
	tests := []struct {
		name      string
		svc       ServiceConfig
		rsc       resourceFacts
		in        instanceFacts
		node      *nodeFacts
		want      Want
		reasonHas string
	}{
		{"running", ServiceConfig{}, resourceFacts{}, instanceFacts{Active: true, Role: "Started"}, online, Serve, "running"},
		{"node offline", ServiceConfig{}, resourceFacts{}, instanceFacts{Node: "node1", Active: true}, &nodeFacts{Name: "node1"}, Fail, "offline"},
		{"node unknown", ServiceConfig{}, resourceFacts{}, instanceFacts{Node: "node9", Active: true}, nil, Fail, "offline"},
		{"failed while active", ServiceConfig{}, resourceFacts{}, instanceFacts{Active: true, Failed: true, FailedOp: "monitor returned 7"}, online, Fail, "monitor returned 7"},
		{"failure outranks a ban", ServiceConfig{}, resourceFacts{Banned: map[string]bool{"node1": true}}, instanceFacts{Node: "node1", Failed: true, FailedOp: "x"}, online, Fail, "failed"},
		{"history erased", ServiceConfig{}, resourceFacts{}, instanceFacts{Unknown: true}, online, Keep, "no operation history"},
		{"history erased, node offline", ServiceConfig{}, resourceFacts{}, instanceFacts{Node: "node1", Unknown: true}, &nodeFacts{Name: "node1"}, Fail, "offline"},
		{"history erased, banned", ServiceConfig{}, resourceFacts{Banned: map[string]bool{"node1": true}}, instanceFacts{Node: "node1", Unknown: true}, online, Keep, "no operation history"},
		{"stop pending", ServiceConfig{}, resourceFacts{}, instanceFacts{Active: true, Pending: "stop"}, online, Drain, "stop pending"},
		{"start pending", ServiceConfig{}, resourceFacts{}, instanceFacts{Pending: "start"}, online, Drain, "start pending"},
		{"target-role stopped", ServiceConfig{}, resourceFacts{Stopped: true}, instanceFacts{Active: true}, online, Drain, "target-role"},
		{"banned", ServiceConfig{}, resourceFacts{Banned: map[string]bool{"node1": true}}, instanceFacts{Node: "node1", Active: true}, online, Drain, "banned"},
		{"banned elsewhere", ServiceConfig{}, resourceFacts{Banned: map[string]bool{"node2": true}}, instanceFacts{Node: "node1", Active: true}, online, Serve, "running"},
		{"standby", ServiceConfig{}, resourceFacts{}, instanceFacts{Node: "node1", Active: true}, &nodeFacts{Name: "node1", Online: true, Standby: true}, Drain, "standby"},
		{"remote node online", ServiceConfig{}, resourceFacts{}, instanceFacts{Active: true}, &nodeFacts{Name: "r1", Online: true, Remote: true}, Serve, "running"},
		{"promoted only, unpromoted", ServiceConfig{PromotedOnly: true}, resourceFacts{Promotable: true}, instanceFacts{Active: true, Role: "Unpromoted"}, online, Drain, "not promoted"},
		{"promoted only, promoted", ServiceConfig{PromotedOnly: true}, resourceFacts{Promotable: true}, instanceFacts{Active: true, Role: "Promoted"}, online, Serve, "running"},
		{"promoted only, demote pending", ServiceConfig{PromotedOnly: true}, resourceFacts{Promotable: true}, instanceFacts{Active: true, Role: "Promoted", Pending: "demote"}, online, Drain, "demoted"},
		{"promoted only, target-role unpromoted", ServiceConfig{PromotedOnly: true}, resourceFacts{Promotable: true, Unpromoted: true}, instanceFacts{Active: true, Role: "Promoted"}, online, Drain, "demoted"},
		{"promoted only, promote pending", ServiceConfig{PromotedOnly: true}, resourceFacts{Promotable: true}, instanceFacts{Active: true, Role: "Promoted", Pending: "promote"}, online, Drain, "promote pending"},
		{"promoted only, promoted role banned", ServiceConfig{PromotedOnly: true}, resourceFacts{Promotable: true, BannedPromoted: map[string]bool{"node1": true}}, instanceFacts{Node: "node1", Active: true, Role: "Promoted"}, online, Drain, "demoted"},
		{"all roles, promoted role banned", ServiceConfig{}, resourceFacts{Promotable: true, BannedPromoted: map[string]bool{"node1": true}}, instanceFacts{Node: "node1", Active: true, Role: "Promoted"}, online, Serve, "running"},
		{"all roles serve", ServiceConfig{}, resourceFacts{Promotable: true}, instanceFacts{Active: true, Role: "Unpromoted"}, online, Serve, "running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.rsc.Banned == nil {
				tt.rsc.Banned = map[string]bool{}
			}
			if tt.in.Node == "" {
				tt.in.Node = "node1"
			}
			w, why := want(tt.svc, &tt.rsc, tt.in, tt.node)
			if w != tt.want || !strings.Contains(why, tt.reasonHas) {
				t.Errorf("want() = %s %q, want %s %q", w, why, tt.want, tt.reasonHas)
			}
		})
	}
}

func TestBuildView(t *testing.T) {
	cfg, err := ParseConfig([]byte(minimalConfig + "node_addresses: {node1: 198.18.1.1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Services = append(cfg.Services, ServiceConfig{Name: "gone", Resource: "nope", Backend: "be_x", Port: 1})
	attr := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	f := &clusterFacts{
		Version: "0.12.40",
		Nodes: map[string]*nodeFacts{
			"node1": {Name: "node1", Online: true, Attr: attr(nil)},
			"node2": {Name: "node2", Online: true, Attr: attr(map[string]string{"vnfha-address": "198.18.1.2"})},
			"node3": {Name: "node3", Online: true, Attr: attr(nil)},
		},
		Resources: map[string]*resourceFacts{"web-clone": {ID: "web-clone", Banned: map[string]bool{}, Instances: []instanceFacts{
			{ID: "web", Node: "node3", Active: true},
			{ID: "web", Node: "node2", Active: true},
			{ID: "web", Node: "node1", Active: true},
		}}},
	}
	v := buildView(cfg, f, time.Unix(0, 0))
	if v.Version != "0.12.40" || len(v.Nodes) != 3 || len(v.Services) != 2 {
		t.Fatalf("view: %+v", v)
	}
	web := v.Services[0]
	if len(web.Instances) != 3 || web.Instances[0].Node != "node1" || web.Instances[2].Node != "node3" {
		t.Fatalf("instances not sorted by node: %+v", web.Instances)
	}
	if a := web.Instances[0].Addr.String(); a != "198.18.1.1" {
		t.Errorf("node1 address from the config: %s", a)
	}
	if a := web.Instances[1].Addr.String(); a != "198.18.1.2" {
		t.Errorf("node2 address from the attribute: %s", a)
	}
	if e := web.Instances[2].Err; !strings.Contains(e, "node3 has no service address") {
		t.Errorf("node3 without an address: %q", e)
	}
	for _, in := range web.Instances {
		if !strings.HasPrefix(in.Server, cfg.ServerPrefix) || in.Port != 8080 {
			t.Errorf("server %q port %d", in.Server, in.Port)
		}
	}
	if web.Instances[0].Server == web.Instances[1].Server {
		t.Error("two instances share a server name")
	}
	if !strings.Contains(v.Services[1].Err, "nope") {
		t.Errorf("unknown resource: %q", v.Services[1].Err)
	}
	// The unknown resource's backend is left alone, and node3 (no
	// address) is left out of the pool.
	d := desiredFor(cfg, v, "lb1")
	if len(d.Backends) != 1 || d.Backends[0].Name != "be_vnfc" || len(d.Backends[0].Servers) != 2 {
		t.Fatalf("desired: %+v", d)
	}
}

// TestHeld: the hold attribute names services ("*" for all) and wins over
// every other rule, failures included: the operator's hand is respected.
func TestHeld(t *testing.T) {
	cfg, err := ParseConfig([]byte(minimalConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		value string
		want  bool
	}{
		{"web", true}, {"*", true}, {"db, web", true}, {"db,web", true}, {"webby", false}, {"", false}, {"db", false},
	} {
		n := &nodeFacts{Name: "node1", Online: true, Attr: func(k string) (string, bool) {
			return tt.value, k == DefaultHoldAttr
		}}
		if got := held(cfg, "web", n); got != tt.want {
			t.Errorf("hold %q: %v", tt.value, got)
		}
	}
	f := &clusterFacts{
		Nodes: map[string]*nodeFacts{"node1": {Name: "node1", Online: true, Attr: func(k string) (string, bool) {
			switch k {
			case DefaultHoldAttr:
				return "web", true
			case DefaultAddressAttr:
				return "198.18.1.1", true
			}
			return "", false
		}}},
		Resources: map[string]*resourceFacts{"web-clone": {Banned: map[string]bool{}, Instances: []instanceFacts{
			{ID: "web", Node: "node1", Active: true, Failed: true, FailedOp: "monitor returned 7"}}}},
	}
	in := buildView(cfg, f, time.Unix(0, 0)).Services[0].Instances[0]
	if in.Want != Hold || !strings.Contains(in.Reason, "was: fail") {
		t.Errorf("held failed instance: %s %q", in.Want, in.Reason)
	}
}

// TestServerNamesUnique: however the CIB repeats an instance (two
// node_state entries with one name, left by a node re-added under a new
// id), the desired pool names each server once; HAProxy's Reconcile
// refuses a backend that lists a server twice, which would leave the
// whole pool unreconciled.
func TestServerNamesUnique(t *testing.T) {
	cfg, err := ParseConfig([]byte(minimalConfig + "node_addresses: {node1: 198.18.1.1, node2: 198.18.1.2, node3: 198.18.1.3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		xml  []byte
		want map[string]Want
	}{
		{"stale entry running", withStaleNodeState(t, fixture(t, "running"), "node2", "99"),
			map[string]Want{"vnfha-web:node1": Serve, "vnfha-web:node2": Serve, "vnfha-web:node3": Serve}},
		{"stale entry behind a failure", withStaleNodeState(t, fixture(t, "web-failed"), "node2", "99"),
			map[string]Want{"vnfha-web:node1": Serve, "vnfha-web:node2": Fail, "vnfha-web:node3": Serve}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cib.Parse(tt.xml)
			if err != nil {
				t.Fatal(err)
			}
			v := buildView(cfg, factsFromCIB(c, nil), time.Unix(0, 0))
			d := desiredFor(cfg, v, "lb1")
			got := map[string]Want{}
			for _, s := range v.Services[0].Instances {
				if _, dup := got[s.Server]; dup {
					t.Errorf("server %s listed twice in the view", s.Server)
				}
				got[s.Server] = s.Want
			}
			if n := len(d.Backends[0].Servers); n != len(got) {
				t.Errorf("desired pool has %d servers for %d names", n, len(got))
			}
			for s, w := range tt.want {
				if got[s] != w {
					t.Errorf("%s: %s, want %s", s, got[s], w)
				}
			}
		})
	}
}

func TestUniqueServers(t *testing.T) {
	in := []Instance{{Server: "a", Want: Serve}, {Server: "b", Want: Drain}, {Server: "a", Want: Fail}, {Server: "b", Want: Serve}}
	out := uniqueServers(in)
	if len(out) != 2 || out[0].Want != Fail || out[1].Want != Drain {
		t.Errorf("uniqueServers: %+v", out)
	}
}

package cib

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/internal/fixture"
)

func TestParseCIBGolden(t *testing.T) {
	for _, name := range fixture.Cases(t, "testdata", ".xml") {
		t.Run(name, func(t *testing.T) {
			cib, err := Parse(fixture.Read(t, "testdata/"+name+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			fixture.Golden(t, "testdata", name, cib)
		})
	}
}

func TestParseCIBFacts(t *testing.T) {
	tests := []struct {
		fixture string
		check   func(t *testing.T, c *CIB)
	}{
		{"no-dc", func(t *testing.T, c *CIB) {
			if len(c.Status) != 0 || c.DCUUID != "" {
				t.Errorf("status %v, dc %q; want none", c.Status, c.DCUUID)
			}
			if v, _ := c.Property("cluster-name"); v != "vnfha-fixture" {
				t.Errorf("cluster-name = %q", v)
			}
			res := c.Configuration.Resources
			if len(res.Primitives) != 2 || len(res.Groups) != 1 || len(res.Clones) != 2 {
				t.Fatalf("resources = %+v", res)
			}
			state := res.Clones[1]
			if state.ID != "state-clone" || !state.Promotable || state.Primitive == nil || state.Primitive.Agent() != "ocf:pacemaker:Stateful" {
				t.Errorf("state-clone = %+v", state)
			}
			if res.Clones[0].Promotable {
				t.Errorf("web-clone parsed as promotable")
			}
			if len(c.Configuration.Alerts) != 1 || c.Configuration.Alerts[0].Recipients[0].Value != "/run/vnfha/alert.sock" {
				t.Errorf("alerts = %+v", c.Configuration.Alerts)
			}
			cs := c.Configuration.Constraints
			if len(cs.Colocations) != 1 || cs.Colocations[0].WithRscRole != "Promoted" || len(cs.Orders) != 1 || len(cs.Locations) != 1 {
				t.Errorf("constraints = %+v", cs)
			}
		}},
		{"promotable-running", func(t *testing.T, c *CIB) {
			if !c.HaveQuorum || c.DCUUID != "1" {
				t.Errorf("have-quorum %v, dc %q", c.HaveQuorum, c.DCUUID)
			}
			for node, want := range map[string]string{"node1": "10", "node2": "5", "node3": "5"} {
				n, ok := c.Node(node)
				if !ok || !n.Online() {
					t.Errorf("%s: %+v; want online", node, n)
				}
				if got, _ := n.PromotionScore("state"); got != want {
					t.Errorf("%s promotion score %q; want %q", node, got, want)
				}
			}
		}},
		{"failed-monitor", func(t *testing.T, c *CIB) {
			n, _ := c.Node("node1")
			var failed []string
			for _, r := range n.Resources {
				for _, op := range r.Ops {
					if op.Failed() {
						failed = append(failed, op.ID)
					}
				}
			}
			if !reflect.DeepEqual(failed, []string{"vip_last_failure_0"}) {
				t.Errorf("failed ops on node1 = %v", failed)
			}
			if v, _ := n.Attribute("fail-count-vip#monitor_10000"); v != "1" {
				t.Errorf("fail count = %q", v)
			}
		}},
		{"node-unclean", func(t *testing.T, c *CIB) {
			n, _ := c.Node("node1")
			if n.InCCM || !n.Crmd || n.Online() || n.Expected != "member" {
				t.Errorf("node1 = %+v; want out of membership while expected", n)
			}
		}},
		{"promotable-failover", func(t *testing.T, c *CIB) {
			n, _ := c.Node("node1")
			if n.InCCM || n.Crmd || n.Join != "down" {
				t.Errorf("node1 = %+v; want fenced and down", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			c, err := Parse(fixture.Read(t, "testdata/"+tt.fixture+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestNodeStateForms covers both encodings of in_ccm and crmd: the
// booleans written by Pacemaker before 2.1.7 (which the 2.1.5 fixtures
// hold) and the timestamps written since.
func TestNodeStateForms(t *testing.T) {
	tests := []struct {
		inCCM, crmd string
		member, up  bool
		memberSince int64
		upSince     int64
		wantErr     string
	}{
		{inCCM: "true", crmd: "online", member: true, up: true},
		{inCCM: "false", crmd: "offline"},
		{inCCM: "1", crmd: "online", member: true, up: true},
		{inCCM: "0", crmd: "0"},
		{inCCM: "1718000000", crmd: "1718000005", member: true, up: true, memberSince: 1718000000, upSince: 1718000005},
		{inCCM: "", crmd: ""},
		{inCCM: "maybe", crmd: "online", wantErr: `in_ccm="maybe"`},
		{inCCM: "true", crmd: "-5", wantErr: `crmd="-5"`},
	}
	for _, tt := range tests {
		t.Run(tt.inCCM+"/"+tt.crmd, func(t *testing.T) {
			member, ms, err1 := parseInCCM(tt.inCCM)
			up, us, err2 := parseCrmd(tt.crmd)
			err := err1
			if err == nil {
				err = err2
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if member != tt.member || ms != tt.memberSince || up != tt.up || us != tt.upSince {
				t.Errorf("got member %v since %d, up %v since %d", member, ms, up, us)
			}
		})
	}
}

func TestLRMOpFailed(t *testing.T) {
	tests := []struct {
		name string
		op   LRMOp
		want bool
	}{
		{"probe found stopped", LRMOp{RCCode: 7, ExpectedRC: 7}, false},
		{"monitor found stopped", LRMOp{RCCode: 7, ExpectedRC: 0}, true},
		{"promoted as expected", LRMOp{RCCode: 8, ExpectedRC: 8}, false},
		{"timed out", LRMOp{OpStatus: 2, ExpectedRC: 0}, true},
		{"pending", LRMOp{OpStatus: -1, ExpectedRC: 0, RCCode: 14}, false},
		{"no transition key", LRMOp{RCCode: 1, ExpectedRC: -1}, false},
	}
	for _, tt := range tests {
		if got := tt.op.Failed(); got != tt.want {
			t.Errorf("%s: Failed() = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseStatusSection(t *testing.T) {
	whole := fixture.Read(t, "testdata/promotable-running.xml")
	states, err := ParseStatusSection(whole)
	if err != nil || len(states) != 3 {
		t.Fatalf("states %d, err %v", len(states), err)
	}
	live, err := ParseStatusSection(fixture.Read(t, "testdata/status/lab-query-status-failed.xml"))
	if err != nil || len(live) != 3 {
		t.Fatalf("lab status: %d states, err %v", len(live), err)
	}
	var failed []string
	for _, n := range live {
		if !n.Online() {
			t.Errorf("%s not online in the live status: %+v", n.Uname, n)
		}
		for _, r := range n.Resources {
			for _, op := range r.Ops {
				if op.Failed() {
					failed = append(failed, n.Uname+":"+op.ID)
				}
			}
		}
	}
	if len(failed) != 1 || !strings.HasSuffix(failed[0], ":vip_last_failure_0") {
		t.Errorf("failed ops = %v; want vip's last failure", failed)
	}
	for _, bad := range []string{"", "<nodes/>", `<status><node_state id="1" in_ccm="x"/></status>`} {
		if _, err := ParseStatusSection([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "parse CIB status XML: ") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestParseCIBErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "parse CIB XML"},
		{"<pacemaker-result/>", "want <cib>"},
		{`<cib epoch="one"/>`, `epoch="one"`},
		{`<cib><status><node_state uname="n1" crmd="sideways"/></status></cib>`, `node_state "n1": crmd="sideways"`},
		{`<cib><status><node_state id="1"><lrm><lrm_resources><lrm_resource id="r"><lrm_rsc_op id="o" rc-code="x"/></lrm_resource></lrm_resources></lrm></node_state></status></cib>`, `rc-code="x"`},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) || c != nil {
			t.Errorf("%q: cib %v, err %v; want error with %q", tt.in, c, err, tt.want)
		}
	}
}

func FuzzParseCIB(f *testing.F) {
	fixture.Seed(f, "testdata", ".xml")
	fixture.Seed(f, "testdata/history", ".xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if (c == nil) == (err == nil) {
			t.Fatalf("cib %v and error %v: want exactly one", c, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "parse CIB XML: ") {
			t.Fatalf("error without context: %v", err)
		}
		// Whatever history the CIB holds, State replays it without
		// panicking and says something coherent.
		if c != nil {
			for _, n := range c.Status {
				for _, r := range n.Resources {
					st := r.State()
					if st.Active != (st.Role == RoleStarted || st.Role == RoleUnpromoted || st.Role == RolePromoted) || st.Failed != (st.FailedOp != nil) {
						t.Fatalf("incoherent state %+v", st)
					}
				}
			}
		}
	})
}

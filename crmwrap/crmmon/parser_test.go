package crmmon

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/internal/fixture"
)

func TestParseStatusGolden(t *testing.T) {
	for _, name := range fixture.Cases(t, "testdata", ".xml") {
		t.Run(name, func(t *testing.T) {
			st, err := Parse(fixture.Read(t, "testdata/"+name+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			fixture.Golden(t, "testdata", name, st)
		})
	}
}

// TestParseStatusFacts pins the facts that callers act on, so that a
// golden file regenerated carelessly cannot hide a regression in them.
func TestParseStatusFacts(t *testing.T) {
	tests := []struct {
		fixture string
		check   func(t *testing.T, st *Status)
	}{
		{"no-dc", func(t *testing.T, st *Status) {
			if st.Summary.DCPresent || st.Quorate() {
				t.Errorf("DC present %v, quorate %v; want neither", st.Summary.DCPresent, st.Quorate())
			}
			if n, _ := st.Node("node2"); n.Online {
				t.Errorf("node2 online before anything joined")
			}
		}},
		{"failed-start-reason", func(t *testing.T, st *Status) {
			// crm_mon 2.1.5 escapes the reason twice; callers get it as
			// the agent wrote it.
			want := `network_namespace "/etc" is not a network namespace & <x>`
			if len(st.Failures) != 1 || st.Failures[0].ExitReason != want {
				t.Errorf("failures = %+v; want one with reason %q", st.Failures, want)
			}
		}},
		{"promotable-running", func(t *testing.T, st *Status) {
			if !st.Quorate() || st.Summary.DCName != "node1" || st.Summary.Stack != "corosync" {
				t.Errorf("summary = %+v; want quorate, DC node1 on corosync", st.Summary)
			}
			if got := promotedOn(st, "state-clone"); !reflect.DeepEqual(got, []string{"node1"}) {
				t.Errorf("state-clone promoted on %v; want [node1]", got)
			}
			if st.APIVersion != "2.25" {
				t.Errorf("api version %q", st.APIVersion)
			}
		}},
		{"promotable-failover", func(t *testing.T, st *Status) {
			if got := promotedOn(st, "state-clone"); !reflect.DeepEqual(got, []string{"node2"}) {
				t.Errorf("state-clone promoted on %v; want [node2]", got)
			}
			if n, _ := st.Node("node1"); n.Online || n.Unclean {
				t.Errorf("node1 = %+v; want fenced: offline and clean", n)
			}
		}},
		{"node-unclean", func(t *testing.T, st *Status) {
			if n, _ := st.Node("node1"); n.Online || !n.Unclean {
				t.Errorf("node1 = %+v; want offline and unclean", n)
			}
		}},
		{"lab-running", func(t *testing.T, st *Status) {
			if !st.Quorate() || st.PacemakerdState != "running" || len(promotedOn(st, "state-clone")) != 1 {
				t.Errorf("summary %+v, pacemakerd %q", st.Summary, st.PacemakerdState)
			}
		}},
		{"lab-node-fenced", func(t *testing.T, st *Status) {
			if len(st.FenceHistory) != 1 {
				t.Fatalf("fence history = %+v; want one event", st.FenceHistory)
			}
			ev := st.FenceHistory[0]
			if ev.Status != FenceSuccess || ev.Action != "reboot" || ev.Delegate == "" || ev.Completed == "" {
				t.Errorf("fence event = %+v", ev)
			}
			if n, _ := st.Node(ev.Target); n.Online || n.Unclean {
				t.Errorf("fenced node %+v; want offline and clean", n)
			}
			if got := promotedOn(st, "state-clone"); len(got) != 1 || got[0] == ev.Target {
				t.Errorf("promoted on %v after fencing %s", got, ev.Target)
			}
		}},
		{"lab-resource-failed", func(t *testing.T, st *Status) {
			if len(st.Failures) != 1 || st.Failures[0].Task != "asyncmon" || st.Failures[0].ExitCode != 1 {
				t.Errorf("failures = %+v; want the asyncmon failure crm_resource --fail records", st.Failures)
			}
		}},
		{"lab-partition-minority", func(t *testing.T, st *Status) {
			if st.Quorate() || !st.Summary.DCPresent {
				t.Errorf("summary = %+v; want a DC without quorum", st.Summary)
			}
		}},
		{"no-quorum", func(t *testing.T, st *Status) {
			if !st.Summary.DCPresent || st.Quorate() {
				t.Errorf("DC present %v, quorate %v; want a DC without quorum", st.Summary.DCPresent, st.Quorate())
			}
			for _, in := range st.Instances() {
				if in.Active {
					t.Errorf("%s active without quorum", in.ID)
				}
			}
		}},
		{"failed-monitor", func(t *testing.T, st *Status) {
			if len(st.Failures) != 1 {
				t.Fatalf("failures = %+v; want one", st.Failures)
			}
			f := st.Failures[0]
			if f.OpKey != "vip_monitor_10000" || f.Node != "node1" || f.ExitCode != 7 || f.IntervalMs != 10000 || f.Task != "monitor" {
				t.Errorf("failure = %+v", f)
			}
		}},
		{"ban-group", func(t *testing.T, st *Status) {
			if len(st.Bans) != 1 || st.Bans[0].Resource != "grp" || st.Bans[0].Node != "node3" || st.Bans[0].Weight != -1000000 {
				t.Errorf("bans = %+v", st.Bans)
			}
		}},
		{"orphaned-resource", func(t *testing.T, st *Status) {
			var orphans []string
			for _, in := range st.Instances() {
				if in.Orphaned {
					orphans = append(orphans, in.ID)
				}
			}
			if !reflect.DeepEqual(orphans, []string{"grp-b"}) {
				t.Errorf("orphans = %v", orphans)
			}
		}},
		{"standby-maintenance", func(t *testing.T, st *Status) {
			n2, _ := st.Node("node2")
			n3, _ := st.Node("node3")
			if !n2.Standby || !n3.Maintenance {
				t.Errorf("node2 standby %v, node3 maintenance %v", n2.Standby, n3.Maintenance)
			}
		}},
		{"group-by-node", func(t *testing.T, st *Status) {
			n1, _ := st.Node("node1")
			if n1.Resources == nil || len(n1.Resources.Primitives) == 0 {
				t.Errorf("node1 carries no resources: %+v", n1)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			st, err := Parse(fixture.Read(t, "testdata/"+tt.fixture+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, st)
		})
	}
}

func promotedOn(st *Status, clone string) []string {
	var nodes []string
	for _, in := range st.Instances() {
		if in.Clone == clone && in.Role == "Promoted" {
			nodes = append(nodes, in.NodeNames()...)
		}
	}
	return nodes
}

func TestInstances(t *testing.T) {
	st, err := Parse(fixture.Read(t, "testdata/promotable-running.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range st.Instances() {
		got = append(got, strings.Join([]string{in.Clone, in.Group, in.ID, in.Role, strings.Join(in.NodeNames(), "+")}, "/"))
	}
	want := []string{
		"//fence-all/Started/node1",
		"//vip/Started/node1",
		"/grp/grp-a/Started/node3",
		"/grp/grp-b/Started/node3",
		"web-clone//web/Started/node1",
		"web-clone//web/Started/node2",
		"web-clone//web/Started/node3",
		"state-clone//state/Promoted/node1",
		"state-clone//state/Unpromoted/node2",
		"state-clone//state/Unpromoted/node3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("instances:\n got %q\nwant %q", got, want)
	}
}

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		fixture, rsc string
		want         map[string]string
	}{
		{"promotable-running", "state", map[string]string{"node1": "Promoted", "node2": "Unpromoted", "node3": "Unpromoted"}},
		{"promotable-running", "web", map[string]string{"node1": "Started", "node2": "Started", "node3": "Started"}},
		{"promotable-running", "grp-a", map[string]string{"node3": "Started"}},
		{"promotable-running", "web-clone", map[string]string{}}, // a clone's id, not its primitive's
		{"promotable-running", "nosuch", map[string]string{}},
		{"failed-start", "web", map[string]string{}}, // failed on node2, stopped elsewhere
		{"failed-start", "state", map[string]string{}},
	} {
		t.Run(tc.fixture+"/"+tc.rsc, func(t *testing.T) {
			st, err := Parse(fixture.Read(t, "testdata/"+tc.fixture+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Roles(tc.rsc); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseStatusErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "parse crm_mon XML"},
		{"not xml", "crm_mon: command not found", "parse crm_mon XML"},
		{"wrong root", "<cib/>", "want <pacemaker-result>"},
		{"no status", "<pacemaker-result/>", "no <status>"},
		{"bad code", `<pacemaker-result><status code="x" message=""/></pacemaker-result>`, `code="x"`},
		{"bad bool", `<pacemaker-result><nodes><node name="n" online="maybe"/></nodes><status code="0" message="OK"/></pacemaker-result>`, `online="maybe"`},
		{"bad count", `<pacemaker-result><summary><nodes_configured number="many"/></summary><status code="0" message="OK"/></pacemaker-result>`, `number="many"`},
		{"too deep", `<pacemaker-result><resources>` + strings.Repeat("<clone>", 20) + strings.Repeat("</clone>", 20) + `</resources><status code="0" message="OK"/></pacemaker-result>`, "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want it to contain %q", err, tt.want)
			}
			if st != nil {
				t.Errorf("status = %+v on error", st)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	fixture.Seed(f, "testdata", ".xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse(data)
		if (st == nil) == (err == nil) {
			t.Fatalf("status %v and error %v: want exactly one", st, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "parse crm_mon XML: ") {
			t.Fatalf("error without context: %v", err)
		}
		if st != nil {
			st.Instances()
		}
	})
}

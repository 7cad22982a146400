package bridge

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/cib"
)

// TestFactsFromRecordedCIBs reads every recorded cluster state and checks
// what the pool rules are given: instances with their state, standby,
// bans, target-role, offline nodes.
func TestFactsFromRecordedCIBs(t *testing.T) {
	// inst renders the instances of a resource as node=state, sorted.
	inst := func(r *resourceFacts) string {
		var out []string
		for _, in := range r.Instances {
			st := in.Role
			if in.Failed {
				st = "failed"
			}
			if in.Pending != "" {
				st += "+" + in.Pending
			}
			out = append(out, fmt.Sprintf("%s@%s=%s", in.ID, in.Node, st))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	tests := []struct {
		file string
		rsc  string
		want string
		more func(t *testing.T, f *clusterFacts)
	}{
		{"running", "web-clone", "web@node1=Started web@node2=Started web@node3=Started", nil},
		{"running", "web", "web@node1=Started web@node2=Started web@node3=Started", nil}, // the primitive means its clone
		{"running", "db-clone", "", func(t *testing.T, f *clusterFacts) {
			r := f.Resources["db-clone"]
			promoted := 0
			for _, in := range r.Instances {
				if in.Role == "Promoted" {
					promoted++
				}
			}
			if !r.Promotable || len(r.Instances) != 3 || promoted != 1 {
				t.Errorf("db-clone: promotable %v, %s", r.Promotable, inst(r))
			}
		}},
		{"running", "grp-clone", "grp@node1=Started grp@node2=Started grp@node3=Started", nil},
		{"running", "solo", "", func(t *testing.T, f *clusterFacts) {
			if r := f.Resources["solo"]; len(r.Instances) != 1 || !r.Instances[0].Active {
				t.Errorf("solo: %s", inst(r))
			}
		}},
		{"web-failed", "web-clone", "web@node1=Started web@node2=failed web@node3=Started", func(t *testing.T, f *clusterFacts) {
			for _, in := range f.Resources["web-clone"].Instances {
				if in.Node == "node2" && !strings.Contains(in.FailedOp, "reported at once") {
					t.Errorf("failed op: %q", in.FailedOp)
				}
			}
		}},
		{"web-recovered", "web-clone", "web@node1=Started web@node2=Started web@node3=Started", nil},
		{"node2-standby", "web-clone", "web@node1=Started web@node2=Stopped web@node3=Started", func(t *testing.T, f *clusterFacts) {
			if !f.Nodes["node2"].Standby || f.Nodes["node1"].Standby {
				t.Error("standby not read from node2's attribute")
			}
		}},
		{"web-banned-node3", "web-clone", "web@node1=Started web@node2=Started web@node3=Stopped", func(t *testing.T, f *clusterFacts) {
			if r := f.Resources["web"]; !r.Banned["node3"] || r.Banned["node1"] {
				t.Errorf("bans %v", r.Banned)
			}
		}},
		{"web-disabled", "web-clone", "web@node1=Stopped web@node2=Stopped web@node3=Stopped", func(t *testing.T, f *clusterFacts) {
			if !f.Resources["web-clone"].Stopped || f.Resources["db-clone"].Stopped {
				t.Error("target-role Stopped not read")
			}
		}},
		{"node3-fenced", "web-clone", "web@node1=Started web@node2=Started", func(t *testing.T, f *clusterFacts) {
			if n := f.Nodes["node3"]; n == nil || n.Online {
				t.Errorf("node3: %+v", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.rsc, func(t *testing.T) {
			c, err := cib.Parse(fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			f := factsFromCIB(c, nil)
			r, ok := f.Resources[tt.rsc]
			if !ok {
				t.Fatalf("no resource %s", tt.rsc)
			}
			if got := inst(r); tt.want != "" && got != tt.want {
				t.Errorf("instances %s, want %s", got, tt.want)
			}
			if tt.more != nil {
				tt.more(t, f)
			}
		})
	}
}

// TestFactsHistoryErased: while a cleanup or a DC's re-read has erased a
// resource's history on an online node, what runs there is unknown, not
// stopped: the instance is reported as unknown so that its server is left
// as it is until Pacemaker has probed it again. A node that is offline
// with no history (fenced) still has no instance at all.
func TestFactsHistoryErased(t *testing.T) {
	running := fixture(t, "running")
	tests := []struct {
		name string
		xml  []byte
		rsc  string
		want string
	}{
		{"web cleaned up everywhere", withoutHistory(t, running, []string{"web"}), "web-clone",
			"web@node1=unknown web@node2=unknown web@node3=unknown"},
		{"web cleaned up on node2", withoutHistory(t, running, []string{"web"}, "node2"), "web-clone",
			"web@node1=Started web@node2=unknown web@node3=Started"},
		{"one group member erased so far", withoutHistory(t, running, []string{"g1"}, "node1"), "grp-clone",
			"grp@node1=unknown grp@node2=Started grp@node3=Started"},
		{"fenced node", fixture(t, "node3-fenced"), "web-clone", "web@node1=Started web@node2=Started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cib.Parse(tt.xml)
			if err != nil {
				t.Fatal(err)
			}
			r := factsFromCIB(c, nil).Resources[tt.rsc]
			var out []string
			for _, in := range r.Instances {
				st := in.Role
				if in.Unknown {
					st = "unknown"
				}
				out = append(out, fmt.Sprintf("%s@%s=%s", in.ID, in.Node, st))
			}
			sort.Strings(out)
			if got := strings.Join(out, " "); got != tt.want {
				t.Errorf("instances %s, want %s", got, tt.want)
			}
		})
	}
}

// TestFactsBans: which location constraints are a planned stop of an
// instance on a node. `pcs resource ban --promoted` bans the Promoted role
// only (a demote, which only a promoted_only service drains for); a score
// of -1000000 or below is -INFINITY to Pacemaker; a constraint with a rule
// is not evaluated, and bans nothing here.
func TestFactsBans(t *testing.T) {
	running := fixture(t, "running")
	tests := []struct {
		name                  string
		constraints           string
		rsc                   string
		banned, bannedPromote string
	}{
		{"pcs resource ban", `<rsc_location id="cli-ban-web-clone-on-node3" rsc="web-clone" role="Started" node="node3" score="-INFINITY"/>`, "web-clone", "node3", ""},
		{"no role", `<rsc_location id="l1" rsc="web-clone" node="node2" score="-INFINITY"/>`, "web-clone", "node2", ""},
		{"promoted role", `<rsc_location id="cli-ban-db-clone-on-node1" rsc="db-clone" role="Promoted" node="node1" score="-INFINITY"/>`, "db-clone", "", "node1"},
		{"master role", `<rsc_location id="l2" rsc="db-clone" role="Master" node="node2" score="-INFINITY"/>`, "db-clone", "", "node2"},
		{"numeric minus infinity", `<rsc_location id="l3" rsc="web-clone" node="node1" score="-1000000"/>`, "web-clone", "node1", ""},
		{"finite score", `<rsc_location id="l4" rsc="web-clone" node="node1" score="-999999"/>`, "web-clone", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cib.Parse(withConstraints(t, running, tt.constraints))
			if err != nil {
				t.Fatal(err)
			}
			r := factsFromCIB(c, nil).Resources[tt.rsc]
			names := func(m map[string]bool) string {
				var out []string
				for n, ok := range m {
					if ok {
						out = append(out, n)
					}
				}
				sort.Strings(out)
				return strings.Join(out, ",")
			}
			if got := names(r.Banned); got != tt.banned {
				t.Errorf("banned %q, want %q", got, tt.banned)
			}
			if got := names(r.BannedPromoted); got != tt.bannedPromote {
				t.Errorf("banned from the Promoted role %q, want %q", got, tt.bannedPromote)
			}
		})
	}
}

func TestInstanceSuffix(t *testing.T) {
	for _, tt := range []struct {
		id, member, suffix string
		ok                 bool
	}{
		{"web", "web", "", true},
		{"web:2", "web", ":2", true},
		{"web:", "web", "", false},
		{"web:x", "web", "", false},
		{"webby", "web", "", false},
		{"web:2:3", "web", "", false},
	} {
		s, ok := instanceSuffix(tt.id, tt.member)
		if s != tt.suffix || ok != tt.ok {
			t.Errorf("instanceSuffix(%q, %q) = %q %v", tt.id, tt.member, s, ok)
		}
	}
}

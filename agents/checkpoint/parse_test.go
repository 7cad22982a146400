package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/checkpoint"
)

// TestParseNodelist reads corosync.conf files recorded from the real
// thing: Debian 12's default (the corosync package's), and the lab's.
func TestParseNodelist(t *testing.T) {
	for _, tt := range []struct {
		file string
		want []clusterNode
	}{
		{"debian12-default-corosync.conf", []clusterNode{{Name: "node1", Addr: "127.0.0.1", ID: 1}}},
		{"lab3-corosync.conf", []clusterNode{
			{Name: "node1", Addr: "198.18.0.1", ID: 1}, {Name: "node2", Addr: "198.18.0.2", ID: 2}, {Name: "node3", Addr: "198.18.0.3", ID: 3}}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			got, err := readNodelist(filepath.Join("testdata", tt.file))
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("readNodelist = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if got, err := readNodelist(filepath.Join(t.TempDir(), "missing")); got != nil || err != nil {
		t.Errorf("a missing corosync.conf: %v %v, want nothing", got, err)
	}
}

func TestParseNodelistErrors(t *testing.T) {
	lab, err := os.ReadFile(filepath.Join("testdata", "lab3-corosync.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, conf, want string
	}{
		{"unclosed", "nodelist {\n node {\n ring0_addr: 10.0.0.1\n", "the section opened on line 2 is not closed"},
		{"extra close", "totem {\n}\n}\n", "line 3: '}' closes no section"},
		{"garbage line", "totem {\n what is this\n}\n", "line 2: neither key: value nor a section"},
		{"no address", "nodelist {\n node {\n name: a\n }\n}\n", "node 1 has no ring0_addr"},
		{"bad address", "nodelist {\n node {\n name: a\n ring0_addr: 10.0.0.1;rm -rf\n }\n}\n", "ring0_addr"},
		{"bad name", "nodelist {\n node {\n name: a=b\n ring0_addr: 10.0.0.1\n }\n}\n", "name holds"},
		{"twice", "nodelist {\n node {\n name: a\n ring0_addr: 10.0.0.1\n }\n node {\n name: a\n ring0_addr: 10.0.0.2\n }\n}\n", "its name is listed twice"},
		{"bad id", "nodelist {\n node {\n name: a\n ring0_addr: 10.0.0.1\n nodeid: x\n }\n}\n", "nodeid is not a number"},
		{"deep", strings.Repeat("a {\n", 40) + strings.Repeat("}\n", 40), "nested deeper"},
		{"unnamed section", "{\n}\n", "a section needs a name"},
		{"the lab's, cut", string(lab[:len(lab)-3]), "not closed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseNodelist([]byte(tt.conf))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseNodelist = %v, want an error with %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "rm -rf") {
				t.Errorf("the error quotes the file: %v", err)
			}
		})
	}
	// A node without a name is known by its address, as corosync knows it.
	got, err := parseNodelist([]byte("nodelist {\n\tnode {\n\t\tring0_addr: 10.0.0.9\n\t}\n}\n"))
	if err != nil || len(got) != 1 || got[0].Name != "10.0.0.9" {
		t.Errorf("nameless node: %+v %v", got, err)
	}
}

func FuzzParseNodelist(f *testing.F) {
	for _, name := range []string{"debian12-default-corosync.conf", "lab3-corosync.conf"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("nodelist {\nnode {\nring0_addr: ::1\n}\n}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		nodes, err := parseNodelist(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range nodes {
			if seen[n.Name] || checkNodeName(n.Name) != nil || checkHost(n.Addr) != nil {
				t.Fatalf("parseNodelist returned a node it should refuse: %+v", n)
			}
			seen[n.Name] = true
		}
	})
}

// TestParseMarks reads the CIB's configuration as the lab's Pacemaker
// 2.1.5 wrote it: without marks, and after crm_attribute set node1's mark
// to sync, node2's to stale, another resource's mark on node3, and the
// epoch floor to 7.
func TestParseMarks(t *testing.T) {
	for _, tt := range []struct {
		file, resource string
		want           clusterMarks
	}{
		{"cib-config-nomarks.xml", "ckpt", clusterMarks{Marks: map[string]string{}}},
		{"cib-config-marks.xml", "ckpt", clusterMarks{Marks: map[string]string{"node1": "sync", "node2": "stale"}, Epoch: 7}},
		{"cib-config-marks.xml", "other", clusterMarks{Marks: map[string]string{"node3": "sync"}}},
		{"cib-config-marks.xml", "nosuch", clusterMarks{Marks: map[string]string{}}},
	} {
		t.Run(tt.file+"/"+tt.resource, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseMarks(b, tt.resource)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseMarks = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "<configuration>", "not xml", "<cib/>",
		`<configuration><crm_config><cluster_property_set><nvpair name="vnfha-checkpoint-ckpt-epoch" value="-1"/></cluster_property_set></crm_config></configuration>`} {
		if _, err := parseMarks([]byte(bad), "ckpt"); err == nil {
			t.Errorf("parseMarks(%q) succeeded", bad)
		}
	}
}

func FuzzParseMarks(f *testing.F) {
	for _, name := range []string{"cib-config-nomarks.xml", "cib-config-marks.xml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMarks(b, "ckpt")
		if err == nil && m.Marks == nil {
			t.Fatal("parseMarks succeeded without a map")
		}
	})
}

// TestWantScore is the score table of design13, over the status a store
// reports and its node's mark.
func TestWantScore(t *testing.T) {
	primary := checkpoint.Status{Role: checkpoint.RolePrimary}
	standby := checkpoint.Status{Role: checkpoint.RoleStandby}
	connected := checkpoint.Status{Role: checkpoint.RoleStandby, Connected: true}
	caughtUp := checkpoint.Status{Role: checkpoint.RoleStandby, Connected: true, CaughtUp: true}
	sync := checkpoint.Status{Role: checkpoint.RoleStandby, Connected: true, CaughtUp: true, Sync: true}
	for _, tt := range []struct {
		name    string
		st      checkpoint.Status
		own     string
		anyMark bool
		want    int
	}{
		{"primary", primary, checkpoint.MarkSync, true, scorePrimary},
		{"primary, stale mark (the store decides)", primary, checkpoint.MarkStale, true, scorePrimary},
		{"sync standby", sync, checkpoint.MarkSync, true, scoreSync},
		{"primary gone, mark sync", standby, checkpoint.MarkSync, true, scoreSync},
		{"connected, not yet sync, mark sync", connected, checkpoint.MarkSync, true, scoreCatchingUp},
		{"caught up, not yet sync, mark sync", caughtUp, checkpoint.MarkSync, true, scoreCatchingUp},
		{"new store", standby, "", false, scoreBootstrap},
		{"new store, connected", connected, "", false, scoreBootstrap},
		{"mark stale", standby, checkpoint.MarkStale, true, noScore},
		{"mark stale, connected", connected, checkpoint.MarkStale, true, noScore},
		{"mark stale, caught up", caughtUp, checkpoint.MarkStale, true, noScore},
		{"no mark while others have one", standby, "", true, noScore},
		{"a mark no agent writes", standby, "SYNC", true, noScore},
		{"an empty mark", standby, "", true, noScore},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := wantScore(tt.st, tt.own, tt.anyMark); got != tt.want {
				t.Errorf("wantScore = %d, want %d", got, tt.want)
			}
			if !needsMarks(tt.st) && tt.st.Role != checkpoint.RolePrimary && !tt.st.Sync {
				t.Error("needsMarks says no where the table reads the mark")
			}
		})
	}
}

// TestPromotableHere is promote's decision before it asks the store.
func TestPromotableHere(t *testing.T) {
	for _, tt := range []struct {
		name  string
		marks map[string]string
		ok    bool
		want  string
	}{
		{"sync", map[string]string{"node1": "sync", "node2": "stale"}, true, ""},
		{"new store", map[string]string{}, true, ""},
		{"stale", map[string]string{"node1": "stale", "node2": "sync"}, false, "node node1 is marked stale"},
		{"no mark, others have", map[string]string{"node2": "sync"}, false, "no mark while other nodes have one"},
		{"odd mark", map[string]string{"node1": "maybe"}, false, "neither sync nor stale"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := promotableHere(clusterMarks{Marks: tt.marks}, "node1")
			if (err == nil) != tt.ok || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("promotableHere = %v, want ok=%v %q", err, tt.ok, tt.want)
			}
			var se *checkpoint.StaleError
			if err != nil && !errorsAs(err, &se) {
				t.Errorf("%T is not a *checkpoint.StaleError", err)
			}
		})
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// TestUnpromotable: the peers a promote ignores are those the marks
// forbid promoting, whether named by the peers list or only by a mark;
// none while no node has a mark (a new store).
func TestUnpromotable(t *testing.T) {
	peers := map[string]string{"node1": "a:1", "node2": "b:1", "node3": "c:1"}
	for _, tt := range []struct {
		name  string
		marks map[string]string
		want  []string
	}{
		{"new store", map[string]string{}, nil},
		{"all sync", map[string]string{"node1": "sync", "node2": "sync", "node3": "sync"}, nil},
		{"a stale old primary", map[string]string{"node1": "stale", "node2": "sync", "node3": "sync"}, []string{"node1"}},
		{"no mark while others have", map[string]string{"node2": "sync"}, []string{"node1", "node3"}},
		{"a mark on a node that is no peer", map[string]string{"node1": "sync", "node2": "sync", "node3": "sync", "node4": "stale"}, []string{"node4"}},
		{"a hand's odd mark", map[string]string{"node1": "sync", "node2": "maybe", "node3": "sync"}, []string{"node2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := unpromotable(clusterMarks{Marks: tt.marks}, peers)
			if !slices.Equal(got, tt.want) {
				t.Errorf("unpromotable = %v, want %v", got, tt.want)
			}
		})
	}
}

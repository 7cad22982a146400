package bridge

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/crmwrap/cib"
)

// The events of the recorded CIBs (testdata/README.md): the kill -9 of
// web's VNFC on node2 (call 13 at 1796283797) is a vnfc.failed in every
// CIB taken after it, with the same id, until a cleanup; it is also a
// vnfc.recovered wherever the instance runs again on node2.
func TestVNFCEvents(t *testing.T) {
	cfg, err := ParseConfig([]byte("cluster: lab\n" + minimalConfig + "node_addresses: {node1: 198.18.1.1, node2: 198.18.1.2, node3: 198.18.1.3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	const (
		failed  = "vnfc.failed lab/web/node2/failed/13-1796283797"
		recover = "vnfc.recovered lab/web/node2/failed/13-1796283797/recovered"
	)
	tests := []struct {
		file string
		want []string
	}{
		{"running.xml", nil},
		// Not recovered yet: the restart is still to come.
		{"web-failed.xml", []string{failed}},
		{"web-recovered.xml", []string{failed, recover}},
		// Stopped on node2 (standby, disabled): the failure is still
		// recorded; the instance does not run, so nothing says it
		// recovered (the earlier snapshot said so already).
		{"node2-standby.xml", []string{failed}},
		{"web-disabled.xml", []string{failed}},
		{"web-banned-node3.xml", []string{failed, recover}},
		{"node3-fenced.xml", []string{failed, recover}},
		// A later recording of the same steps: another failure, another id.
		{"web-stopping-after-recovery.xml", []string{"vnfc.failed lab/web/node2/failed/13-1796285695",
			"vnfc.recovered lab/web/node2/failed/13-1796285695/recovered"}},
		// Histories rewritten or not yet written: no failure record.
		{"node1-history-rewritten.xml", nil},
		{"node2-rejoining.xml", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := cib.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			evs := vnfcEvents(cfg, factsFromCIB(c, serviceResources(cfg)), nil, time.Unix(1796283797, 0)).Events
			var got []string
			for _, e := range evs {
				got = append(got, e.Type+" "+e.ID)
				if e.Source != "/vnfha/clusters/lab" || e.Subject != "web:node2" || e.Data.Resource != "web" ||
					e.Data.Node != "node2" || e.Data.Service != "web" || e.Time.IsZero() {
					t.Errorf("event %+v: wrong source, subject, data or time", e)
				}
				if e.Type == delivery.VNFCFailed {
					if e.Data.Operation != "asyncmon" || e.Data.RC == nil || *e.Data.RC != 1 ||
						e.Data.Reason != "monitor (reported at once) returned 1 (error): Simulated failure" {
						t.Errorf("failed event data %+v", e.Data)
					}
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
}

// The same failure fact, seen through two services over one resource, is
// one event.
func TestVNFCEventsOneFactTwoServices(t *testing.T) {
	cfg, err := ParseConfig([]byte("cluster: lab\n" + minimalConfig + `  - {name: web2, resource: web-clone, backend: be_other, port: 8080}
node_addresses: {node1: 198.18.1.1, node2: 198.18.1.2, node3: 198.18.1.3}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/web-recovered.xml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := cib.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if evs := vnfcEvents(cfg, factsFromCIB(c, serviceResources(cfg)), nil, time.Unix(1796283797, 0)).Events; len(evs) != 2 {
		t.Errorf("%d events, want 2 (failed, recovered): %+v", len(evs), evs)
	}
	if got := unixTime(1796283797); !got.Equal(time.Unix(1796283797, 0)) || unixTime(0) != (time.Time{}) {
		t.Errorf("unixTime: %v", got)
	}
}

// eventsConfig is the services of the recorder of vnfc.lost and
// vnfc.unrecoverable (testdata/README.md).
const eventsConfig = `cluster: lab
haproxy: [{name: lb1, admin: /run/a.sock}]
node_addresses: {node1: 198.18.1.1, node2: 198.18.1.2, node3: 198.18.1.3}
services:
  - {name: app, resource: app-clone, backend: be1, port: 80}
  - {name: solo, resource: solo, backend: be2, port: 81}
  - {name: once, resource: once, backend: be3, port: 82}
`

// loadFacts reads a recorded CIB's facts.
func loadFacts(t *testing.T, cfg *Config, file string) *clusterFacts {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cib.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return factsFromCIB(c, serviceResources(cfg))
}

// loadFences reads a recorded fence history (crmwrap's testdata).
func loadFences(t *testing.T, file string) []crmwrap.Fencing {
	t.Helper()
	if file == "" {
		return nil
	}
	b, err := os.ReadFile("../crmwrap/testdata/stonith_admin/" + file)
	if err != nil {
		t.Fatal(err)
	}
	fs, _, err := crmwrap.ParseFenceHistory(b)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// The recorded loss of node3, twice, and the VNFC that Pacemaker gave up
// on, each CIB with the fence history as it was when the CIB was taken.
// node3's record was written at 1796304970 (app, solo) and again at
// 1796304988 after it rejoined; it was fenced at 1796304980 and
// 1796304995; a fencing of "ghost" failed between.
func TestVNFCEventsLostUnrecoverable(t *testing.T) {
	cfg, err := ParseConfig([]byte(eventsConfig))
	if err != nil {
		t.Fatal(err)
	}
	const (
		lost1App  = "vnfc.lost lab/app/node3/lost/1796304980"
		lost1Solo = "vnfc.lost lab/solo/node3/lost/1796304980"
		lost2App  = "vnfc.lost lab/app/node3/lost/1796304995"
		lost2Solo = "vnfc.lost lab/solo/node3/lost/1796304995"
		onceNode1 = "vnfc.failed lab/once/node1/failed/29-1796305005"
		onceNode2 = "vnfc.failed lab/once/node2/failed/33-1796305002"
		onceNode3 = "vnfc.failed lab/once/node3/failed/23-1796305005"
		gaveUp    = "vnfc.unrecoverable lab/once/node1/unrecoverable/29-1796305005"
	)
	later := time.Unix(1796305005, 0).Add(time.Hour)
	tests := []struct {
		file, history string
		want          []string
		needHistory   bool
	}{
		{file: "ran-recorded.xml"},
		// Lost, not yet fenced: nothing to report, but the history is
		// to be read until the fencing shows.
		{file: "node3-lost-unfenced.xml", needHistory: true},
		{file: "node3-lost-fenced.xml", history: "history-once.xml", want: []string{lost1App, lost1Solo}, needHistory: true},
		// Back, with a record newer than the first fencing: no loss.
		{file: "node3-rejoined.xml", history: "history-once.xml"},
		// Fenced again: a second fact, with its own id; the first
		// fencing predates the record and the failed one counts for
		// nothing.
		{file: "node3-fenced-again.xml", history: "history.xml", want: []string{lost2App, lost2Solo}, needHistory: true},
		// Banned from node1 by migration-threshold=1 while its stop runs:
		// still active there.
		{file: "once-moving.xml", history: "history.xml", want: []string{lost2App, lost2Solo, onceNode1, onceNode2}},
		// Nowhere to go: reported at once, on the node where it ran.
		{file: "once-unrecoverable.xml", history: "history.xml", want: []string{lost2App, lost2Solo, onceNode1, onceNode2, onceNode3, gaveUp}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := loadFacts(t, cfg, tt.file)
			if got := needFenceHistory(cfg, f); got != tt.needHistory {
				t.Errorf("needFenceHistory = %v, want %v", got, tt.needHistory)
			}
			for _, now := range []time.Time{time.Unix(1796305005, 0), later} {
				d := vnfcEvents(cfg, f, loadFences(t, tt.history), now)
				var got []string
				for _, e := range d.Events {
					got = append(got, e.Type+" "+e.ID)
					checkEvent(t, e)
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tt.want))
				if !slices.Equal(got, want) {
					t.Errorf("now %v: events\n%q\nwant\n%q", now.Unix(), got, want)
				}
				if !d.RecheckAt.IsZero() {
					t.Errorf("RecheckAt %v, want none (rule a needs no timer)", d.RecheckAt)
				}
				if want := []string{`service solo: resource solo: meta attribute vnfha-vnfc-instance-ids ignored: item 1 ("node3") is not node=id`}; !slices.Equal(d.Problems, want) {
					t.Errorf("problems %q, want %q", d.Problems, want)
				}
			}
		})
	}
}

// checkEvent checks what every vnfc event of the recorded cluster
// carries: the VNFM ids of app-clone's meta attributes, a time, a subject.
func checkEvent(t *testing.T, e delivery.Event) {
	t.Helper()
	if e.Source != "/vnfha/clusters/lab" || e.Subject != e.Data.Resource+":"+e.Data.Node || e.Time.IsZero() {
		t.Errorf("event %+v: wrong source, subject or time", e)
	}
	wantVNF, wantVNFC := "", ""
	if e.Data.Service == "app" {
		wantVNF, wantVNFC = "vnf-7c1e", map[string]string{"node1": "vnfc-a1", "node2": "vnfc-a2", "node3": "vnfc-a3"}[e.Data.Node]
	}
	if e.Data.VNFInstanceID != wantVNF || e.Data.VNFCInstanceID != wantVNFC {
		t.Errorf("event %s: VNFM ids %q %q, want %q %q", e.ID, e.Data.VNFInstanceID, e.Data.VNFCInstanceID, wantVNF, wantVNFC)
	}
	switch e.Type {
	case delivery.VNFCLost:
		if e.Data.RC != nil || !strings.Contains(e.Data.Reason, "was fenced (reboot, by node1") {
			t.Errorf("lost event %+v", e.Data)
		}
	case delivery.VNFCUnrecoverable:
		if e.Data.Operation != "asyncmon" || e.Data.RC == nil || *e.Data.RC != 1 || !e.Time.Equal(time.Unix(1796305005, 0)) ||
			!strings.Contains(e.Data.Reason, "no node can run it (node1: fail count 2, migration-threshold 1; node2: fail count INFINITY") {
			t.Errorf("unrecoverable event %+v at %v", e.Data, e.Time)
		}
	}
}

// The config's VNFM ids win over the CIB's meta attributes; a node the
// config does not list falls back to them.
func TestVNFCEventsIDsFromConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(strings.Replace(eventsConfig, "port: 80}",
		"port: 80, vnf_instance_id: vnf-cfg, vnfc_instance_ids: {node3: vnfc-cfg3}}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	f := loadFacts(t, cfg, "node3-fenced-again.xml")
	d := vnfcEvents(cfg, f, loadFences(t, "history.xml"), time.Unix(1796305005, 0))
	n := 0
	for _, e := range d.Events {
		if e.Data.Service == "app" {
			n++
			if e.Data.VNFInstanceID != "vnf-cfg" || e.Data.VNFCInstanceID != "vnfc-cfg3" {
				t.Errorf("%s: ids %q %q", e.ID, e.Data.VNFInstanceID, e.Data.VNFCInstanceID)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d app events, want 1: %+v", n, d.Events)
	}
	if got := (eventMaker{cfg: cfg, s: cfg.Services[0], r: f.Resources["app-clone"]}).data("app", "node1"); got.VNFCInstanceID != "vnfc-a1" || got.VNFInstanceID != "vnf-cfg" {
		t.Errorf("node1: %+v", got)
	}
}

// Rule b, on the facts of real CIBs with one fact changed to what rule a
// does not see: the deadline comes back as RecheckAt before it passes,
// and the event, with the same id as rule a's, after.
func TestVNFCEventsUnrecoverableAfter(t *testing.T) {
	cfg, err := ParseConfig([]byte(eventsConfig))
	if err != nil {
		t.Fatal(err)
	}
	// A primitive: as if a rule-based location, not the fail counts,
	// kept "once" off every node.
	f := loadFacts(t, cfg, "once-unrecoverable.xml")
	f.Resources["once"].MigrationThreshold = infinity
	due := time.Unix(1796305005, 0).Add(DefaultUnrecoverableAfter)
	wantUnrecoverable(t, cfg, f, due.Add(-time.Second), due, "")
	wantUnrecoverable(t, cfg, f, due, time.Time{}, "lab/once/node1/unrecoverable/29-1796305005")
	// Stopped by the operator, or the cluster in maintenance: nothing.
	f.Resources["once"].Stopped = true
	wantUnrecoverable(t, cfg, f, due, time.Time{}, "")
	f.Resources["once"].Stopped, f.Maintenance = false, true
	wantUnrecoverable(t, cfg, f, due, time.Time{}, "")

	// A clone's instance: web's on node2, as if its stop had ended and
	// no restart followed (the clone runs 2 of 3).
	wcfg, err := ParseConfig([]byte("cluster: lab\n" + minimalConfig + "node_addresses: {node1: 198.18.1.1, node2: 198.18.1.2, node3: 198.18.1.3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f = loadFacts(t, wcfg, "web-failed.xml")
	r := f.Resources["web-clone"]
	for i := range r.Instances {
		if r.Instances[i].Node == "node2" {
			r.Instances[i].Active = false
		}
	}
	due = time.Unix(1796283797, 0).Add(DefaultUnrecoverableAfter)
	wantUnrecoverable(t, wcfg, f, due.Add(-time.Minute), due, "")
	wantUnrecoverable(t, wcfg, f, due, time.Time{}, "lab/web/node2/unrecoverable/13-1796283797")
	// node2 in standby: a planned stop, not a failure to recover.
	f.Nodes["node2"].Standby = true
	wantUnrecoverable(t, wcfg, f, due, time.Time{}, "")
	f.Nodes["node2"].Standby = false
	// With migration-threshold 1 the fail count bans node2 and every
	// other node runs an instance: rule a, at once, the same id.
	r.MigrationThreshold, r.FailCount["node2"] = 1, 1
	wantUnrecoverable(t, wcfg, f, time.Unix(1796283797, 0), time.Time{}, "lab/web/node2/unrecoverable/13-1796283797")
	// clone-max 2: the two that run are all it wants.
	r.CloneMax = 2
	wantUnrecoverable(t, wcfg, f, due, time.Time{}, "")
}

func wantUnrecoverable(t *testing.T, cfg *Config, f *clusterFacts, now, recheck time.Time, wantID string) {
	t.Helper()
	d := vnfcEvents(cfg, f, nil, now)
	var got string
	for _, e := range d.Events {
		if e.Type == delivery.VNFCUnrecoverable {
			if got != "" {
				t.Errorf("a second unrecoverable event %s", e.ID)
			}
			got = e.ID
		}
	}
	if got != wantID || !d.RecheckAt.Equal(recheck) {
		t.Errorf("now %v: unrecoverable %q, recheck %v; want %q, %v", now.Unix(), got, d.RecheckAt, wantID, recheck)
	}
}

// ranUpdates: records written where what runs changed, never on a node
// that is lost, none where they are up to date.
func TestRanUpdates(t *testing.T) {
	cfg, err := ParseConfig([]byte(eventsConfig))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1796400000, 0)
	tests := []struct {
		file string
		want []ranUpdate
	}{
		{"ran-recorded.xml", nil},
		{"node3-lost-unfenced.xml", nil},
		// solo moved to node2; node3 (fenced) keeps its record.
		{"node3-lost-fenced.xml", []ranUpdate{{"node2", `{"v":1,"at":1796400000,"instances":["app","solo"]}`}}},
		{"node3-rejoined.xml", nil},
		// node3 came back from its second fencing and runs app and solo
		// again, started after its record: the record is renewed.
		{"once-moving.xml", []ranUpdate{{"node1", `{"v":1,"at":1796400000,"instances":["app","once"]}`},
			{"node3", `{"v":1,"at":1796400000,"instances":["app","solo"]}`}}},
	}
	for _, tt := range tests {
		got := ranUpdates(cfg, loadFacts(t, cfg, tt.file), now)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.file, got, tt.want)
		}
	}
	// A record that does not parse is written again; the history of a
	// node being rewritten holds every write back.
	f := loadFacts(t, cfg, "ran-recorded.xml")
	f.Nodes["node1"].Ran, f.Nodes["node1"].RanErr = nil, errors.New("garbage")
	f.Nodes["node2"].HistoryUnknown = true
	f.Nodes["node3"].Ran.Instances = []string{"app"}
	want := []ranUpdate{{"node1", `{"v":1,"at":1796400000,"instances":["app"]}`}, {"node3", `{"v":1,"at":1796400000,"instances":["app","solo"]}`}}
	if got := ranUpdates(cfg, f, now); !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}

// A node fenced twice whose record was not renewed between (it never ran
// its instances again) lost them once: at the first fencing after the
// record.
func TestVNFCEventsLostOnce(t *testing.T) {
	cfg, err := ParseConfig([]byte(eventsConfig))
	if err != nil {
		t.Fatal(err)
	}
	f := loadFacts(t, cfg, "node3-fenced-again.xml")
	f.Nodes["node3"].Ran.At = 1796304970
	var got []string
	for _, e := range vnfcEvents(cfg, f, loadFences(t, "history.xml"), time.Unix(1796305005, 0)).Events {
		got = append(got, e.ID)
	}
	if want := []string{"lab/app/node3/lost/1796304980", "lab/solo/node3/lost/1796304980"}; !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}

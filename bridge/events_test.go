package bridge

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
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

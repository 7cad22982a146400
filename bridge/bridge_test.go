package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge/cluster"
	"github.com/vnfha/vnfha/bridge/haproxy"
	"github.com/vnfha/vnfha/test/haproxytest"
)

func netipLoopback() netip.Addr { return netip.MustParseAddr("127.0.0.1") }

// fakeSource plays bridge/cluster: the test hands it recorded CIBs.
type fakeSource struct{ ch chan cluster.Snapshot }

func (f *fakeSource) Run(ctx context.Context) error      { <-ctx.Done(); return nil }
func (f *fakeSource) Snapshots() <-chan cluster.Snapshot { return f.ch }

func (f *fakeSource) push(t *testing.T, xml []byte, reason string) {
	t.Helper()
	select {
	case f.ch <- cluster.Snapshot{XML: xml, Reason: reason, Received: time.Now()}:
	case <-time.After(5 * time.Second):
		t.Fatal("the bridge does not take snapshots")
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vnfcs serves /health on 127.0.0.{1,2,3}:port, standing in for the
// three VNFCs of the recorded cluster (node1..node3).
func vnfcs(t *testing.T) uint16 {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	lns := []net.Listener{ln}
	for _, a := range []string{"127.0.0.2", "127.0.0.3"} {
		l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", a, port))
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, l)
	}
	for _, l := range lns {
		srv := &http.Server{Handler: h}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
	}
	return uint16(port)
}

// reconciled waits until the HAProxy named lb has been reconciled once
// more from now (bounded in count and time).
func reconciled(t *testing.T, b *Bridge, lb string) {
	t.Helper()
	count := func() int {
		n := 0
		for _, w := range b.lbs {
			if w.cfg.Name == lb {
				w.mu.Lock()
				n = w.passes
				w.mu.Unlock()
			}
		}
		return n
	}
	// Two passes: the one that may be under way began before the newest
	// view was handed over.
	want := count() + 2
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if count() >= want {
			return
		}
	}
	t.Fatalf("%s: not reconciled twice within 10s", lb)
}

// TestBridgeFollowsRecordedCluster runs the whole bridge (view, loops,
// status) against a real HAProxy on loopback, fed with the CIBs recorded
// from a real cluster in each state the pool rules tell apart.
func TestBridgeFollowsRecordedCluster(t *testing.T) {
	port := vnfcs(t)
	lbCfg, err := haproxytest.LB(netipLoopback(), haproxytest.LBOptions{FrontendPort: haproxytest.FreePort(t), AdminPort: haproxytest.FreePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	h := haproxytest.StartLocal(t, lbCfg)
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`
listen: ""
resync: 300ms
node_addresses: {node1: 127.0.0.1, node2: 127.0.0.2, node3: 127.0.0.3}
haproxy:
  - {name: lb1, admin: "unix://%s"}
services:
  - name: web
    resource: web-clone
    backend: %s
    port: %d
    drain_timeout: 2s
    check: {inter: 100ms, rise: 1, fall: 1}
`, h.AdminSocket, haproxytest.Backend, port)))
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	src := &fakeSource{ch: make(chan cluster.Snapshot)}
	b, err := New(cfg, Options{Log: log, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	evCh := make(chan Event, 1000)
	b.Bus.Attach(SinkFunc(func(e Event) {
		select {
		case evCh <- e:
		default:
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	client, err := haproxy.NewClient("unix://" + h.AdminSocket)
	if err != nil {
		t.Fatal(err)
	}
	// pool waits until HAProxy's servers of the backend read want
	// (server → health state; "-" for absent).
	pool := func(what string, want map[string]string) {
		t.Helper()
		var last map[string]string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			rows, err := client.Stat(context.Background(), haproxytest.Backend)
			if err != nil {
				t.Fatal(err)
			}
			last = map[string]string{}
			for _, r := range rows {
				last[r.Server] = haproxy.HealthOf(r.Status)
			}
			ok := true
			for s, st := range want {
				if got, present := last[s]; (st == "-" && present) || (st != "-" && got != st) {
					ok = false
				}
			}
			if ok {
				return
			}
		}
		t.Fatalf("%s: pool %v, want %v", what, last, want)
	}
	const n1, n2, n3 = "vnfha-web:node1", "vnfha-web:node2", "vnfha-web:node3"

	src.push(t, fixture(t, "running"), cluster.ReasonSubscribe)
	pool("running", map[string]string{n1: "UP", n2: "UP", n3: "UP"})

	src.push(t, fixture(t, "web-failed"), cluster.ReasonNotify)
	pool("web failed on node2", map[string]string{n1: "UP", n2: "MAINT", n3: "UP"})

	src.push(t, fixture(t, "web-recovered"), cluster.ReasonNotify)
	pool("web recovered", map[string]string{n1: "UP", n2: "UP", n3: "UP"})

	// A cleanup erases web's history everywhere before Pacemaker probes
	// it again: what runs is unknown for a moment, and the pool is left
	// as it is (no drain, no health down) until the probes land.
	drains := func() string {
		rec := httptest.NewRecorder()
		b.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return regexp.MustCompile(`vnfha_bridge_haproxy_commands_total\{action="drain[^}]*\} \d+`).FindString(rec.Body.String())
	}
	before := drains()
	src.push(t, withoutHistory(t, fixture(t, "web-recovered"), []string{"web"}), cluster.ReasonNotify)
	reconciled(t, b, "lb1")
	pool("web's history erased", map[string]string{n1: "UP", n2: "UP", n3: "UP"})
	if after := drains(); after != before {
		t.Errorf("an erased history drained servers: %q, then %q", before, after)
	}

	// Garbage changes nothing: the previous view stays.
	src.push(t, []byte("<cib epoch=\"1\"><configuration>"), cluster.ReasonNotify)
	src.push(t, fixture(t, "node2-standby"), cluster.ReasonNotify)
	pool("node2 in standby", map[string]string{n1: "UP", n2: "MAINT", n3: "UP"})

	src.push(t, fixture(t, "web-banned-node3"), cluster.ReasonNotify)
	pool("web banned from node3", map[string]string{n1: "UP", n2: "UP", n3: "MAINT"})

	src.push(t, fixture(t, "web-disabled"), cluster.ReasonNotify)
	pool("web disabled", map[string]string{n1: "MAINT", n2: "MAINT", n3: "MAINT"})

	src.push(t, fixture(t, "node3-fenced"), cluster.ReasonNotify)
	pool("node3 fenced", map[string]string{n1: "UP", n2: "UP", n3: "-"})

	// HAProxy restarted: its dynamic servers are gone, and the resync
	// puts them back with no new snapshot.
	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	pool("after a restart of HAProxy", map[string]string{n1: "UP", n2: "UP"})

	// The status shows the view and the pool.
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil))
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("status: %v\n%s", err, rec.Body)
	}
	if st.View == nil || len(st.View.Services) != 1 || len(st.HAProxy) != 1 || st.HAProxy[0].Actual == nil {
		t.Fatalf("status: %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`vnfha_bridge_cib_snapshots_total{reason="notify"} 8`,
		`vnfha_bridge_cib_errors_total{kind="parse"} 1`,
		`vnfha_bridge_haproxy_reloads_total{haproxy="lb1"} 1`,
		`vnfha_bridge_haproxy_commands_total{action="fail",haproxy="lb1"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for drained := false; !drained; {
		select {
		case e := <-evCh:
			events = append(events, e)
		default:
			drained = true
		}
	}
	var kinds []string
	for _, e := range events {
		if e.Type == "instance.changed" && e.Node == "node2" {
			kinds = append(kinds, e.To+":"+e.Detail)
		}
	}
	if len(kinds) < 4 || !strings.HasPrefix(kinds[1], "fail:failed: monitor (reported at once) returned 1") {
		t.Errorf("node2's instance events: %q", kinds)
	}
}

// TestKeepViewWhileHistoryRewritten: a snapshot taken while the DC
// rewrites a member's operation history (recorded: node1's lrm section
// deleted in a join round) keeps the previous view, so that node1's
// healthy server is not drained and put back; for at most one resync
// interval.
func TestKeepViewWhileHistoryRewritten(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
listen: ""
resync: 1s
node_addresses: {node1: 198.18.1.1, node2: 198.18.1.2, node3: 198.18.1.3}
haproxy:
  - {name: lb1, admin: "tcp://198.18.1.101:9999"}
services:
  - {name: app, resource: app-clone, backend: be_vnfc, port: 8080}
`))
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	b, err := New(cfg, Options{Log: log, Source: &fakeSource{ch: make(chan cluster.Snapshot)}})
	if err != nil {
		t.Fatal(err)
	}
	serving := func() string {
		b.mu.Lock()
		defer b.mu.Unlock()
		var s []string
		for _, in := range b.view.Services[0].Instances {
			if in.Want == Serve {
				s = append(s, in.Node)
			}
		}
		return strings.Join(s, " ")
	}
	snap := func(name string) cluster.Snapshot {
		return cluster.Snapshot{XML: fixture(t, name), Reason: cluster.ReasonNotify, Received: time.Now()}
	}
	b.apply(snap("node2-rejoining"))
	if got := serving(); got != "node1 node3" {
		t.Fatalf("serving %q before the rewrite", got)
	}
	b.apply(snap("node1-history-rewritten"))
	if got := serving(); got != "node1 node3" {
		t.Errorf("serving %q while node1's history is rewritten, want the previous view", got)
	}
	// The rewrite never ended: after one resync interval the snapshot is
	// taken as it is.
	b.rewriting = time.Now().Add(-cfg.Resync.Duration)
	b.apply(snap("node1-history-rewritten"))
	if got := serving(); got != "node3" {
		t.Errorf("serving %q once the history stayed missing for a resync interval, want node3", got)
	}
	b.apply(snap("node2-rejoining"))
	if got := serving(); got != "node1 node3" || !b.rewriting.IsZero() {
		t.Errorf("serving %q (rewriting since %v) once the history is back", got, b.rewriting)
	}
}

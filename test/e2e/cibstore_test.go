package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/cibstore"
	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// TestCIBStore runs the bridge's delivery store against a real 3-node
// cluster: what a bridge on node1 adds is what a new bridge on node3
// finds pending or seen; it survives the loss of node1, which holds some
// of it; an attribute an operator edited is left alone; Done and Prune
// empty it. It logs the latency of Add and Done through cibadmin (as the
// bridge will run it, plus the nsenter into the node), and, with
// VNFHA_RECORD_CIBSTORE=1, records the <nodes> sections that
// bridge/cibstore/testdata holds.
func TestCIBStore(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3, NoFencing: true})
	ctx := labtest.Context(t)
	open := func(node string) *cibstore.Store {
		t.Helper()
		s, err := cibstore.New(cibstore.Options{Client: crmwrap.New(l.Runner(node)), LocalNode: node})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	record := func(name string) {
		t.Helper()
		if os.Getenv("VNFHA_RECORD_CIBSTORE") == "" {
			return
		}
		out, err := l.Exec(ctx, "node3", "cibadmin", "--query", "--scope", "nodes")
		if err != nil {
			t.Fatalf("cibadmin: %v %s", err, out)
		}
		path := filepath.Join(labtest.ModuleRoot(t), "bridge", "cibstore", "testdata", name+".xml")
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s", path)
	}
	rc := 1
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := func(id, node string, dt time.Duration) delivery.Event {
		return delivery.Event{ID: id, Type: delivery.VNFCFailed, Source: "/vnfha/clusters/lab", Subject: "web:" + node,
			Time: at.Add(dt), Data: delivery.Data{Cluster: "lab", Resource: "web", Node: node, Operation: "monitor", RC: &rc, Reason: "exit 1"}}
	}
	onNode2 := ev("lab/web/node2/failed/12-1740830400", "node2", 0)
	onGone := ev("lab/web/node9/failed/3-1740830401", "node9", time.Second) // not a node: kept on node1
	odd := ev("lab/w\"e'b<&>\n\t/ünï\u2028/"+strings.Repeat("x", 500), "node1", 2*time.Second)
	huge := ev("lab/web/node1/failed/huge", "node1", 3*time.Second)
	huge.Data.Reason = strings.Repeat("ä reason that goes on ", 5000)
	sinks := []string{"webhook", "vnfm"}

	s1 := open("node1")
	if p, err := s1.Pending(ctx); err != nil || len(p) != 0 {
		t.Fatalf("a new cluster's store: pending %v, %v", p, err)
	}
	for _, e := range []delivery.Event{onNode2, onGone, odd, huge} {
		if err := s1.Add(ctx, e, sinks); err != nil {
			t.Fatalf("Add %.40q: %v", e.ID, err)
		}
	}
	for _, d := range [][2]string{{onNode2.ID, "webhook"}, {odd.ID, "vnfm"}} {
		if err := s1.Done(ctx, d[0], d[1]); err != nil {
			t.Fatalf("Done: %v", err)
		}
	}
	// An operator's edit of one of the store's attributes.
	edited := cibstore.AttrName("lab/edited")
	if out, err := l.Exec(ctx, "node1", "crm_attribute", "--node", "node2", "--name", edited,
		"--lifetime", "forever", "--update", `{"v":1,"event":"hand-edited"`); err != nil {
		t.Fatalf("crm_attribute: %v %s", err, out)
	}
	record("nodes-written")

	want := map[string][]string{onNode2.ID: {"vnfm"}, onGone.ID: sinks, odd.ID: {"webhook"}, huge.ID: sinks}
	check := func(s *cibstore.Store, want map[string][]string) {
		t.Helper()
		p, err := s.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for i, pe := range p {
			got[pe.Event.ID] = pe.Sinks
			if i > 0 && pe.Event.Time.Before(p[i-1].Event.Time) {
				t.Errorf("Pending is not oldest first: %v before %v", p[i-1].Event.Time, pe.Event.Time)
			}
			switch pe.Event.ID {
			case huge.ID:
				if r := pe.Event.Data.Reason; len(r) >= len(huge.Data.Reason) || len(r) < cibstore.MaxValue/4 || !strings.HasSuffix(r, " [trimmed by vnfha]") || !strings.HasPrefix(huge.Data.Reason, strings.TrimSuffix(r, " [trimmed by vnfha]")) {
					t.Errorf("huge reason: kept %d bytes of %d, not a trimmed prefix", len(r), len(huge.Data.Reason))
				}
			case odd.ID:
				if !pe.Event.Time.Equal(odd.Time) || pe.Event.Subject != odd.Subject || *pe.Event.Data.RC != 1 {
					t.Errorf("event read back differs: %+v", pe.Event)
				}
			}
		}
		if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
			t.Errorf("pending:\n got %v\nwant %v", sorted(got), sorted(want))
		}
	}

	// A new bridge, on another node.
	s3 := open("node3")
	check(s3, want)
	for _, c := range []struct {
		id, sink string
		want     bool
	}{{onNode2.ID, "webhook", true}, {onNode2.ID, "vnfm", false}, {odd.ID, "vnfm", true}, {huge.ID, "vnfm", false}} {
		if got, err := s3.Seen(ctx, c.id, c.sink); err != nil || got != c.want {
			t.Errorf("Seen(%.30q, %s) = %v, %v; want %v", c.id, c.sink, got, err, c.want)
		}
	}
	err := s3.Add(ctx, delivery.Event{ID: "lab/edited", Time: at}, sinks)
	if !errors.Is(err, cibstore.ErrNotOurs) {
		t.Errorf("Add over an operator's value: %v, want ErrNotOurs", err)
	}
	if out, _ := l.Exec(ctx, "node3", "crm_attribute", "--node", "node2", "--name", edited, "--lifetime", "forever", "--query", "--quiet"); strings.TrimSpace(string(out)) != `{"v":1,"event":"hand-edited"` {
		t.Errorf("the operator's value changed: %q", out)
	}

	// node1 holds two of the events; it is lost.
	if err := l.Kill("node1"); err != nil {
		t.Fatal(err)
	}
	labtest.Eventually(t, 60*time.Second, 200*time.Millisecond, "node3 sees node1 offline", func() (bool, string) {
		st, err := l.Status(ctx, "node3")
		if err != nil {
			return false, err.Error()
		}
		n, _ := st.Node("node1")
		return st.Quorate() && !n.Online, fmt.Sprintf("quorate %v, node1 %+v", st.Quorate(), n)
	})
	s3b := open("node3")
	check(s3b, want)
	record("nodes-node1-lost")

	// The operator removes the lost node for good: its <node> entry, and
	// the events kept there, go with it. A bridge that already read them
	// writes them again on its own node: lazily at their next change, or
	// all at once with Rehome (the bridge calls it when a node leaves
	// <nodes>). One that starts before that never sees them.
	if out, err := l.Exec(ctx, "node3", "crm_node", "--force", "--remove", "node1"); err != nil {
		t.Fatalf("crm_node --remove: %v %s", err, out)
	}
	labtest.Eventually(t, 30*time.Second, 100*time.Millisecond, "node1 leaves <nodes>", func() (bool, string) {
		out, err := l.Exec(ctx, "node3", "cibadmin", "--query", "--scope", "nodes")
		return err == nil && !strings.Contains(string(out), `uname="node1"`), string(out)
	})
	late, err := open("node2").Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a bridge started after crm_node --remove node1, before any rehome, finds %d of the %d pending events", len(late), len(want))
	if err := s3b.Done(ctx, onGone.ID, "webhook"); err != nil {
		t.Fatalf("Done on an event whose node was removed: %v", err)
	}
	want[onGone.ID] = []string{"vnfm"}
	if moved, err := s3b.Rehome(ctx); err != nil || moved != 2 { // odd and huge; onGone moved already
		t.Errorf("Rehome: %d, %v; want 2", moved, err)
	}
	if moved, err := s3b.Rehome(ctx); err != nil || moved != 0 {
		t.Errorf("Rehome again: %d, %v; want 0", moved, err)
	}
	check(open("node2"), want)

	// Latency of Add and Done on the running cluster, one at a time, as a
	// lone failure is.
	const n = 60
	var adds, dones []time.Duration
	for i := range n {
		e := ev(fmt.Sprintf("lab/bench/node2/failed/%d", i), "node2", time.Duration(10+i)*time.Second)
		t0 := time.Now()
		if err := s3b.Add(ctx, e, []string{"webhook"}); err != nil {
			t.Fatal(err)
		}
		adds = append(adds, time.Since(t0))
	}
	for i := range n {
		t0 := time.Now()
		if err := s3b.Done(ctx, fmt.Sprintf("lab/bench/node2/failed/%d", i), "webhook"); err != nil {
			t.Fatal(err)
		}
		dones = append(dones, time.Since(t0))
	}
	t.Logf("Add over %d: p50 %s p99 %s max %s", n, pct(adds, 50), pct(adds, 99), pct(adds, 100))
	t.Logf("Done over %d: p50 %s p99 %s max %s", n, pct(dones, 50), pct(dones, 99), pct(dones, 100))
	// A burst, as one host loss gives: 12 events added at once.
	t0 := time.Now()
	var burst sync.WaitGroup
	for i := range 12 {
		burst.Add(1)
		go func() {
			defer burst.Done()
			if err := s3b.Add(ctx, ev(fmt.Sprintf("lab/burst/%d", i), "node2", 0), []string{"webhook"}); err != nil {
				t.Error(err)
			}
		}()
	}
	burst.Wait()
	t.Logf("12 Adds at once: all accepted in %s", time.Since(t0).Round(10*time.Microsecond))
	for i := range 12 {
		if err := s3b.Done(ctx, fmt.Sprintf("lab/burst/%d", i), "webhook"); err != nil {
			t.Fatal(err)
		}
	}
	// cibadmin alone, inside the node: the share of the fork and nsenter.
	loop := `for i in $(seq 50); do s=$(date +%s%N); echo "<nodes><node id=\"3\"><instance_attributes id=\"nodes-3\"><nvpair id=\"nodes-3-vnfha-x\" name=\"vnfha-x\" value=\"$i\"/></instance_attributes></node></nodes>" | cibadmin --modify --scope nodes --xml-pipe || exit 1; e=$(date +%s%N); echo $((e-s)); done; cibadmin --delete --xpath "//nvpair[@id='nodes-3-vnfha-x']"`
	out, err := l.Exec(ctx, "node3", "sh", "-c", loop)
	if err != nil {
		t.Fatalf("cibadmin loop: %v %s", err, out)
	}
	var inNode []time.Duration
	for _, f := range strings.Fields(string(out)) {
		var ns int64
		fmt.Sscan(f, &ns)
		inNode = append(inNode, time.Duration(ns))
	}
	t.Logf("cibadmin --modify inside node3 over %d: p50 %s p99 %s", len(inNode), pct(inNode, 50), pct(inNode, 99))
	// A context already past its deadline: nothing is written, and the
	// error says why. (Not WithTimeout and a sleep: its timer may not
	// have fired yet, and a write queued before it fires may still land,
	// as modify says.)
	cctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if err := s3b.Add(cctx, ev("lab/late", "node2", 0), sinks); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Add with an ended context: %v", err)
	}

	// Everything delivered; the facts are gone except one.
	for id, left := range want {
		for _, sink := range left {
			if err := s3b.Done(ctx, id, sink); err != nil {
				t.Fatalf("Done: %v", err)
			}
		}
	}
	check(s3b, map[string][]string{})
	pruned, err := s3b.Prune(ctx, func(id string) bool { return id == onNode2.ID })
	if err != nil || pruned != n+12+3 {
		t.Errorf("Prune: %d, %v; want %d", pruned, err, n+12+3)
	}
	out, err = l.Exec(ctx, "node3", "cibadmin", "--query", "--scope", "nodes")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(out), `name="vnfha-ev-`); got != 2 {
		t.Errorf("after Prune, %d attributes left, want 2 (the live fact's and the operator's):\n%s", got, out)
	}
	if !strings.Contains(string(out), cibstore.AttrName(onNode2.ID)) {
		t.Errorf("Prune removed a delivered event whose fact is live:\n%s", out)
	}
	// A bridge after the prune still knows the live fact was delivered.
	if seen, err := open("node2").Seen(ctx, onNode2.ID, "vnfm"); err != nil || !seen {
		t.Errorf("Seen after Prune: %v, %v", seen, err)
	}
}

func sorted(m map[string][]string) []string {
	var out []string
	for k, v := range m {
		v = slices.Clone(v)
		sort.Strings(v)
		out = append(out, fmt.Sprintf("%.40q=%v", k, v))
	}
	sort.Strings(out)
	return out
}

// pct returns the p-th percentile of ds (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max((p*len(s)+99)/100-1, 0)
	return s[min(i, len(s)-1)].Round(10 * time.Microsecond)
}

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/cluster"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// inNodeEnv selects what bridge/cluster's in-node helper does (its
// TestInNode, innode_test.go).
const inNodeEnv = "VNFHA_CLUSTER_INNODE"

// buildClusterHelper compiles bridge/cluster's tests into a binary that lab
// nodes can run: the in-node helper (TestInNode). The CIB manager's IPC
// is only reachable inside a node: its abstract sockets are in the node's
// network namespace, its rings in the node's /dev/shm.
func buildClusterHelper(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(ocftest.PublicDir(t, "cluster-test-"), "cluster.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, "./bridge/cluster")
	cmd.Dir = labtest.ModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the in-node helper: %v\n%s", err, out)
	}
	return bin
}

// helper is the in-node helper running in a node: lines it prints come on
// lines; stdin takes commands.
type clusterHelper struct {
	stdin io.WriteCloser
	lines chan string
}

func startClusterHelper(t *testing.T, ctx context.Context, l *lab.Lab, node, bin string, env ...string) *clusterHelper {
	t.Helper()
	argv := append([]string{"env"}, env...)
	argv = append(argv, bin, "-test.run=^TestInNode$", "-test.v=false")
	cmd, err := l.Command(ctx, node, argv...)
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &clusterHelper{stdin: stdin, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
		if t.Failed() {
			s := stderr.String()
			if len(s) > 8000 {
				s = s[len(s)-8000:]
			}
			t.Logf("helper's stderr (tail):\n%s", s)
		}
	})
	return h
}

// line waits for the next line the helper prints.
func (h *clusterHelper) line(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case s, ok := <-h.lines:
		if !ok {
			t.Fatal("the helper ended")
		}
		return s
	case <-time.After(timeout):
		t.Fatalf("no line from the helper within %s", timeout)
	}
	return ""
}

// snapshot waits, at most timeout, for a snapshot that ok accepts, and
// returns it with the ones before it.
func (h *clusterHelper) snapshot(t *testing.T, timeout time.Duration, what string, ok func(cluster.WatchLine) bool) (cluster.WatchLine, []cluster.WatchLine) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var seen []cluster.WatchLine
	for i := 0; i < 1000; i++ {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		var w cluster.WatchLine
		if err := json.Unmarshal([]byte(h.line(t, left)), &w); err != nil {
			t.Fatalf("helper printed %v", err)
		}
		if ok(w) {
			return w, seen
		}
		seen = append(seen, w)
	}
	var reasons []string
	for _, w := range seen {
		reasons = append(reasons, w.Reason+"@"+w.Version)
	}
	t.Fatalf("%s: no such snapshot within %s; saw %v", what, timeout, reasons)
	return cluster.WatchLine{}, nil
}

// TestClusterSource follows a real lab node's CIB with bridge/cluster's
// Source: the first snapshot, changes notified, the resync timer, the CIB
// manager killed and respawned, and a CIB too large for Pacemaker 2.1.5's
// IPC. With VNFHA_RECORD_CIB=DIR it records the messages of
// bridge/cluster/testdata instead (its README.md).
func TestClusterSource(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 2, NoFencing: true, Name: "tcibsource"})
	ctx := labtest.Context(t)
	bin := buildClusterHelper(t)
	if dir := os.Getenv("VNFHA_RECORD_CIB"); dir != "" {
		recordCIBMessages(t, ctx, l, bin, dir)
		return
	}
	run := func(node string, argv ...string) string {
		t.Helper()
		out, err := l.Exec(ctx, node, argv...)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	// What one full read costs, over IPC and by exec'ing cibadmin.
	bench := startClusterHelper(t, ctx, l, "node1", bin, inNodeEnv+"=bench", "VNFHA_CLUSTER_BENCH_N=200")
	t.Logf("a full read of the CIB (ns): %s", bench.line(t, 2*time.Minute))

	const resync, queryTimeout = 2 * time.Second, time.Second
	h := startClusterHelper(t, ctx, l, "node1", bin, inNodeEnv+"=watch",
		"VNFHA_CLUSTER_RESYNC="+resync.String(), "VNFHA_CLUSTER_QUERY_TIMEOUT="+queryTimeout.String())
	first, _ := h.snapshot(t, 20*time.Second, "first snapshot", func(w cluster.WatchLine) bool { return true })
	if first.Reason != cluster.ReasonSubscribe || !strings.Contains(first.XML, `<cib `) {
		t.Fatalf("first snapshot: %s, %.80q", first.Reason, first.XML)
	}

	// A change made on the other node is notified here and read.
	setAttr := func(value string) {
		run("node2", "crm_attribute", "--node", "node1", "--name", "vnfha-source-test", "--update", value)
	}
	var lat []time.Duration
	for i := range 5 {
		value := fmt.Sprintf("v%d-%d", i, time.Now().UnixNano())
		setAttr(value)
		w, _ := h.snapshot(t, resync/2, "the change "+value, func(w cluster.WatchLine) bool {
			return (w.Reason == cluster.ReasonNotify || w.Reason == cluster.ReasonDiff) && strings.Contains(w.XML, value)
		})
		lat = append(lat, time.Duration(w.LatencyNS))
	}
	t.Logf("notification → snapshot taken by the watcher: %v", lat)

	// Nothing happens: the resync timer reads all the same.
	h.snapshot(t, 3*resync, "a resync", func(w cluster.WatchLine) bool { return w.Reason == cluster.ReasonResync })

	// The CIB manager killed: pacemakerd respawns it, and the source
	// reconnects and reads.
	pid := strings.TrimSpace(run("node1", "pidof", "pacemaker-based"))
	if pid == "" || strings.Contains(pid, " ") {
		t.Fatalf("pacemaker-based's pid: %q", pid)
	}
	run("node1", "kill", "-9", pid)
	// pacemakerd respawns it, and the daemons that lost it, within
	// seconds. Once in CI the respawned daemons answered nothing for over
	// a minute, until pacemakerd's own check killed them as unresponsive
	// and started them again: that is Pacemaker's recovery, not the
	// source's, so the wait for the CIB manager to answer is long (and
	// its length logged), and the source must reconnect soon after.
	killed := time.Now()
	labtest.Eventually(t, 150*time.Second, 500*time.Millisecond, "pacemaker-based answers again", func() (bool, string) {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := l.Exec(qctx, "node1", "cibadmin", "--query", "--local", "--scope", "nodes")
		if err != nil {
			return false, fmt.Sprintf("%v %s", err, out)
		}
		return true, ""
	})
	t.Logf("pacemaker-based answered again %s after its kill", time.Since(killed).Round(time.Millisecond))
	h.snapshot(t, 30*time.Second, "a reconnect", func(w cluster.WatchLine) bool { return w.Reason == cluster.ReasonReconnect })
	value := fmt.Sprintf("after-%d", time.Now().UnixNano())
	labtest.Eventually(t, 60*time.Second, 500*time.Millisecond, "crm_attribute after the restart", func() (bool, string) {
		out, err := l.Exec(ctx, "node2", "crm_attribute", "--node", "node1", "--name", "vnfha-source-test", "--update", value)
		return err == nil, string(out)
	})
	h.snapshot(t, 10*time.Second, "the change after the restart", func(w cluster.WatchLine) bool {
		return (w.Reason == cluster.ReasonNotify || w.Reason == cluster.ReasonDiff) && strings.Contains(w.XML, value)
	})

	// A CIB whose query answer does not fit the CIB manager's IPC buffer
	// even compressed: Pacemaker 2.1.5 logs "Could not compress" and
	// sends nothing, neither the answer nor the notification of the
	// change. Nothing is published then (cibadmin, which asks over the
	// same IPC, gets nothing either), and no half-read CIB; once the CIB
	// shrinks again, the source reads it again.
	big := bigPropertySet("vnfha-huge", 6000)
	c, err := l.Command(ctx, "node2", "cibadmin", "--create", "--scope", "crm_config", "--xml-pipe")
	if err != nil {
		t.Fatal(err)
	}
	c.Stdin = strings.NewReader(big)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("create a huge CIB: %v\n%s", err, out)
	}
	start := time.Now()
	out, err := l.Exec(ctx, "node1", "timeout", "20", "cibadmin", "--query", "--local")
	t.Logf("cibadmin --query --local of the huge CIB: %d bytes, %v, after %s", len(out), err, time.Since(start).Round(time.Millisecond))
	for _, w := range drainSnapshots(h) {
		if strings.Contains(w.XML, "vnfha-huge") && !strings.HasSuffix(strings.TrimSpace(w.XML), "</cib>") {
			t.Fatalf("a half-read CIB published: %s %s", w.Reason, w.Version)
		}
	}
	run("node2", "cibadmin", "--delete", "--xpath", "//cluster_property_set[@id='vnfha-huge']")
	h.snapshot(t, 3*(resync+queryTimeout)+10*time.Second, "the CIB shrunk again", func(w cluster.WatchLine) bool {
		return !strings.Contains(w.XML, "vnfha-huge")
	})
}

// bigPropertySet is a cluster_property_set of n options whose values are
// hard to compress, to make a CIB as large as wanted.
func bigPropertySet(id string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<cluster_property_set id="%s">`, id)
	x := uint64(88172645463325252)
	for i := range n {
		var v strings.Builder
		for range 4 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			fmt.Fprintf(&v, "%016x", x)
		}
		fmt.Fprintf(&b, `<nvpair id="%s-%d" name="%s-%d" value="%s"/>`, id, i, id, i, v.String())
	}
	b.WriteString("</cluster_property_set>")
	return b.String()
}

// record writes the messages of testdata/ from node1's CIB manager.
func recordCIBMessages(t *testing.T, ctx context.Context, l *lab.Lab, bin, dir string) {
	h := startClusterHelper(t, ctx, l, "node1", bin, inNodeEnv+"=record", "VNFHA_CLUSTER_RECORD="+dir)
	cmd := func(c string) string {
		t.Helper()
		fmt.Fprintln(h.stdin, c)
		s := h.line(t, 30*time.Second)
		t.Logf("%s: %s", c, s)
		return s
	}
	exec1 := func(stdin string, argv ...string) {
		t.Helper()
		c, err := l.Command(ctx, "node2", argv...)
		if err != nil {
			t.Fatal(err)
		}
		c.Stdin = strings.NewReader(stdin)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	cmd("connect")
	cmd("query query-reply.bin")
	out, err := l.Exec(ctx, "node1", "cibadmin", "--query", "--local")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cibadmin-query.xml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	exec1("", "crm_attribute", "--node", "node1", "--name", "vnfha-rec", "--update", "v1")
	cmd("events notify-attr 1")
	// Large enough that its diff and the CIB are compressed.
	exec1(bigPropertySet("vnfha-big", 1500), "cibadmin", "--create", "--scope", "crm_config", "--xml-pipe")
	cmd("events notify-big 1")
	cmd("query query-reply-compressed.bin")
	// A replace of a section: a diff and a replace notification.
	exec1(`<crm_config><cluster_property_set id="cib-bootstrap-options"><nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>`,
		"cibadmin", "--replace", "--scope", "crm_config", "--xml-pipe")
	cmd("events notify-replace 3")
}

// drain returns the snapshots the helper printed so far.
func drainSnapshots(h *clusterHelper) []cluster.WatchLine {
	var out []cluster.WatchLine
	for {
		select {
		case s, ok := <-h.lines:
			if !ok {
				return out
			}
			var w cluster.WatchLine
			if json.Unmarshal([]byte(s), &w) == nil {
				out = append(out, w)
			}
		default:
			return out
		}
	}
}

// TestClusterDiffs records, in a lab node, every CIB notification of a run
// of everyday changes (attributes set, changed and deleted, resources
// created, started, moved by standby, banned, cleaned up, stopped and
// deleted, a constraint added and removed) and the CIB read whole after
// each burst of them, and reports what applying the notified diffs costs
// next to a full read. With VNFHA_RECORD_CIB=DIR the trace is kept there
// (bridge/cluster's TestApplyRecordedTrace checks it: the CIB patched with
// the diffs must equal the CIB read whole).
func TestClusterDiffs(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 2, NoFencing: true, Name: "tcibdiffs"})
	ctx := labtest.Context(t)
	bin := buildClusterHelper(t)
	dir := os.Getenv("VNFHA_RECORD_CIB")
	if dir == "" {
		dir = ocftest.PublicDir(t, "cib-trace-")
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	h := startClusterHelper(t, ctx, l, "node1", bin, inNodeEnv+"=record", "VNFHA_CLUSTER_RECORD="+dir)
	fmt.Fprintln(h.stdin, "connect")
	if s := h.line(t, 30*time.Second); s != "connected" {
		t.Fatalf("connect: %s", s)
	}
	const traceFor = 90 * time.Second
	fmt.Fprintf(h.stdin, "trace trace %d\n", int(traceFor/time.Second))
	start := time.Now()
	run := func(node string, argv ...string) {
		t.Helper()
		if out, err := l.Exec(ctx, node, argv...); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	settle := func() { run("node1", "crm_resource", "--wait", "--timeout=60s") }
	run("node2", "crm_attribute", "--node", "node1", "--name", "vnfha-a", "--update", "v1")
	run("node2", "crm_attribute", "--node", "node1", "--name", "vnfha-a", "--update", "v2")
	run("node2", "crm_attribute", "--node", "node1", "--name", "vnfha-a", "--delete")
	run("node2", "crm_attribute", "--node", "node2", "--name", "vnfha-t", "--update", "1", "--lifetime", "reboot")
	run("node2", "crm_attribute", "--node", "node2", "--name", "vnfha-t", "--delete", "--lifetime", "reboot")
	pcs(t, l, []string{"resource", "create", "d1", "ocf:heartbeat:Dummy"}, []string{"resource", "create", "d2", "ocf:heartbeat:Dummy"})
	settle()
	pcs(t, l, []string{"constraint", "location", "d2", "prefers", "node2=50"})
	settle()
	pcs(t, l, []string{"node", "standby", "node2"})
	settle()
	pcs(t, l, []string{"node", "unstandby", "node2"})
	settle()
	pcs(t, l, []string{"resource", "ban", "d1", "node1"})
	settle()
	pcs(t, l, []string{"resource", "clear", "d1"}, []string{"resource", "cleanup", "d1"})
	settle()
	pcs(t, l, []string{"resource", "update", "d1", "fake=x"})
	settle()
	pcs(t, l, []string{"resource", "disable", "d2"})
	settle()
	pcs(t, l, []string{"resource", "delete", "d2"}, []string{"resource", "delete", "d1", "--force"})
	settle()
	if left := traceFor - time.Since(start); left < 5*time.Second {
		t.Fatalf("the changes took %s, too long for the trace's %s", time.Since(start).Round(time.Second), traceFor)
	}
	// bridge/cluster's TraceResult (innode_test.go), by its JSON names.
	var r map[string]int64
	s := h.line(t, traceFor+30*time.Second)
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("trace: %s", s)
	}
	t.Logf("trace: %s", s)
	t.Logf("snapshot after a burst: diff applied p50 %s p99 %s max %s; full read over IPC p50 %s p99 %s max %s",
		time.Duration(r["diff_p50_ns"]), time.Duration(r["diff_p99_ns"]), time.Duration(r["diff_max_ns"]),
		time.Duration(r["query_p50_ns"]), time.Duration(r["query_p99_ns"]), time.Duration(r["query_max_ns"]))
	if r["events"] < 20 || r["applied"] == 0 {
		t.Fatalf("trace of %d events, %d bursts applied", r["events"], r["applied"])
	}
}

// TestClusterDiffLatency measures, in a lab node, notification to
// snapshot published with the notified diffs applied and with a full
// read per notification: two sources follow the same node's CIB at once,
// one of each, through the same changes.
func TestClusterDiffLatency(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 2, NoFencing: true, Name: "tcibdifflat"})
	ctx := labtest.Context(t)
	bin := buildClusterHelper(t)
	env := []string{inNodeEnv + "=watch", "VNFHA_CLUSTER_RESYNC=1h", "VNFHA_CLUSTER_QUERY_TIMEOUT=5s", "VNFHA_CLUSTER_NO_XML=1"}
	diffs := startClusterHelper(t, ctx, l, "node1", bin, env...)
	full := startClusterHelper(t, ctx, l, "node1", bin, append(env, "VNFHA_CLUSTER_FULL_READS=1")...)
	for _, h := range []*clusterHelper{diffs, full} {
		h.snapshot(t, 20*time.Second, "first snapshot", func(w cluster.WatchLine) bool { return true })
	}
	pcs(t, l, []string{"resource", "create", "d1", "ocf:heartbeat:Dummy"})
	const n = 40
	for i := range n {
		if out, err := l.Exec(ctx, "node2", "crm_attribute", "--node", "node1", "--name", "vnfha-lat", "--update", fmt.Sprint(i)); err != nil {
			t.Fatalf("crm_attribute: %v\n%s", err, out)
		}
		if i%10 == 9 {
			pcs(t, l, []string{"resource", "cleanup", "d1"})
		}
		time.Sleep(100 * time.Millisecond) // changes one at a time, not one burst
	}
	if out, err := l.Exec(ctx, "node1", "crm_resource", "--wait", "--timeout=60s"); err != nil {
		t.Fatalf("crm_resource --wait: %v\n%s", err, out)
	}
	time.Sleep(time.Second)
	for _, c := range []struct {
		name string
		h    *clusterHelper
	}{{"diff applied", diffs}, {"full read", full}} {
		byReason := map[string][]time.Duration{}
		for _, w := range drainSnapshots(c.h) {
			byReason[w.Reason] = append(byReason[w.Reason], time.Duration(w.LatencyNS))
		}
		for reason, d := range byReason {
			slices.Sort(d)
			t.Logf("%s: %d snapshots %q: p50 %s p99 %s max %s", c.name, len(d), reason,
				d[len(d)/2], d[min(len(d)-1, len(d)*99/100)], d[len(d)-1])
		}
		if c.h == diffs && len(byReason[cluster.ReasonDiff]) < n/2 {
			t.Errorf("only %d snapshots patched with diffs", len(byReason[cluster.ReasonDiff]))
		}
	}
}

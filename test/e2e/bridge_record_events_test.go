package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/lab/labtest"
)

// TestRecordBridgeEventCIBs records the CIBs and fence histories behind
// vnfc.lost and vnfc.unrecoverable (bridge/testdata/README.md): a node
// with a vnfha-ran record lost, caught before and after its fencing, then
// fenced a second time; a fencing that fails; and a VNFC with
// migration-threshold=1 that runs on one node only, killed there. It is
// skipped unless VNFHA_RECORD_BRIDGE names the directory to write to.
func TestRecordBridgeEventCIBs(t *testing.T) {
	dir, l, ctx, vnfcd := bridgeRecorder(t)
	run := func(node string, argv ...string) string {
		t.Helper()
		out, err := l.Exec(ctx, node, argv...)
		if err != nil {
			t.Fatalf("%s on %s: %v\n%s", strings.Join(argv, " "), node, err, out)
		}
		return string(out)
	}
	save := func(name string, out string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s (%d bytes)", name, len(out))
	}
	record := func(name string) { t.Helper(); save(name+".xml", run("node1", "cibadmin", "--query")) }
	history := func(name string) {
		t.Helper()
		save(name+".xml", run("node1", "stonith_admin", "--history", "*", "--verbose", "--output-as=xml"))
	}
	mon := func(what string, cond func(string) bool) {
		t.Helper()
		labtest.Eventually(t, 90*time.Second, 50*time.Millisecond, what, func() (bool, string) {
			out, err := l.Exec(ctx, "node1", "crm_mon", "-1", "-r", "--output-as=text")
			return err == nil && cond(string(out)), string(out)
		})
	}
	// ran writes the record the bridge keeps of what runs on a node, in
	// the form bridge/ran.go defines, at the cluster's clock.
	ran := func(node string, instances ...string) {
		t.Helper()
		now := strings.TrimSpace(run("node1", "date", "+%s"))
		v := fmt.Sprintf(`{"v":1,"at":%s,"instances":["%s"]}`, now, strings.Join(instances, `","`))
		run("node1", "crm_attribute", "--node", node, "--name", "vnfha-ran", "--lifetime", "forever", "--update", v)
	}
	// fenced waits until node's fencings that succeeded number n.
	fenced := func(node string, n int) {
		t.Helper()
		labtest.Eventually(t, 90*time.Second, 50*time.Millisecond, fmt.Sprintf("%s fenced %d times", node, n), func() (bool, string) {
			out, err := l.Exec(ctx, "node1", "stonith_admin", "--history", node, "--verbose", "--output-as=xml")
			return err == nil && strings.Count(string(out), `status="success"`) >= n, string(out)
		})
	}

	pcs(t, l,
		[]string{"resource", "create", "app", "ocf:vnfha:vnfc", "command=" + vnfcd + " --listen :8080",
			"health=http://127.0.0.1:8080/health", "op", "monitor", "interval=60s", "clone"},
		[]string{"resource", "meta", "app-clone", "vnfha-vnf-instance-id=vnf-7c1e",
			"vnfha-vnfc-instance-ids=node1=vnfc-a1,node2=vnfc-a2,node3=vnfc-a3"},
		[]string{"resource", "create", "solo", "ocf:heartbeat:Dummy"},
		// A value that does not parse: the bridge ignores it, with a reason.
		[]string{"resource", "meta", "solo", "vnfha-vnfc-instance-ids=node3"},
		[]string{"constraint", "location", "solo", "prefers", "node3=100"},
	)
	mon("everything started", func(s string) bool {
		return strings.Contains(s, "Started: [ node1 node2 node3 ]") && strings.Contains(s, "solo\t(ocf:heartbeat:Dummy):\t Started node3")
	})
	waitIdle(t, l)
	ran("node1", "app")
	ran("node2", "app")
	ran("node3", "app", "solo")
	record("ran-recorded")

	// A fencing delay widens the window in which node3 is lost and not yet
	// fenced, so that the CIB can be caught in it.
	pcs(t, l, []string{"stonith", "update", "lab-fence", "pcmk_delay_base=3s"})
	waitIdle(t, l)
	if err := l.Kill("node3"); err != nil {
		t.Fatal(err)
	}
	unfenced := "//node_state[@uname='node3' and @crmd='offline']//lrm_resource[@id='solo']"
	labtest.Eventually(t, 30*time.Second, 20*time.Millisecond, "node3 lost, history kept", func() (bool, string) {
		out, err := l.Exec(ctx, "node1", "cibadmin", "--query", "--xpath", unfenced)
		return err == nil && len(out) > 0, string(out)
	})
	record("node3-lost-unfenced")
	fenced("node3", 1)
	mon("node3 offline, solo moved", func(s string) bool {
		return strings.Contains(s, "OFFLINE: [ node3 ]") && !strings.Contains(s, "Started node3")
	})
	waitIdle(t, l)
	record("node3-lost-fenced")
	history("fence-history-once")

	// A fencing that no device can do: a failed entry for a name that is
	// no node.
	if out, err := l.Exec(ctx, "node1", "stonith_admin", "--fence", "ghost", "--timeout", "5"); err == nil {
		t.Fatalf("fencing ghost succeeded: %s", out)
	}

	if err := l.Start("node3"); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	mon("solo back on node3", func(s string) bool {
		return strings.Contains(s, "Started: [ node1 node2 node3 ]") && strings.Contains(s, "Started node3")
	})
	waitIdle(t, l)
	ran("node3", "app", "solo")
	record("node3-rejoined")
	if err := l.Kill("node3"); err != nil {
		t.Fatal(err)
	}
	fenced("node3", 2)
	mon("node3 offline again", func(s string) bool {
		return strings.Contains(s, "OFFLINE: [ node3 ]") && !strings.Contains(s, "Started node3")
	})
	waitIdle(t, l)
	record("node3-fenced-again")
	history("fence-history")
	// The completion times in another time zone's spelling.
	save("fence-history-tz.xml", run("node1", "env", "TZ=Asia/Kolkata", "stonith_admin", "--history", "*", "--verbose", "--output-as=xml"))
	if err := l.Start("node3"); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, l)

	// A VNFC that can run on node1 only (it listens on node1's address),
	// with migration-threshold=1: killed there, it is banned from node1,
	// and its start fails on node2 and node3 (start-failure-is-fatal).
	a1, err := l.Addr("node1")
	if err != nil {
		t.Fatal(err)
	}
	pcs(t, l,
		[]string{"resource", "create", "once", "ocf:vnfha:vnfc", fmt.Sprintf("command=%s --listen %s:8090", vnfcd, a1),
			fmt.Sprintf("health=http://%s:8090/health", a1), "op", "monitor", "interval=60s", "meta", "migration-threshold=1"},
		[]string{"constraint", "location", "once", "prefers", "node1=100"},
	)
	mon("once started on node1", func(s string) bool { return strings.Contains(s, "once\t(ocf:vnfha:vnfc):\t Started node1") })
	waitIdle(t, l)
	run("node1", "pkill", "-9", "-f", fmt.Sprintf("vnfcd --listen %s:8090", a1))
	// Caught, if it can be, while the scheduler still tries other nodes.
	moving := "//node_state[@uname!='node1']//lrm_resource[@id='once']/lrm_rsc_op[@operation='start']"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := l.Exec(ctx, "node1", "cibadmin", "--query", "--xpath", moving)
		if err == nil && len(out) > 0 {
			record("once-moving")
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitIdle(t, l)
	mon("once stopped", func(s string) bool { return strings.Contains(s, "once\t(ocf:vnfha:vnfc):\t Stopped") })
	record("once-unrecoverable")
	fmt.Fprintln(os.Stderr, "fixtures in", dir)
}

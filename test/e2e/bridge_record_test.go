package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// TestRecordBridgeCIBs records the whole CIBs that bridge/testdata holds,
// from a real cluster in each state the bridge's pool rules distinguish.
// It is skipped unless VNFHA_RECORD_BRIDGE names the directory to write
// to (bridge/testdata/README.md).
func TestRecordBridgeCIBs(t *testing.T) {
	dir, l, ctx, vnfcd := bridgeRecorder(t)
	record := func(name string) {
		t.Helper()
		out, err := l.Exec(ctx, "node1", "cibadmin", "--query")
		if err != nil {
			t.Fatalf("cibadmin: %v %s", err, out)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".xml"), out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s (%d bytes)", name, len(out))
	}
	mon := func(what string, cond func(string) bool) {
		t.Helper()
		labtest.Eventually(t, 60*time.Second, 50*time.Millisecond, what, func() (bool, string) {
			out, err := l.Exec(ctx, "node1", "crm_mon", "-1", "-r", "--output-as=text")
			return err == nil && cond(string(out)), string(out)
		})
	}
	pcs(t, l,
		[]string{"resource", "create", "web", "ocf:vnfha:vnfc", "command=" + vnfcd + " --listen :8080",
			"health=http://127.0.0.1:8080/health", "op", "monitor", "interval=60s", "clone"},
		[]string{"resource", "create", "db", "ocf:vnfha:vnfc", "command=" + vnfcd + " --listen :8081",
			"promote_command=http://127.0.0.1:8081/role/promoted", "demote_command=http://127.0.0.1:8081/role/unpromoted",
			"op", "monitor", "interval=5s", "role=Unpromoted", "op", "monitor", "interval=4s", "role=Promoted",
			"promotable", "promoted-max=1"},
		[]string{"resource", "create", "g1", "ocf:heartbeat:Dummy", "--group", "grp"},
		[]string{"resource", "create", "g2", "ocf:heartbeat:Dummy", "--group", "grp"},
		[]string{"resource", "clone", "grp"},
		[]string{"resource", "create", "solo", "ocf:heartbeat:Dummy"},
	)
	mon("everything started", func(s string) bool {
		return strings.Count(s, "Started: [ node1 node2 node3 ]") == 2 && strings.Contains(s, "Promoted: [") &&
			strings.Contains(s, "solo\t(ocf:heartbeat:Dummy):\t Started")
	})
	waitIdle(t, l)
	record("running")

	if out, err := l.Exec(ctx, "node2", "pkill", "-9", "-f", "vnfcd --listen :8080"); err != nil {
		t.Fatalf("kill: %v %s", err, out)
	}
	// Catch the CIB between the failure and the restart: the history
	// then ends with the failed operation.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, err := l.Exec(ctx, "node1", "cibadmin", "--query", "--xpath",
			"//node_state[@uname='node2']//lrm_resource[@id='web']/lrm_rsc_op[contains(@id,'last_failure')]")
		if err == nil && len(out) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	record("web-failed")
	mon("web restarted on node2", func(s string) bool {
		return strings.Contains(s, "Started: [ node1 node2 node3 ]")
	})
	waitIdle(t, l)
	record("web-recovered")

	// A planned stop of the instance that recovered: a session held open
	// on node2's VNFC (vnfcd finishes its requests on SIGTERM) keeps the
	// stop pending for seconds, and the CIB is caught while it is. The
	// pending stop (record-pending) has overwritten web_last_0, the start
	// that resolved the failure, which is still in web_last_failure_0.
	a2, err := l.Addr("node2")
	if err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() {
		_, err := l.Exec(ctx, "node1", "curl", "-sf", "--max-time", "20", fmt.Sprintf("http://%s:8080/slow/5s", a2))
		slow <- err
	}()
	// pcs returns seconds after the attribute is set: the stop is
	// looked for meanwhile.
	standby := make(chan error, 1)
	go func() {
		out, err := l.Exec(ctx, "node1", "pcs", "node", "standby", "node2")
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		standby <- err
	}()
	pendingStop := "//node_state[@uname='node2']//lrm_rsc_op[@id='web_last_0' and @operation='stop' and @op-status='-1']"
	labtest.Eventually(t, 20*time.Second, 10*time.Millisecond, "web's stop pending on node2", func() (bool, string) {
		out, err := l.Exec(ctx, "node1", "cibadmin", "--query", "--xpath", pendingStop)
		return err == nil && len(out) > 0, string(out)
	})
	record("web-stopping-after-recovery")
	if err := <-standby; err != nil {
		t.Fatalf("pcs node standby node2: %v", err)
	}
	if err := <-slow; err != nil {
		t.Errorf("the session held open on node2 during its stop: %v", err)
	}
	waitIdle(t, l)
	record("node2-standby")
	pcs(t, l, []string{"node", "unstandby", "node2"}, []string{"resource", "ban", "web-clone", "node3"})
	waitIdle(t, l)
	record("web-banned-node3")
	pcs(t, l, []string{"resource", "clear", "web-clone"}, []string{"resource", "disable", "web-clone"})
	waitIdle(t, l)
	record("web-disabled")
	pcs(t, l, []string{"resource", "enable", "web-clone"})
	waitIdle(t, l)

	if err := l.Kill("node3"); err != nil {
		t.Fatal(err)
	}
	mon("node3 fenced", func(s string) bool { return strings.Contains(s, "OFFLINE: [ node3 ]") })
	waitIdle(t, l)
	record("node3-fenced")
	fmt.Fprintln(os.Stderr, "fixtures in", dir)
}

// bridgeRecorder is the start of a recorder of bridge/testdata: the
// directory VNFHA_RECORD_BRIDGE names (the test is skipped without it),
// a 3-node lab, its context and the test VNFC's binary.
func bridgeRecorder(t *testing.T) (dir string, l *lab.Lab, ctx context.Context, vnfcd string) {
	t.Helper()
	dir = os.Getenv("VNFHA_RECORD_BRIDGE")
	if dir == "" {
		t.Skip("records fixtures; set VNFHA_RECORD_BRIDGE=DIR (see bridge/testdata/README.md)")
	}
	l = labtest.Up(t, lab.Options{Nodes: 3})
	return dir, l, labtest.Context(t), labtest.BuildVNFCd(t)
}

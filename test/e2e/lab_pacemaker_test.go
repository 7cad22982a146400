package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// TestLabRestartPacemaker: "vnfha lab stop-pacemaker" stops Pacemaker alone
// on a node, as "systemctl stop pacemaker" does on a host: corosync and the
// node's other processes keep running; "start-pacemaker" starts it again
// and returns once the node is back online. Both do nothing when there is
// nothing to do. And a lab brought up by a command that holds a
// descriptor (as "flock LOCK vnfha lab up" does) leaves it to none of the
// node's processes.
func TestLabRestartPacemaker(t *testing.T) {
	labtest.RequireHost(t)
	ctx := labtest.Context(t)
	binary, _ := labtest.Build(t)
	opts := lab.Options{Name: "tpcmkrestart", Nodes: 1, NoFencing: true}
	if err := lab.Down(opts.Name, ""); err != nil {
		t.Fatal(err)
	}
	labtest.Track(t, opts)
	held, err := os.CreateTemp(t.TempDir(), "held-by-the-caller-")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	vnfha := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, binary, append([]string{"lab"}, args...)...)
		cmd.ExtraFiles = []*os.File{held} // fd 3, not close-on-exec in the child
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("vnfha lab %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	vnfha("up", "--name", opts.Name, "--nodes", "1", "--no-fencing")
	l, err := lab.Open(opts.Name, "")
	if err != nil {
		t.Fatal(err)
	}
	exec1 := func(args ...string) (string, error) {
		out, err := l.Exec(ctx, "node1", args...)
		return strings.TrimSpace(string(out)), err
	}
	if out, _ := exec1("sh", "-c", "find /proc/[0-9]*/fd -lname '*"+filepath.Base(held.Name())+"*' 2>/dev/null"); out != "" {
		t.Errorf("processes of the node hold the descriptor vnfha lab up inherited:\n%s", out)
	}

	corosync, err := exec1("pgrep", "-x", "corosync")
	if err != nil {
		t.Fatalf("corosync: %v %s", err, corosync)
	}
	// A process of the node's own, which the restart must leave alone.
	sleeper, err := exec1("sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second stop finds nothing to do
		vnfha("stop-pacemaker", "--name", opts.Name, "node1")
		if out, err := exec1("pgrep", "pacemaker"); err == nil {
			t.Fatalf("Pacemaker still runs after stop-pacemaker: %s", out)
		}
	}
	for what, pid := range map[string]string{"corosync": corosync, "the node's own process": sleeper} {
		if _, err := exec1("kill", "-0", pid); err != nil {
			t.Errorf("%s (pid %s) did not outlive stop-pacemaker", what, pid)
		}
	}
	if _, err := exec1("crm_mon", "-1"); err == nil {
		t.Error("crm_mon answers with Pacemaker stopped")
	}

	vnfha("start-pacemaker", "--name", opts.Name, "node1")
	pacemakerd, err := exec1("pgrep", "-x", "pacemakerd")
	if err != nil {
		t.Fatalf("no pacemakerd after start-pacemaker: %v", err)
	}
	st, err := l.Status(ctx, "node1")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := st.Node("node1"); !st.Quorate() || !ok || !n.Online {
		t.Errorf("after start-pacemaker: quorate %v, node1 %+v", st.Quorate(), n)
	}
	vnfha("start-pacemaker", "--name", opts.Name, "node1")
	if again, _ := exec1("pgrep", "-x", "pacemakerd"); again != pacemakerd {
		t.Errorf("a second start-pacemaker replaced pacemakerd %s with %s", pacemakerd, again)
	}
	if again, _ := exec1("pgrep", "-x", "corosync"); again != corosync {
		t.Errorf("corosync was restarted: pid %s, then %s", corosync, again)
	}
}

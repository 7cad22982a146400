package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/crmwrap/crmmon"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// TestVIPHostileNamespace is issue 9's defect 1 in a real cluster: a vip
// whose network_namespace is not a network namespace (/etc) once made the
// probe and then the stop fail on every node, and every node was fenced,
// in a loop. Now the probe says "not configured" on every node, stop
// succeeds, no node is fenced, the resource that was running keeps
// running where it was, and the bad one ends stopped with a reason that
// says what is wrong.
func TestVIPHostileNamespace(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3})
	ctx := labtest.Context(t)
	c := crmwrap.New(l.Runner("node1"))
	v4, _ := vipAddrs(l)
	bad := v4.Next()

	if out, err := l.Exec(ctx, "node1", "pcs", "resource", "create", "healthy", "ocf:vnfha:vip", "ip="+v4.String(), "op", "monitor", "interval=2s"); err != nil {
		t.Fatalf("create healthy: %v\n%s", err, out)
	}
	var home string
	labtest.Eventually(t, 60*time.Second, 250*time.Millisecond, "healthy started", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		home = activeOn(st, "healthy")
		return home != "", "not active yet"
	})
	before := pacemakerdPIDs(t, ctx, l)

	if out, err := l.Exec(ctx, "node1", "pcs", "resource", "create", "x", "ocf:vnfha:vip", "ip="+bad.String(), "network_namespace=/etc"); err != nil {
		t.Fatalf("create x: %v\n%s", err, out)
	}
	const want = `network_namespace "/etc" is not a network namespace`
	labtest.Eventually(t, 90*time.Second, 250*time.Millisecond, "x refused with a clear reason", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		if fs := failuresAnywhere(st, "x"); len(fs) == 0 || !strings.Contains(fs[0].ExitReason, want) {
			return false, fmt.Sprintf("failures of x: %+v", fs)
		}
		return activeOn(st, "x") == "", "x is active"
	})
	// Let the scheduler finish whatever it decided (a stop on each node,
	// or a fence, which is what must not happen), then look.
	if out, err := l.Exec(ctx, "node1", "crm_resource", "--wait", "--timeout=60s"); err != nil {
		t.Fatalf("crm_resource --wait: %v\n%s", err, out)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes() {
		if !online(st, n) {
			t.Errorf("%s is not online", n)
		}
	}
	for _, f := range st.FenceHistory {
		t.Errorf("fencing: %+v", f)
	}
	if after := pacemakerdPIDs(t, ctx, l); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("pacemakerd restarted on some node (a reboot by fencing): pids %v, then %v", before, after)
	}
	if on := activeOn(st, "healthy"); on != home {
		t.Errorf("healthy is active on %q, was on %s", on, home)
	}
	if on := activeOn(st, "x"); on != "" {
		t.Errorf("x is active on %s", on)
	}
	for _, f := range failuresAnywhere(st, "x") {
		if f.Task == "stop" || strings.HasPrefix(f.OpKey, "x_stop_") {
			t.Errorf("stop of x failed on %s: %+v", f.Node, f)
		}
		if len(f.ExitReason) > 128 || !strings.Contains(f.ExitReason, want) {
			t.Errorf("failure of x on %s has reason %q, want a short one saying %q", f.Node, f.ExitReason, want)
		}
		if f.ExitCode != 6 {
			t.Errorf("failure of x on %s: exit code %d (%s), want 6 (not configured)", f.Node, f.ExitCode, f.ExitStatus)
		}
	}
	t.Logf("x failures: %+v", failuresAnywhere(st, "x"))
}

// activeOn returns the node a primitive is active on, or "".
func activeOn(st *crmmon.Status, id string) string {
	for _, i := range st.Instances() {
		if i.ID == id && i.Active && len(i.Nodes) == 1 {
			return i.Nodes[0].Name
		}
	}
	return ""
}

// failuresAnywhere returns every recorded failure of rsc, on any node.
// failuresAnywhere returns rsc's failures on any node. crmwrap undoes
// crm_mon's double escaping, so ExitReason is what the agent wrote.
func failuresAnywhere(st *crmmon.Status, rsc string) []crmmon.Failure {
	var fs []crmmon.Failure
	for _, f := range st.Failures {
		if strings.HasPrefix(f.OpKey, rsc+"_") {
			fs = append(fs, f)
		}
	}
	return fs
}

// pacemakerdPIDs returns pacemakerd's pid on each node: a node that is
// fenced (rebooted, in the lab) starts a new one.
func pacemakerdPIDs(t *testing.T, ctx context.Context, l *lab.Lab) map[string]string {
	t.Helper()
	pids := map[string]string{}
	for _, n := range l.Nodes() {
		out, err := l.Exec(ctx, n, "pgrep", "-x", "pacemakerd")
		if err != nil {
			t.Fatalf("pgrep pacemakerd on %s: %v\n%s", n, err, out)
		}
		pids[n] = strings.TrimSpace(string(out))
	}
	return pids
}

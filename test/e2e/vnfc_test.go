package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/crmwrap/crmmon"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// pcs runs pcs commands on node1, failing the test on the first error.
func pcs(t *testing.T, l *lab.Lab, cmds ...[]string) {
	t.Helper()
	for _, c := range cmds {
		if out, err := l.Exec(labtest.Context(t), "node1", append([]string{"pcs"}, c...)...); err != nil {
			t.Fatalf("pcs %s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
}

// vnfcdPID returns the pid of vnfcd in a node's PID namespace.
func vnfcdPID(t *testing.T, l *lab.Lab, node string) string {
	t.Helper()
	out, err := l.Exec(labtest.Context(t), node, "pgrep", "-x", "vnfcd")
	pids := strings.Fields(string(out))
	if err != nil || len(pids) != 1 {
		t.Fatalf("pgrep vnfcd on %s: %v %q", node, err, out)
	}
	return pids[0]
}

// waitIdle waits until the cluster has no action in flight
// (crm_resource --wait), at most a minute.
func waitIdle(t *testing.T, l *lab.Lab) {
	t.Helper()
	if out, err := l.Exec(labtest.Context(t), "node1", "crm_resource", "--wait", "--timeout=60s"); err != nil {
		t.Fatalf("crm_resource --wait: %v\n%s", err, out)
	}
}

// failuresOf returns the failures of rsc recorded on node.
func failuresOf(st *crmmon.Status, rsc, node string) []crmmon.Failure {
	var fs []crmmon.Failure
	for _, f := range st.Failures {
		if f.Node == node && strings.HasPrefix(f.OpKey, rsc+"_") {
			fs = append(fs, f)
		}
	}
	return fs
}

// TestVNFCCloneFastFail: a clone of 3 VNFCs; kill -9 of one is recorded by
// Pacemaker at once, long before the monitor (every 60 s) could find it,
// and the instance is restarted in place.
func TestVNFCCloneFastFail(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3})
	ctx := labtest.Context(t)
	vnfcd := labtest.BuildVNFCd(t)

	out, err := l.Exec(ctx, "node1", "pcs", "resource", "describe", "ocf:vnfha:vnfc")
	if err != nil {
		t.Fatalf("pcs resource describe: %v\n%s", err, out)
	}
	for _, want := range []string{"ocf:vnfha:vnfc", "command", "health", "fast_fail", "promote_command", "backend"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pcs resource describe lacks %q:\n%s", want, out)
		}
	}
	pcs(t, l, []string{"resource", "create", "app", "ocf:vnfha:vnfc", "command=" + vnfcd + " --listen :8080",
		"health=http://127.0.0.1:8080/health", "log_file=/var/log/pacemaker/vnfc-app.log",
		"op", "monitor", "interval=60s", "clone"})
	c := crmwrap.New(l.Runner("node1"))
	labtest.Eventually(t, 60*time.Second, 200*time.Millisecond, "3 instances started", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		roles := st.Roles("app")
		return len(roles) == 3, fmt.Sprintf("%v; failures %+v", roles, st.Failures)
	})
	// crm_mon shows an instance as Started while its start still runs
	// (settle_time); a kill then fails the start, not the VNFC. Wait
	// until the cluster has no action in flight.
	waitIdle(t, l)

	old := vnfcdPID(t, l, "node2")
	if out, err := l.Exec(ctx, "node2", "kill", "-9", old); err != nil {
		t.Fatalf("kill: %v %s", err, out)
	}
	killed := time.Now()
	var recorded time.Duration
	labtest.Eventually(t, 10*time.Second, 20*time.Millisecond, "failure of app on node2 recorded", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		fs := failuresOf(st, "app", "node2")
		recorded = time.Since(killed)
		return len(fs) > 0, fmt.Sprintf("failures %+v", st.Failures)
	})
	// The monitor runs every 60 s: only the supervisor's report can have
	// recorded the failure this early.
	if recorded > 10*time.Second {
		t.Errorf("failure recorded after %s", recorded)
	}
	t.Logf("failure recorded within %s of the kill (crm_mon polled every 20 ms)", recorded.Round(time.Millisecond))

	labtest.Eventually(t, 30*time.Second, 200*time.Millisecond, "app restarted on node2", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		roles := st.Roles("app")
		if _, ok := roles["node2"]; !ok || len(roles) != 3 {
			return false, fmt.Sprintf("%v", roles)
		}
		out, err := l.Exec(ctx, "node2", "pgrep", "-x", "vnfcd")
		return err == nil && strings.TrimSpace(string(out)) != old, string(out)
	})
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"node1", "node3"} {
		if fs := failuresOf(st, "app", n); len(fs) != 0 {
			t.Errorf("failures on %s, which nothing touched: %+v", n, fs)
		}
	}
	// Before 2.1.6, Pacemaker adds 2 or 1 to the fail count for one
	// reported failure (docs/agents/vnfc.md, "Fail counts and
	// migration-threshold"; TestVNFCFailCountThreshold asserts it).
	out, _ = l.Exec(ctx, "node1", "crm_failcount", "--query", "--resource", "app", "--node", "node2")
	t.Logf("fail count of app on node2 after one kill: %s", strings.TrimSpace(string(out)))
	// The supervisor wrote what happened to the log, and reported over
	// the controller's IPC: crm_resource is only the fallback.
	out, _ = l.Exec(ctx, "node2", "cat", "/var/log/pacemaker/vnfc-app.log")
	if !strings.Contains(string(out), "killed by signal 9") ||
		!strings.Contains(string(out), "reported the failure of app on node2 to Pacemaker through the controller's IPC") {
		t.Errorf("the log does not tell the story:\n%s", out)
	}
}

// TestVNFCPromotableWithVIP: an active/standby VNFC pair, with a VIP that
// follows the promoted instance. Killing the promoted VNFC moves the
// promotion and the VIP to another node, and a client's traffic to the VIP
// resumes there, answered by a VNFC its promote hook made active.
func TestVNFCPromotableWithVIP(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3})
	ctx := labtest.Context(t)
	vnfcd := labtest.BuildVNFCd(t)
	vip := netip.AddrFrom4(l.Subnet().Addr().As4())
	vip = netip.AddrFrom4([4]byte{vip.As4()[0], vip.As4()[1], vip.As4()[2], 100})

	pcs(t, l,
		[]string{"resource", "create", "sig", "ocf:vnfha:vnfc", "command=" + vnfcd + " --listen :8080",
			"health=http://127.0.0.1:8080/health",
			"promote_command=http://127.0.0.1:8080/role/promoted", "demote_command=http://127.0.0.1:8080/role/unpromoted",
			"op", "monitor", "interval=5s", "role=Unpromoted", "op", "monitor", "interval=4s", "role=Promoted",
			"promotable", "promoted-max=1", "meta", "migration-threshold=1"},
		[]string{"resource", "create", "sigvip", "ocf:vnfha:vip", "ip=" + vip.String(), "op", "monitor", "interval=5s"},
		[]string{"constraint", "colocation", "add", "sigvip", "with", "Promoted", "sig-clone", "INFINITY"},
		[]string{"constraint", "order", "promote", "sig-clone", "then", "start", "sigvip"},
	)
	c := crmwrap.New(l.Runner("node1"))
	promoted := func(avoid string) string {
		var on string
		labtest.Eventually(t, 60*time.Second, 100*time.Millisecond, "one promoted sig and the VIP with it", func() (bool, string) {
			st, err := c.Status(ctx)
			if err != nil {
				return false, err.Error()
			}
			var p []string
			for n, r := range st.Roles("sig") {
				if r == "Promoted" {
					p = append(p, n)
				}
			}
			v := st.Roles("sigvip")
			if len(p) != 1 || p[0] == avoid || v[p[0]] != "Started" {
				return false, fmt.Sprintf("promoted %v, vip %v, failures %+v", p, v, st.Failures)
			}
			on = p[0]
			return true, ""
		})
		return on
	}
	active := promoted("")

	// The client asks the VIP every 50 ms who answers.
	url := "http://" + netip.AddrPortFrom(vip, 8080).String() + "/"
	hc := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.Dial(ctx, lab.ClientName, network, addr)
		},
	}}
	ask := func(ctx context.Context) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)), err
	}
	labtest.Eventually(t, 20*time.Second, 100*time.Millisecond, "the promoted VNFC answers on the VIP", func() (bool, string) {
		got, err := ask(ctx)
		return got == active+" promoted", fmt.Sprintf("%q %v", got, err)
	})

	type answer struct {
		at   time.Time
		body string
		err  error
	}
	var (
		mu      sync.Mutex
		answers []answer
	)
	waitIdle(t, l) // the standbys' starts too: a kill must not land in one
	loopCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 1200 && loopCtx.Err() == nil; i++ { // a minute at most
			body, err := ask(loopCtx)
			mu.Lock()
			answers = append(answers, answer{time.Now(), body, err})
			mu.Unlock()
			select {
			case <-loopCtx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	if out, err := l.Exec(ctx, active, "kill", "-9", vnfcdPID(t, l, active)); err != nil {
		t.Fatalf("kill: %v %s", err, out)
	}
	killed := time.Now()
	moved := promoted(active)
	var resumed time.Time
	labtest.Eventually(t, 30*time.Second, 50*time.Millisecond, "the client is answered by "+moved, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range answers {
			if a.at.After(killed) && a.body == moved+" promoted" {
				resumed = a.at
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d answers", len(answers))
	})
	stop()
	wg.Wait()
	t.Logf("promotion and VIP moved from %s to %s; the client was answered by the new active %s after the kill (requests every 50 ms)",
		active, moved, resumed.Sub(killed).Round(10*time.Millisecond))
	// Nothing but the new active answered after it took over.
	for _, a := range answers {
		if a.at.After(resumed) && a.err == nil && a.body != moved+" promoted" {
			t.Errorf("at %s the VIP was answered by %q", a.at.Format(time.StampMilli), a.body)
		}
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fs := failuresOf(st, "sig", active); len(fs) == 0 {
		t.Errorf("no failure recorded for sig on %s", active)
	}
}

// TestVNFCHungCaughtByHealth: a VNFC stopped with SIGSTOP still exists, so
// only the health check can find it: within the monitor interval plus
// health_timeout, with the reason in the failure.
func TestVNFCHungCaughtByHealth(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3})
	ctx := labtest.Context(t)
	vnfcd := labtest.BuildVNFCd(t)
	const interval, timeout = 2 * time.Second, time.Second
	pcs(t, l, []string{"resource", "create", "hung", "ocf:vnfha:vnfc", "command=" + vnfcd + " --listen :8080",
		"health=http://127.0.0.1:8080/health", "health_timeout=1s",
		"op", "monitor", "interval=2s", "meta", "migration-threshold=1"})
	c := crmwrap.New(l.Runner("node1"))
	var on string
	labtest.Eventually(t, 60*time.Second, 200*time.Millisecond, "hung started", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		for n := range st.Roles("hung") {
			on = n
		}
		return on != "", fmt.Sprintf("failures %+v", st.Failures)
	})
	waitIdle(t, l)
	pid := vnfcdPID(t, l, on)
	if out, err := l.Exec(ctx, on, "kill", "-STOP", pid); err != nil {
		t.Fatalf("kill -STOP: %v %s", err, out)
	}
	stopped := time.Now()
	var fs []crmmon.Failure
	labtest.Eventually(t, 20*time.Second, 50*time.Millisecond, "the hang is recorded", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		fs = failuresOf(st, "hung", on)
		return len(fs) > 0, fmt.Sprintf("failures %+v", st.Failures)
	})
	took := time.Since(stopped)
	t.Logf("hang found %s after SIGSTOP (interval %s + timeout %s): %+v", took.Round(10*time.Millisecond), interval, timeout, fs[0])
	// The bound has a second of slack for the 50 ms polling and the
	// executor's scheduling; the check itself is bounded by the timeout.
	if took > interval+timeout+time.Second {
		t.Errorf("hang found after %s, want within %s", took, interval+timeout)
	}
	if !strings.Contains(fs[0].ExitReason, "no answer within 1s") {
		t.Errorf("exit reason %q does not name the health check", fs[0].ExitReason)
	}
	// Recovery: the stop must end the stopped process (SIGCONT follows
	// stop_signal), and the resource moves away.
	labtest.Eventually(t, 30*time.Second, 200*time.Millisecond, "hung recovered on another node", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		r := st.Roles("hung")
		_, stillThere := r[on]
		return len(r) == 1 && !stillThere, fmt.Sprintf("%v", r)
	})
	if out, err := l.Exec(ctx, on, "pgrep", "-x", "vnfcd"); err == nil {
		t.Errorf("the hung VNFC survived its stop on %s: %s", on, out)
	}
}

// TestVNFCOCFTesterPromotable runs ocf-tester in a lab node on the agent as
// an instance of a promotable clone, with role hooks: there crm_attribute
// has a cluster, so the promotion scores are real. Then the same actions
// one by one show the score each leaves.
func TestVNFCOCFTesterPromotable(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3})
	ctx := labtest.Context(t)
	vnfcd := labtest.BuildVNFCd(t)
	// Built where user nobody can run it, as ocf-tester checks; the lab's
	// own copy sits in a private test directory.
	agent := ocftest.BuildAgent(t, "vnfc")
	env := []string{"env", "OCF_ROOT=/usr/lib/ocf", "HA_RSCTMP=/run/resource-agents",
		"OCF_RESKEY_CRM_meta_promotable=true", "OCF_RESKEY_CRM_meta_clone_max=3", "OCF_RESKEY_CRM_meta_promoted_max=1",
		"OCF_RESKEY_CRM_meta_on_node=node1"}
	out, err := l.Exec(ctx, "node1", append(env, "ocf-tester", "-v", "-n", "standalone",
		"-o", "command="+vnfcd+" --listen :8080", "-o", "health=http://127.0.0.1:8080/health",
		"-o", "promote_command=http://127.0.0.1:8080/role/promoted", "-o", "demote_command=http://127.0.0.1:8080/role/unpromoted",
		agent)...)
	if err != nil || !strings.Contains(string(out), "passed all tests") {
		t.Fatalf("ocf-tester: %v\n%s", err, out)
	}

	run := func(action string) {
		t.Helper()
		argv := append(append([]string{}, env...), "OCF_RESOURCE_INSTANCE=standalone", "OCF_RESKEY_command="+vnfcd+" --listen :8080",
			"OCF_RESKEY_health=http://127.0.0.1:8080/health", agent, action)
		if out, err := l.Exec(ctx, "node1", argv...); err != nil {
			t.Fatalf("%s: %v\n%s", action, err, out)
		}
	}
	score := func() string {
		out, _ := l.Exec(ctx, "node1", "crm_attribute", "--promotion", "standalone", "--node", "node1", "--lifetime", "reboot", "--query", "--quiet")
		return strings.TrimSpace(string(out))
	}
	for _, step := range []struct{ action, want string }{
		{"start", "5"}, {"promote", "10"}, {"demote", "5"}, {"stop", ""},
	} {
		run(step.action)
		got := score()
		t.Logf("after %s: promotion score %q", step.action, got)
		if got != step.want && !(step.want == "" && strings.Contains(got, "No such")) {
			t.Errorf("after %s the promotion score is %q, want %q", step.action, got, step.want)
		}
	}
}

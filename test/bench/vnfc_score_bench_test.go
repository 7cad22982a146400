package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/internal/attrd"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/test/benchreport"
)

// scoreMonitorRuns is how many times each monitor variant runs, in turns
// (fewer in a quick run).
var scoreMonitorRuns = rounds(60, 5)

// monitorLoopEnv carries a monitorLoop to the helper that runs it inside a
// lab node (TestMonitorLoopHelper).
const monitorLoopEnv = "VNFHA_BENCH_MONITOR_LOOP"

// monitorLoop says what the helper runs: each variant's agent with its
// environment, Runs times in turns.
type monitorLoop struct {
	Runs     int
	Variants []monitorVariant
}

type monitorVariant struct {
	Name  string
	Agent string
	Env   []string
	// Erase, if set, deletes this attribute of this node (Erase[1])
	// before each run, unmeasured, and waits until attrd has no value.
	Erase []string
	// Want is the exit status the agent must give.
	Want int
}

// BenchmarkVNFCMonitorScore measures what the promotion score check costs
// vnfc's monitor, in a lab node, against the real pacemaker-attrd: the
// monitor of a running unpromoted instance of a promotable clone (it asks
// attrd for the score over IPC, and finds it), the same monitor without
// the promotable meta attributes (what monitor cost before it checked the
// score), the monitor that finds the score missing and restores it (one
// crm_attribute), and ocf:pacemaker:Stateful's recurring monitor and probe
// (the probe runs crm_attribute every time). The cluster is in maintenance
// mode meanwhile, so that Pacemaker's own monitors and score-driven
// transitions do not run alongside. Besides each monitor's wall and CPU
// time it reports what each costs pacemaker-attrd in CPU (its run time in
// /proc/PID/schedstat from a quiet attrd before the monitor to a quiet
// attrd after it, which includes tearing the connection down): the price
// of the query, paid by the one attrd of the node for every promotable
// instance's every monitor.
func BenchmarkVNFCMonitorScore(b *testing.B) {
	l := labtest.Up(b, lab.Options{Nodes: 2})
	ctx := labtest.Context(b)
	vnfcd := labtest.BuildVNFCd(b)
	command := vnfcd + " --listen :8080"
	health := "http://127.0.0.1:8080/health"
	for _, c := range [][]string{
		{"resource", "create", "sig", "ocf:vnfha:vnfc", "command=" + command, "health=" + health,
			"op", "monitor", "interval=5s", "role=Unpromoted", "op", "monitor", "interval=4s", "role=Promoted",
			"promotable", "promoted-max=1"},
		{"resource", "create", "st", "ocf:pacemaker:Stateful",
			"op", "monitor", "interval=5s", "role=Unpromoted", "op", "monitor", "interval=4s", "role=Promoted",
			"promotable", "promoted-max=1"},
	} {
		if out, err := l.Exec(ctx, "node1", append([]string{"pcs"}, c...)...); err != nil {
			b.Fatalf("pcs %s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	c := crmwrap.New(l.Runner("node1"))
	var node string
	labtest.Eventually(b, 60*time.Second, 200*time.Millisecond, "sig and st Unpromoted on the same node", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		roles := map[string]map[string]string{"sig": {}, "st": {}}
		for _, i := range st.Instances() {
			if r, ok := roles[i.ID]; ok && i.Active && !i.Failed && len(i.Nodes) == 1 {
				r[i.Nodes[0].Name] = i.Role
			}
		}
		node = ""
		for _, n := range l.Nodes() {
			if roles["sig"][n] == "Unpromoted" && roles["st"][n] == "Unpromoted" {
				node = n
			}
		}
		return node != "", fmt.Sprint(roles)
	})
	for _, cmd := range [][]string{{"crm_resource", "--wait", "--timeout=60s"},
		{"pcs", "property", "set", "maintenance-mode=true"}, {"crm_resource", "--wait", "--timeout=60s"}} {
		if out, err := l.Exec(ctx, "node1", cmd...); err != nil {
			b.Fatalf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
		}
	}

	// What Pacemaker's executor gives the agents (the parts they read).
	common := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT=/usr/lib/ocf", "HA_RSCTMP=/run/resource-agents",
		"HA_LOGFILE=/var/log/pacemaker/pacemaker.log", "HA_LOGFACILITY=none", "OCF_RESKEY_crm_feature_set=3.16.1",
		"OCF_RESKEY_CRM_meta_on_node=" + node, "OCF_RESKEY_CRM_meta_timeout=20000",
		"OCF_RESKEY_CRM_meta_clone=0", "OCF_RESKEY_CRM_meta_clone_max=2", "OCF_RESKEY_CRM_meta_clone_node_max=1"}
	promotable := []string{"OCF_RESKEY_CRM_meta_promotable=true", "OCF_RESKEY_CRM_meta_promoted_max=1",
		"OCF_RESKEY_CRM_meta_promoted_node_max=1"}
	vnfc := append([]string{"OCF_RESOURCE_INSTANCE=sig", "OCF_RESOURCE_TYPE=vnfc", "OCF_RESOURCE_PROVIDER=vnfha",
		"OCF_RESKEY_command=" + command, "OCF_RESKEY_health=" + health}, common...)
	stateful := append([]string{"OCF_RESOURCE_INSTANCE=st", "OCF_RESOURCE_TYPE=Stateful", "OCF_RESOURCE_PROVIDER=pacemaker"},
		append(common, promotable...)...)
	// A recurring monitor's interval, or 0 for a probe.
	env := func(interval string, base []string, extra ...string) []string {
		return append(append(append([]string(nil), base...), extra...), "OCF_RESKEY_CRM_meta_interval="+interval)
	}
	const (
		vnfcAgent     = "/usr/lib/ocf/resource.d/vnfha/vnfc"
		statefulAgent = "/usr/lib/ocf/resource.d/pacemaker/Stateful"
	)
	loop := monitorLoop{Runs: scoreMonitorRuns, Variants: []monitorVariant{
		{Name: "vnfc", Agent: vnfcAgent, Env: env("5000", vnfc, promotable...)},
		{Name: "vnfc-noscore", Agent: vnfcAgent, Env: env("5000", vnfc)},
		{Name: "vnfc-restore", Agent: vnfcAgent, Env: env("5000", vnfc, promotable...), Erase: []string{"master-sig", node}},
		{Name: "Stateful", Agent: statefulAgent, Env: env("5000", stateful)},
		{Name: "Stateful-probe", Agent: statefulAgent, Env: env("0", stateful)},
	}}
	spec, err := json.Marshal(loop)
	if err != nil {
		b.Fatal(err)
	}
	rec := newResults(benchreport.Results{
		Benchmark: "BenchmarkVNFCMonitorScore",
		Title:     "vnfc monitor: what the promotion score check costs",
		Setup: fmt.Sprintf("A 2-node lab in maintenance mode (so that Pacemaker's own monitors do not run alongside); "+
			"each monitor run by a helper inside a node, as the executor would, against the real pacemaker-attrd, "+
			"%d times a variant in turns. vnfc: a running unpromoted instance of a promotable clone (asks attrd for its "+
			"score over IPC and finds it); vnfc-noscore: the same without the promotable meta attributes; vnfc-restore: "+
			"the score missing, restored with one crm_attribute; Stateful and Stateful-probe: ocf:pacemaker:Stateful's "+
			"recurring monitor and probe. Wall and CPU (user+system with children) of the agent; attrd CPU: "+
			"pacemaker-attrd's run time (schedstat) from quiet to quiet around the run.", scoreMonitorRuns),
		Reproduce: "VNFHA_BENCH_RESULTS=$PWD/docs/benchmarks go test -count=1 -run '^$' -bench 'BenchmarkVNFCMonitorScore$' -benchtime 1x ./test/bench/ && make bench-report",
	})
	for i := 0; i < b.N; i++ {
		// The helper is this test binary, run inside the node: attrd's
		// socket and rings are in the node's network namespace and
		// /dev/shm, which an nsenter per run would also charge for.
		out, err := l.Exec(ctx, node, "env", monitorLoopEnv+"="+string(spec), os.Args[0],
			"-test.run=^TestMonitorLoopHelper$", "-test.v")
		if err != nil {
			b.Fatalf("monitor loop in %s: %v\n%s", node, err, out)
		}
		var got map[string][]cost
		attrdCPU := map[string][]cost{} // in cpu
		for _, line := range strings.Split(string(out), "\n") {
			if j, ok := strings.CutPrefix(line, "RESULT "); ok {
				var walls map[string][3][]time.Duration
				if err := json.Unmarshal([]byte(j), &walls); err != nil {
					b.Fatalf("helper's result: %v\n%s", err, out)
				}
				got = map[string][]cost{}
				for name, wc := range walls {
					for k := range wc[0] {
						got[name] = append(got[name], cost{wc[0][k], wc[1][k]})
						attrdCPU[name] = append(attrdCPU[name], cost{cpu: wc[2][k]})
					}
				}
			}
		}
		if got == nil {
			b.Fatalf("no result from the helper:\n%s", out)
		}
		base := median(got["vnfc-noscore"])
		for _, v := range loop.Variants {
			med := median(got[v.Name])
			b.ReportMetric(ms(med.wall), "ms-monitor-"+v.Name)
			b.ReportMetric(ms(med.cpu), "ms-cpu-monitor-"+v.Name)
			attrd := median(attrdCPU[v.Name]).cpu
			b.ReportMetric(ms(attrd), "ms-attrd-cpu-"+v.Name)
			b.Logf("monitor %-15s wall median %6.2f ms (min %6.2f, max %6.2f), cpu median %6.2f ms, %+6.2f ms against vnfc-noscore; attrd's cpu median %5.2f ms (%d runs)",
				v.Name, ms(med.wall), ms(minOf(got[v.Name]).wall), ms(maxOf(got[v.Name]).wall), ms(med.cpu),
				ms(med.wall-base.wall), ms(attrd), len(got[v.Name]))
			if i == 0 {
				var walls, cpus, attrds []time.Duration
				for k, c := range got[v.Name] {
					walls, cpus, attrds = append(walls, c.wall), append(cpus, c.cpu), append(attrds, attrdCPU[v.Name][k].cpu)
				}
				rec.Latency = append(rec.Latency, timings(v.Name+", wall", walls, sum(walls)),
					timings(v.Name+", CPU", cpus, sum(walls)), timings(v.Name+", attrd CPU", attrds, sum(walls)))
			}
		}
	}
	recordResults(b, rec)
}

// TestMonitorLoopHelper is BenchmarkVNFCMonitorScore's helper inside a lab
// node; it does nothing elsewhere. It runs each variant's monitor in
// turns and prints each run's wall and CPU time (user+system of the agent
// and what it waited for), and pacemaker-attrd's CPU time from quiet to
// quiet around the run, as one JSON line.
func TestMonitorLoopHelper(t *testing.T) {
	spec := os.Getenv(monitorLoopEnv)
	if spec == "" {
		t.Skip("runs inside a lab node for BenchmarkVNFCMonitorScore")
	}
	var loop monitorLoop
	if err := json.Unmarshal([]byte(spec), &loop); err != nil {
		t.Fatal(err)
	}
	attrdPID, err := exec.Command("pgrep", "-x", "pacemaker-attrd").Output()
	if err != nil {
		t.Fatalf("pgrep pacemaker-attrd: %v", err)
	}
	schedstat := "/proc/" + strings.TrimSpace(string(attrdPID)) + "/schedstat"
	res := map[string][3][]time.Duration{}
	for r := 0; r < loop.Runs; r++ {
		for _, v := range loop.Variants {
			if v.Erase != nil {
				eraseAttr(t, v.Erase[0], v.Erase[1])
			}
			// Nothing of the run before (a CIB write of attrd's, an
			// erase) is charged to this one.
			attrd0 := quiet(t, schedstat)
			cmd := exec.Command(v.Agent, "monitor")
			cmd.Env = v.Env
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			t0 := time.Now()
			err := cmd.Run()
			wall := time.Since(t0)
			if code := cmd.ProcessState.ExitCode(); code != v.Want {
				t.Fatalf("%s monitor = %d (%v), want %d:\n%s", v.Name, code, err, v.Want, &out)
			}
			cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			// attrd ends a connection after its client has gone, and
			// writes a restored score out.
			time.Sleep(20 * time.Millisecond)
			attrd := quiet(t, schedstat) - attrd0
			if v.Erase != nil {
				if got, err := queryAttr(v.Erase[1], v.Erase[0]); err != nil || !got.Set {
					t.Fatalf("%s: the monitor did not restore %s: %+v %v\n%s", v.Name, v.Erase[0], got, err, &out)
				}
			}
			r := res[v.Name]
			r[0], r[1], r[2] = append(r[0], wall), append(r[1], cpu), append(r[2], attrd)
			res[v.Name] = r
		}
	}
	j, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("RESULT %s\n", j)
}

// runTime is the CPU time a process has run, from its schedstat file.
func runTime(t *testing.T, schedstat string) time.Duration {
	t.Helper()
	b, err := os.ReadFile(schedstat)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		t.Fatalf("%s: %q", schedstat, b)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", schedstat, err)
	}
	return time.Duration(ns)
}

// quiet waits until the process of schedstat has not run for 10 ms (at
// most 1 s) and returns its run time then.
func quiet(t *testing.T, schedstat string) time.Duration {
	t.Helper()
	last := runTime(t, schedstat)
	for i := 0; i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
		now := runTime(t, schedstat)
		if now == last {
			return now
		}
		last = now
	}
	return last
}

// eraseAttr deletes a node attribute through attrd and waits (at most 5 s)
// until attrd has no value for it.
func eraseAttr(t *testing.T, name, node string) {
	t.Helper()
	if out, err := exec.Command("attrd_updater", "--delete", "--name", name, "--node", node).CombinedOutput(); err != nil {
		t.Fatalf("attrd_updater --delete: %v\n%s", err, out)
	}
	for i := 0; i < 500; i++ {
		v, err := queryAttr(node, name)
		if err == nil && !v.Set {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s of %s still set 5 s after its delete", name, node)
}

func queryAttr(node, name string) (attrd.Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return attrd.Query(ctx, node, name, "vnfha-bench")
}

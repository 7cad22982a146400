package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge"
	"github.com/vnfha/vnfha/bridge/haproxy"
	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/test/benchreport"
	"github.com/vnfha/vnfha/test/haproxytest"
)

// The synthetic cluster of the reconcile benchmark: synthClones clones of
// one primitive each, on synthNodes nodes, so synthNodes*synthClones =
// 5,000 resource instances, every one of them a server of a pool: the
// heaviest case for the bridge, which reads every instance of every
// configured service. 20 nodes is past what corosync clusters usually run
// as full nodes, and 250 backends on one HAProxy is a large LB.
const (
	synthNodes  = 20
	synthClones = 250
	// synthFailNode is where the failure variant's instance of svc0 failed.
	synthFailNode = "n3"
	// synthCacheDir keeps the generated CIBs between runs: generating
	// them costs a few seconds of crm_simulate.
	synthCacheVersion = "v1"
)

// reconcileRounds is how many snapshots of each kind are timed (fewer in
// a quick run).
var reconcileRounds = rounds(20, 5)

// BenchmarkBridgeReconcile5000 times the bridge's whole path per CIB
// snapshot on a cluster of 5,000 resource instances: bridge.Plan (parse
// the CIB, build the view, compute the desired pools) and the reconcile
// against a real HAProxy (StartLocal) whose 250 backends hold the 5,000
// servers. Goal (issue): ≤ 100 ms. Three kinds of snapshot are timed:
//
//   - steady: the same CIB again, nothing to change (every resync, and
//     every notification that changes nothing the pools depend on);
//   - fail: one instance failed, so one server goes to maintenance (the
//     kill path);
//   - back: it recovered, so its server re-enters (enable, health down).
//
// Memory: the allocations of one Plan and of one reconcile (bytes and
// count, from runtime.MemStats), and the process's peak RSS (VmHWM,
// reset through /proc/self/clear_refs before the timed part, so it is the
// peak of this benchmark alone, Go runtime and test binary included).
//
// The CIBs are made by Pacemaker's own scheduler: crm_simulate runs one
// clone on the 20 nodes (probes, starts, monitors recorded in each
// node's lrm history, as the controller records them) and injects a
// failed monitor (crm_simulate -i) for the failure variant; the
// benchmark then replicates that clone's configuration and histories
// 250 times under new ids. crm_simulate itself is not used for all 5,000
// because its simulated CIB updates grow superlinearly (200 instances
// take 14 s, 500 take 52 s on this machine).
func BenchmarkBridgeReconcile5000(b *testing.B) {
	testenv.Tool(b, "crm_simulate")
	testenv.Tool(b, "haproxy")
	running, failed := synthCIBs(b)

	addrs := make([]string, 0, synthNodes)
	for i := 1; i <= synthNodes; i++ {
		addrs = append(addrs, fmt.Sprintf("n%d: 127.0.1.%d", i, i))
	}
	h := haproxytest.StartLocal(b, synthHAProxyConfig(b))
	var yml strings.Builder
	// check.inter 1h: the 5,000 servers point at loopback addresses where
	// nothing listens; checks every second would make HAProxy spend the
	// machine's CPU on refused connections during the timing. A server
	// stays DOWN (health down on enable), which the pool accepts for
	// "serve": what is timed is the reconcile, not the checks.
	fmt.Fprintf(&yml, "listen: \"\"\nnode_addresses: {%s}\nhaproxy:\n  - {name: lb, admin: \"unix://%s\", timeout: 1m}\nservices:\n",
		strings.Join(addrs, ", "), h.AdminSocket)
	for c := range synthClones {
		fmt.Fprintf(&yml, "  - {name: web%d, resource: svc%d-clone, backend: be_svc%d, port: 8000, check: {inter: 1h}}\n", c, c, c)
	}
	cfg, err := bridge.ParseConfig([]byte(yml.String()))
	if err != nil {
		b.Fatal(err)
	}
	client, err := haproxy.NewClient("unix://" + h.AdminSocket)
	if err != nil {
		b.Fatal(err)
	}
	pool := haproxy.NewPool(client, haproxy.PoolOptions{})
	ctx := context.Background()
	// One Planner for the run, as the bridge keeps one: the first pass
	// (converging) parses the whole CIB; each later one parses again only
	// the node_state that changed since the previous document.
	var planner *bridge.Planner

	// One pass: Plan and Reconcile, timed apart; the changes made.
	type pass struct {
		plan, rec   time.Duration
		changes     int
		planB, recB uint64        // bytes allocated
		planN, recN uint64        // allocations
		cpu         time.Duration // user+system CPU of the process (GC included), both parts
	}
	run := func(doc []byte) pass {
		var p pass
		var m0, m1, m2 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c0 := processCPU(b)
		t0 := time.Now()
		v, desired, err := planner.Plan(doc, t0)
		t1 := time.Now()
		runtime.ReadMemStats(&m1)
		if err != nil {
			b.Fatal(err)
		}
		if n := countInstances(v); n != synthNodes*synthClones {
			b.Fatalf("the view holds %d instances, want %d", n, synthNodes*synthClones)
		}
		t2 := time.Now()
		_, ch, err := pool.Reconcile(ctx, desired["lb"])
		t3 := time.Now()
		p.cpu = processCPU(b) - c0
		runtime.ReadMemStats(&m2)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range ch {
			if c.Err != nil {
				b.Fatalf("%s %s/%s: %v", c.Action, c.Backend, c.Server, c.Err)
			}
		}
		p.plan, p.rec, p.changes = t1.Sub(t0), t3.Sub(t2), len(ch)
		p.planB, p.planN = m1.TotalAlloc-m0.TotalAlloc, m1.Mallocs-m0.Mallocs
		p.recB, p.recN = m2.TotalAlloc-m1.TotalAlloc, m2.Mallocs-m1.Mallocs
		return p
	}

	rec := newResults(benchreport.Results{
		Benchmark: "BenchmarkBridgeReconcile5000",
		Title:     "The bridge's reconcile of 5,000 instances",
		Setup: fmt.Sprintf("No lab: a CIB made by Pacemaker's own scheduler (crm_simulate) for %d nodes and %d clones "+
			"(%d instances), and a real HAProxy 2.6 on the machine's loopback whose %d backends hold the %d servers. "+
			"Each snapshot timed from the CIB's text to HAProxy's answers: bridge.Plan (parse, view, desired pools) "+
			"then the reconcile over the runtime API, one snapshot at a time, %d rounds of each kind: steady (nothing "+
			"to change), fail (one instance failed: one server to maintenance), back (it recovered). Goal ≤ 100 ms.",
			synthNodes, synthClones, synthNodes*synthClones, synthClones, synthNodes*synthClones, reconcileRounds),
		Reproduce: "VNFHA_BENCH_RESULTS=$PWD/docs/benchmarks go test -count=1 -run '^$' -bench 'BenchmarkBridgeReconcile5000$' -benchtime 1x ./test/bench/ && make bench-report",
	})
	for i := 0; i < b.N; i++ {
		planner = bridge.NewPlanner(cfg)
		// Converge from an empty HAProxy: 5,000 add server + enable.
		conv := run(running)
		if conv.changes != 2*synthNodes*synthClones {
			b.Fatalf("converging made %d changes, want %d", conv.changes, 2*synthNodes*synthClones)
		}
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Logf("cannot reset the peak RSS (%v): VmHWM includes what came before", err)
		}
		var steady, fail, back []pass
		for r := 0; r < reconcileRounds; r++ {
			p := run(running)
			if p.changes != 0 {
				b.Fatalf("steady round %d made %d changes", r, p.changes)
			}
			steady = append(steady, p)
			if p = run(failed); p.changes != 1 {
				b.Fatalf("fail round %d made %d changes, want 1", r, p.changes)
			}
			fail = append(fail, p)
			if p = run(running); p.changes != 1 {
				b.Fatalf("back round %d made %d changes, want 1", r, p.changes)
			}
			back = append(back, p)
		}
		hwm := vmHWM(b)
		total := func(ps []pass) []time.Duration {
			var ds []time.Duration
			for _, p := range ps {
				ds = append(ds, p.plan+p.rec)
			}
			return ds
		}
		field := func(ps []pass, f func(pass) time.Duration) []time.Duration {
			var ds []time.Duration
			for _, p := range ps {
				ds = append(ds, f(p))
			}
			return ds
		}
		planD := func(p pass) time.Duration { return p.plan }
		recD := func(p pass) time.Duration { return p.rec }
		b.Logf("CIB: %d bytes, %d nodes, %d clones, %d instances; HAProxy: %d backends, %d servers; %d rounds each",
			len(running), synthNodes, synthClones, synthNodes*synthClones, synthClones, synthNodes*synthClones, reconcileRounds)
		b.Logf("converge from empty: plan %.1f ms + reconcile %.1f ms (%d commands)", ms(conv.plan), ms(conv.rec), conv.changes)
		b.Logf("%-8s %-22s %-22s %-22s %-18s", "snapshot", "plan ms p50 / p99", "reconcile ms p50 / p99", "total ms p50 / p99", "CPU ms p50 / p99")
		cpuD := func(p pass) time.Duration { return p.cpu }
		for _, row := range []struct {
			name string
			ps   []pass
		}{{"steady", steady}, {"fail", fail}, {"back", back}} {
			pl, rc, tt, cp := pct(field(row.ps, planD)), pct(field(row.ps, recD)), pct(total(row.ps)), pct(field(row.ps, cpuD))
			b.Logf("%-8s %-22s %-22s %-22s %-18s", row.name,
				fmt.Sprintf("%6.1f / %6.1f", ms(pl.p50), ms(pl.p99)),
				fmt.Sprintf("%6.1f / %6.1f", ms(rc.p50), ms(rc.p99)),
				fmt.Sprintf("%6.1f / %6.1f", ms(tt.p50), ms(tt.p99)),
				fmt.Sprintf("%6.1f / %6.1f", ms(cp.p50), ms(cp.p99)))
			b.ReportMetric(ms(cp.p50), "reconcile5k-"+row.name+"-cpu-p50-ms")
			b.ReportMetric(ms(tt.p50), "reconcile5k-"+row.name+"-p50-ms")
			b.ReportMetric(ms(tt.p99), "reconcile5k-"+row.name+"-p99-ms")
			if i == 0 {
				rec.Latency = append(rec.Latency, timings(row.name+", plan + reconcile", total(row.ps), sum(total(row.ps))))
			}
		}
		s := steady[len(steady)-1]
		b.Logf("memory per steady snapshot: plan %.1f MB in %d allocations, reconcile %.1f MB in %d allocations; peak RSS %.0f MB",
			float64(s.planB)/1e6, s.planN, float64(s.recB)/1e6, s.recN, float64(hwm)/1e6)
		b.ReportMetric(float64(s.planB+s.recB)/1e6, "reconcile5k-MB-alloc")
		b.ReportMetric(float64(s.planN+s.recN), "reconcile5k-allocs")
		b.ReportMetric(float64(hwm)/1e6, "reconcile5k-peak-rss-MB")
		if i == 0 {
			rec.Setup += fmt.Sprintf(" Memory per steady snapshot: %.1f MB allocated in %d allocations; the process's peak RSS %.0f MB.",
				float64(s.planB+s.recB)/1e6, s.planN+s.recN, float64(hwm)/1e6)
		}
	}
	recordResults(b, rec)
}

func countInstances(v *bridge.View) int {
	n := 0
	for _, s := range v.Services {
		n += len(s.Instances)
	}
	return n
}

// percentiles are the figures every bridge benchmark reports.
type percentiles struct{ p50, p99, max time.Duration }

// pct returns the p50 and p99 (nearest rank) and the maximum of ds.
func pct(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return percentiles{rank(0.50), rank(0.99), s[len(s)-1]}
}

// vmHWM is the process's peak resident set, in bytes.
func vmHWM(b *testing.B) uint64 {
	b.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// synthHAProxyConfig is the LB of the reconcile benchmark: one backend
// per clone, empty (the bridge adds every server), a frontend so that
// HAProxy has a listener, all on loopback.
func synthHAProxyConfig(b *testing.B) haproxytest.Config {
	b.Helper()
	front := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), haproxytest.FreePort(b))
	var t strings.Builder
	fmt.Fprintf(&t, `global
    stats socket unix@admin.sock mode 600 level admin
    stats timeout 30s
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind %s
    default_backend be_svc0
`, front)
	for c := range synthClones {
		fmt.Fprintf(&t, "backend be_svc%d\n    balance roundrobin\n    option httpchk GET /health\n", c)
	}
	return haproxytest.Config{Text: t.String(), AdminUnix: "admin.sock", Frontend: front}
}

// synthCIBs returns the 5,000-instance CIB with everything running, and
// the same with svc0's instance on synthFailNode failed, from the cache
// or made anew.
func synthCIBs(b *testing.B) (running, failed []byte) {
	b.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("vnfha-bench-cib-%s-%dx%d", synthCacheVersion, synthNodes, synthClones))
	rp, fp := filepath.Join(dir, "running.xml"), filepath.Join(dir, "failed.xml")
	r, err1 := os.ReadFile(rp)
	f, err2 := os.ReadFile(fp)
	if err1 == nil && err2 == nil {
		return r, f
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	r, f, err := makeSynthCIBs(dir)
	if err != nil {
		b.Fatalf("make the synthetic CIB: %v", err)
	}
	// Written last, and whole, so that a run cut short leaves no half file
	// for the next one.
	for p, doc := range map[string][]byte{rp: r, fp: f} {
		if err := os.WriteFile(p+".tmp", doc, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("synthetic CIBs made in %s, cached in %s", time.Since(start).Round(time.Millisecond), dir)
	return r, f
}

var (
	lrmSvc0   = regexp.MustCompile(`(?s)<lrm_resource id="svc0" .*?</lrm_resource>`)
	cloneSvc0 = regexp.MustCompile(`(?s)<clone id="svc0-clone">.*?</clone>`)
	nodeState = regexp.MustCompile(`(?s)<node_state id="(\d+)" .*?</node_state>`)
)

// makeSynthCIBs runs crm_simulate in dir on one clone and replicates it
// (see BenchmarkBridgeReconcile5000).
func makeSynthCIBs(dir string) (running, failed []byte, err error) {
	var nodes, states strings.Builder
	for i := 1; i <= synthNodes; i++ {
		fmt.Fprintf(&nodes, `<node id="%d" uname="n%d"/>`, i, i)
		// Online members with no history yet: what the controller writes
		// when a node joins.
		fmt.Fprintf(&states, `<node_state id="%d" uname="n%d" in_ccm="true" crmd="online" crm-debug-origin="do_update_resource" join="member" expected="member"/>`, i, i)
	}
	// The feature set is Pacemaker 2.1.5's own: crm_simulate discards
	// updates from a newer one.
	unit := fmt.Sprintf(`<cib crm_feature_set="3.16.1" have-quorum="1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">`+
		`<configuration><crm_config><cluster_property_set id="cib-bootstrap-options">`+
		`<nvpair id="opt-stonith-enabled" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>`+
		`<nodes>%s</nodes><resources>`+
		`<clone id="svc0-clone"><primitive id="svc0" class="ocf" provider="pacemaker" type="Dummy">`+
		`<operations><op id="svc0-monitor-10s" name="monitor" interval="10s"/></operations></primitive></clone>`+
		`</resources><constraints/></configuration><status>%s</status></cib>`, nodes.String(), states.String())
	in, out, fail := filepath.Join(dir, "unit.xml"), filepath.Join(dir, "unit-running.xml"), filepath.Join(dir, "unit-failed.xml")
	if err := os.WriteFile(in, []byte(unit), 0o644); err != nil {
		return nil, nil, err
	}
	if err := simulate("-x", in, "-S", "-O", out); err != nil {
		return nil, nil, err
	}
	if err := simulate("-x", out, "-i", "svc0_monitor_10000@"+synthFailNode+"=7", "-I", fail); err != nil {
		return nil, nil, err
	}
	unitRunning, err := os.ReadFile(out)
	if err != nil {
		return nil, nil, err
	}
	unitFailed, err := os.ReadFile(fail)
	if err != nil {
		return nil, nil, err
	}
	if n := len(lrmSvc0.FindAll(unitRunning, -1)); n != synthNodes {
		return nil, nil, fmt.Errorf("crm_simulate recorded svc0 on %d nodes, want %d", n, synthNodes)
	}
	replicate := func(block []byte) []byte {
		var out bytes.Buffer
		for c := range synthClones {
			out.Write(bytes.ReplaceAll(block, []byte("svc0"), []byte("svc"+strconv.Itoa(c))))
		}
		return out.Bytes()
	}
	running = cloneSvc0.ReplaceAllFunc(unitRunning, replicate)
	running = lrmSvc0.ReplaceAllFunc(running, replicate)

	// The failed variant: svc0's history on the failing node as
	// crm_simulate injected it, everything else as running.
	failID := strings.TrimPrefix(synthFailNode, "n")
	var okBlock, failBlock []byte
	for _, m := range nodeState.FindAllSubmatch(unitRunning, -1) {
		if string(m[1]) == failID {
			okBlock = lrmSvc0.Find(m[0])
		}
	}
	for _, m := range nodeState.FindAllSubmatch(unitFailed, -1) {
		if string(m[1]) == failID {
			failBlock = lrmSvc0.Find(m[0])
		}
	}
	if okBlock == nil || failBlock == nil || !bytes.Contains(failBlock, []byte(`rc-code="7"`)) {
		return nil, nil, fmt.Errorf("no history of svc0 on %s in crm_simulate's output, or no injected failure", synthFailNode)
	}
	// Identical histories recur on other nodes (simulated operations
	// carry no node): the replacement is made inside that node's state.
	var state []byte
	for _, m := range nodeState.FindAllSubmatch(running, -1) {
		if string(m[1]) == failID {
			state = m[0]
		}
	}
	if state == nil || bytes.Count(state, okBlock) != 1 || bytes.Count(running, state) != 1 {
		return nil, nil, fmt.Errorf("svc0's history on %s is not unique in the replicated CIB", synthFailNode)
	}
	failed = bytes.Replace(running, state, bytes.Replace(state, okBlock, failBlock, 1), 1)

	// Pacemaker must read what was made: crm_mon counts the instances
	// started, from the file.
	for name, doc := range map[string][]byte{"running": running, "failed": failed} {
		p := filepath.Join(dir, "check-"+name+".xml")
		if err := os.WriteFile(p, doc, 0o644); err != nil {
			return nil, nil, err
		}
		cmd := exec.Command("crm_mon", "-1", "--output-as=xml")
		cmd.Env = append(os.Environ(), "CIB_file="+p)
		xml, err := cmd.Output()
		if err != nil {
			return nil, nil, fmt.Errorf("crm_mon on the %s CIB: %w", name, err)
		}
		// crm_mon lists each running instance as a <resource ...
		// role="Started" active="true" ...>, and a failed one with
		// failed="true" as well.
		wantFailed := 0
		if name == "failed" {
			wantFailed = 1
		}
		started, nfailed := bytes.Count(xml, []byte(`role="Started" active="true"`)), bytes.Count(xml, []byte(`failed="true"`))
		if started != synthNodes*synthClones || nfailed != wantFailed {
			return nil, nil, fmt.Errorf("crm_mon sees %d instances started and %d failed in the %s CIB, want %d and %d",
				started, nfailed, name, synthNodes*synthClones, wantFailed)
		}
		os.Remove(p)
	}
	return running, failed, nil
}

func simulate(args ...string) error {
	out, err := exec.Command("crm_simulate", append(args, "-Q")...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("crm_simulate %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// processCPU is the user and system CPU time this process has used: on a
// machine shared with other work, it tells the cost of a pass from the
// wait for a core.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package bench

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

const (
	// bridgeKills is how many VNFCs each run kills (the issue: at least
	// 20, for a p99).
	bridgeKills = 20
	// killEventsTimeout bounds the wait for every backend to see a kill:
	// the default checks take up to ~6 s plus a check timeout.
	killEventsTimeout = 20 * time.Second
	// restWindow is how long the bridge's CPU time is measured at rest.
	restWindow = 60 * time.Second
	// streamSettle lets HAProxy take the `show events -w -n` command
	// before the kill, so that no line of the kill falls before it.
	streamSettle = 100 * time.Millisecond
)

// kind is one of the three ways a backend learns of a kill.
type kind struct {
	name    string // in the table and metric names
	backend string
	// seen reports whether a ring line is this backend's server of node
	// leaving the pool: maintenance for the bridge, DOWN for the checks.
	seen func(line, node string) bool
}

var bridgeKinds = []kind{
	{"bridge", bridgeBackend, func(line, node string) bool {
		return strings.Contains(line, "Server "+bridgeBackend+"/"+bridgeServerPfx+bridgeResource+":"+node+" is going DOWN for maintenance")
	}},
	{"checks-1s-fall2", fastBackend, func(line, node string) bool {
		return strings.Contains(line, "Server "+fastBackend+"/"+node+" is DOWN")
	}},
	{"checks-default", defaultBackend, func(line, node string) bool {
		return strings.Contains(line, "Server "+defaultBackend+"/"+node+" is DOWN")
	}},
}

// killRound is what one kill measured.
type killRound struct {
	node    string
	bridge  string          // the node the bridge ran on, when known
	t0, t1  time.Time       // the clock read just before and just after kill(2)
	out     []time.Duration // by kind: from t0 to the later of both LBs' lines
	perLB   [][]time.Duration
	reqAll  []int // by kind: requests started in this round
	reqFail []int
	reqSlow []int
	// retries is lb1's backend counters (wretr, wredis) just before the
	// kill, by backend.
	retries map[string][2]int
}

// BenchmarkBridgeKill is the bridge's side-by-side benchmark, in one lab
// run (3 nodes; HAProxy on lb1 and lb2; a clone of test/vnfcd under
// ocf:vnfha:vnfc; the bridge as a cluster resource): see bridge_lab_test.go
// for the set-up. It kills a VNFC (kill -9) bridgeKills times, in turn on
// each node, and measures:
//
//  1. from the kill to the server out of the pool on BOTH load balancers
//     (the later of the two): maintenance for the bridge's backend, DOWN
//     for HAProxy's checks alone (inter 1s fall 2, and the defaults inter
//     2s fall 3). Goal for the bridge: p99 ≤ 50 ms. The kill time is the
//     benchmark's clock read just before kill(2), sent from the host to
//     the VNFC's pid (the nodes' PID namespaces are children of the
//     host's), and the bound after it is reported; the out-of-pool time
//     is HAProxy's own µs timestamp of its log line (the event ring), the
//     same machine clock.
//  2. requests failed per kill: a client sends GET / at 200 req/s to each
//     backend's frontend on lb1, each with a 1 s timeout; for each round
//     (from its kill to the next one) it counts failed requests (errors,
//     timeouts, non-200) and slow ones (answered after ≥ 200 ms, i.e. after
//     HAProxy's retry). Goal: ≥ 10× fewer failed with the bridge.
//  4. the bridge's CPU time (utime+stime of its process) over 60 s at rest,
//     after the kills, with the client stopped and the default resync (5 s).
//
// Each round: the pools settle (every backend of both LBs has its three
// servers UP), the event streams open, the kill, the wait for all six
// lines (3 backends × 2 LBs), then `crm_resource --cleanup` brings the
// instance back (migration-threshold=1 kept it stopped until then).
func BenchmarkBridgeKill(b *testing.B) {
	labtest.RequireHost(b)
	binary, agentDir := labtest.Build(b)
	l := labtest.Up(b, lab.Options{Nodes: 3, Hosts: []string{"lb1", "lb2"}, Binary: binary, AgentDir: agentDir,
		Log: func(string, ...any) {}})
	ctx := labtest.Context(b)
	vnfcd := labtest.BuildVNFCd(b)
	dg := newDiag(b)
	bl := startBridgeLab(ctx, b, l, binary, vnfcd, dg)

	for i := 0; i < b.N; i++ {
		lb1, err := l.HostAddr(l.Hosts()[0])
		if err != nil {
			b.Fatal(err)
		}
		var clients []*steadyClient
		for _, f := range bridgeFrontends {
			clients = append(clients, startClient(l, fmt.Sprintf("http://%s:%d/", lb1, f.port)))
		}
		stopClients := func() [][]request {
			var rs [][]request
			for _, c := range clients {
				rs = append(rs, c.halt())
			}
			clients = nil
			return rs
		}
		b.Cleanup(func() {
			if clients != nil {
				stopClients()
			}
		})

		var rounds []*killRound
		for r := 0; r < bridgeKills; r++ {
			node := bl.nodes[r%len(bl.nodes)]
			kr, err := bl.kill(ctx, node)
			if err != nil {
				b.Fatalf("kill %d on %s: %v\n%s", r+1, node, err, crmMon(ctx, l))
			}
			rounds = append(rounds, kr)
			if out, err := l.Exec(ctx, "node1", "crm_resource", "--cleanup", "--resource", bridgeClone, "--node", node); err != nil {
				b.Fatalf("cleanup: %v\n%s", err, out)
			}
			if err := bl.waitPools(ctx, settleTimeout); err != nil {
				b.Fatalf("after kill %d on %s: %v\n%s", r+1, node, err, crmMon(ctx, l))
			}
		}
		end := time.Now()
		reqs := stopClients()
		final, err := backendRetries(bl.lbs[0])
		if err != nil {
			b.Fatal(err)
		}
		for j, kr := range rounds {
			to := end
			if j+1 < len(rounds) {
				to = rounds[j+1].t0
			}
			for k := range bridgeKinds {
				all, failed, slow := tally(reqs[k], kr.t0, to)
				kr.reqAll, kr.reqFail, kr.reqSlow = append(kr.reqAll, all), append(kr.reqFail, failed), append(kr.reqSlow, slow)
			}
		}
		reportKills(b, rounds, final)
		if dg != nil {
			if err := dg.save(ctx, bl, rounds); err != nil {
				b.Errorf("diagnostics: %v", err)
			}
		}

		// 4. At rest: nothing changes in the cluster, no client.
		pid, err := bridgePID()
		if err != nil {
			b.Fatal(err)
		}
		timings, err := bl.bridgeTimings(ctx, pid)
		if err != nil {
			timings = "the bridge's own timings: " + err.Error()
		}
		if err := bl.waitPools(ctx, settleTimeout); err != nil {
			b.Fatal(err)
		}
		time.Sleep(5 * time.Second) // the last reconcile's and the client's traces fade
		c0, err := cpuTicks(pid)
		if err != nil {
			b.Fatal(err)
		}
		w0 := time.Now()
		time.Sleep(restWindow)
		c1, err := cpuTicks(pid)
		if err != nil {
			b.Fatalf("the bridge (pid %d) is gone after the rest window: %v", pid, err)
		}
		window := time.Since(w0)
		// USER_HZ is 100 on every Linux the suite supports: 10 ms a tick.
		cpu := time.Duration(c1-c0) * 10 * time.Millisecond
		b.Logf("bridge at rest (resync 5s, 2 HAProxy, 1 service of 3 instances): %s CPU in %s (%.3f%% of one core; /proc/%d/stat, 10 ms ticks); means over the run (kills and resyncs): %s",
			cpu, window.Round(time.Millisecond), 100*cpu.Seconds()/window.Seconds(), pid, timings)
		b.ReportMetric(ms(cpu), "bridge-rest-cpu-ms/60s")
	}
}

// kill kills the VNFC on node and waits until every backend of both load
// balancers shows its server out.
func (bl *bridgeLab) kill(ctx context.Context, node string) (*killRound, error) {
	netns, err := netnsInode(bl.l, node)
	if err != nil {
		return nil, err
	}
	pids, err := vnfcdPIDs(bridgeLBPort, netns)
	if err != nil {
		return nil, err
	}
	if len(pids) != 1 {
		return nil, fmt.Errorf("want one vnfcd on port %d on %s, found %v", bridgeLBPort, node, pids)
	}
	ch := make(chan srvEvent, 1024)
	streams, err := bl.streamEvents(ch)
	if err != nil {
		return nil, err
	}
	defer closeStreams(streams)
	time.Sleep(streamSettle)

	kr := &killRound{node: node}
	if pid, err := bridgePID(); err == nil {
		kr.bridge, _ = bl.nodeOf(pid)
	}
	if kr.retries, err = backendRetries(bl.lbs[0]); err != nil {
		return nil, err
	}
	kr.t0 = time.Now()
	err = syscall.Kill(pids[0], syscall.SIGKILL)
	kr.t1 = time.Now()
	if err != nil {
		return nil, fmt.Errorf("kill vnfcd (pid %d) on %s: %w", pids[0], node, err)
	}
	// seen[kind][lb]
	seen := make([][]time.Time, len(bridgeKinds))
	for k := range seen {
		seen[k] = make([]time.Time, len(bl.lbs))
	}
	missing := func() []string {
		var m []string
		for k, byLB := range seen {
			for i, at := range byLB {
				if at.IsZero() {
					m = append(m, bridgeKinds[k].name+"@"+bl.lbs[i].Host)
				}
			}
		}
		return m
	}
	timeout := time.After(killEventsTimeout)
	var other []string
	for len(missing()) > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout:
			return nil, fmt.Errorf("no line within %s for %v; other lines: %q", killEventsTimeout, missing(), other)
		case e := <-ch:
			matched := false
			for k, kd := range bridgeKinds {
				if !kd.seen(e.text, node) || !seen[k][e.lb].IsZero() {
					continue
				}
				matched = true
				// A stamp before the kill is a clock mix-up or an old line:
				// either way the figure would be wrong.
				if e.at.IsZero() || e.at.Before(kr.t0.Add(-time.Millisecond)) {
					return nil, fmt.Errorf("ring line stamped %v, kill at %v: %s", e.at, kr.t0, e.text)
				}
				seen[k][e.lb] = e.at
			}
			if !matched && len(other) < 20 {
				other = append(other, fmt.Sprintf("%s: %s", bl.lbs[e.lb].Host, e.text))
			}
		}
	}
	for k := range bridgeKinds {
		var latest time.Time
		var per []time.Duration
		for _, at := range seen[k] {
			per = append(per, at.Sub(kr.t0))
			if at.After(latest) {
				latest = at
			}
		}
		kr.out = append(kr.out, latest.Sub(kr.t0))
		kr.perLB = append(kr.perLB, per)
	}
	return kr, nil
}

// reportKills writes the table and the metrics of benchmarks 1 and 2.
func reportKills(b *testing.B, rounds []*killRound, final map[string][2]int) {
	b.Helper()
	var bound time.Duration
	for _, kr := range rounds {
		bound = max(bound, kr.t1.Sub(kr.t0))
	}
	b.Logf("%-16s %-34s %-30s %-14s %-18s", "", "out of both pools ms", "failed requests per kill", "slow (≥200ms)", "retried on lb1")
	b.Logf("%-16s %-34s %-30s %-14s %-18s", "backend", "p50 / p99 (min-max)", "mean  p50 / p99 (total)", "per kill mean", "wretr/wredis mean")
	var failBridge, failFast, failDef, redisBridge, redisFast, redisDef float64
	for k, kd := range bridgeKinds {
		var outs, fails []time.Duration
		total, totalSlow, totalAll := 0, 0, 0
		for _, kr := range rounds {
			outs = append(outs, kr.out[k])
			// Counts go through pct as durations: a count n is n ns.
			fails = append(fails, time.Duration(kr.reqFail[k]))
			total += kr.reqFail[k]
			totalSlow += kr.reqSlow[k]
			totalAll += kr.reqAll[k]
		}
		o, f := pct(outs), pct(fails)
		minOut := outs[0]
		for _, d := range outs {
			minOut = min(minOut, d)
		}
		mean := float64(total) / float64(len(rounds))
		// HAProxy's retries of lb1, over the kill rounds: what the client
		// did not see because HAProxy tried again.
		first, last := rounds[0].retries[kd.backend], final[kd.backend]
		retr := float64(last[0]-first[0]) / float64(len(rounds))
		redis := float64(last[1]-first[1]) / float64(len(rounds))
		b.Logf("%-16s %-34s %-30s %-14s %-18s", kd.name,
			fmt.Sprintf("%7.1f / %7.1f (%.1f-%.1f)", ms(o.p50), ms(o.p99), ms(minOut), ms(o.max)),
			fmt.Sprintf("%5.2f  %d / %d (%d of %d)", mean, int64(f.p50), int64(f.p99), total, totalAll),
			fmt.Sprintf("%.2f", float64(totalSlow)/float64(len(rounds))),
			fmt.Sprintf("%.1f / %.1f", retr, redis))
		b.ReportMetric(retr, kd.name+"-retried-req/kill")
		b.ReportMetric(redis, kd.name+"-redispatched-req/kill")
		b.ReportMetric(ms(o.p50), kd.name+"-out-p50-ms")
		b.ReportMetric(ms(o.p99), kd.name+"-out-p99-ms")
		b.ReportMetric(mean, kd.name+"-failed-req/kill")
		b.ReportMetric(float64(totalSlow)/float64(len(rounds)), kd.name+"-slow-req/kill")
		switch k {
		case 0:
			failBridge, redisBridge = mean, redis
		case 1:
			failFast, redisFast = mean, redis
		case 2:
			failDef, redisDef = mean, redis
		}
	}
	var each []string
	for _, kr := range rounds {
		each = append(each, fmt.Sprintf("%s %.1f/%.1f", kr.node, ms(kr.perLB[0][0]), ms(kr.perLB[0][1])))
	}
	b.Logf("bridge, each kill, ms to maint on lb1/lb2: %s", strings.Join(each, ", "))
	// A benchmark prints 10 lines at most: the summaries share one.
	b.Logf("%d kills, kill(2) bound %s; failed requests per kill, checks alone ÷ bridge: inter 1s fall 2 %s, defaults %s; redispatched: %s, %s",
		len(rounds), bound.Round(time.Microsecond), ratio(failFast, failBridge), ratio(failDef, failBridge),
		ratio(redisFast, redisBridge), ratio(redisDef, redisBridge))
}

func ratio(a, b float64) string {
	if b == 0 {
		if a == 0 {
			return "n/a (both 0)"
		}
		return fmt.Sprintf("∞ (%.2f vs 0)", a)
	}
	return fmt.Sprintf("%.1f×", a/b)
}

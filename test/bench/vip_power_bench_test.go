package bench

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/crmwrap/crmmon"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/test/benchreport"
)

// powerTokens are the corosync profiles BenchmarkVIPPowerLoss compares:
// the lab's default token and a faster one (docs/operations.md, "Failover
// speed: the corosync token").
var powerTokens = []time.Duration{lab.DefaultToken, 300 * time.Millisecond}

// The power-loss benchmark's resources: one app clone (test/vnfcd on every
// node, so that a survivor already serves when a VIP arrives) and one VIP
// of each stack, the stock one colocated with vnfha's so that both lose
// their node in the same fault.
const (
	powerApp   = "pwr-app"
	powerClone = "pwr-app-clone"
	powerVIP   = "pwr-vip"
	powerIP2   = "pwr-ip2"
	powerPort  = 8084
)

// powerStack is one VIP agent under the power loss.
type powerStack struct {
	name, rsc string
	addr      netip.Addr
}

// powerRound is what one power loss measured, from the clock read just
// before lab.Kill.
type powerRound struct {
	node   string
	kill   time.Duration // how long lab.Kill took (it unplugs first)
	lost   time.Duration // the earliest survivor's line: the node left the membership
	fenced time.Duration // the earliest controller line: the node was terminated, OK
	vip    []time.Duration
}

// corosyncTimes is what corosync runs with (runtime.config.totem.*), the
// coefficient per node beyond two already added.
type corosyncTimes struct{ token, consensus, hold time.Duration }

// floor is the least a lost node can take to be noticed: the token lost,
// then consensus on the new membership. The survivors may have received
// the token up to hold before the loss, which the bound allows for.
func (c corosyncTimes) floor() time.Duration { return c.token + c.consensus }

// BenchmarkVIPPowerLoss powers off the node that holds the virtual IPs (the
// lab's power loss, lab.Kill: its link goes, then every process) in a real
// 3-node cluster with fencing, and measures from the clock read just
// before it:
//
//   - node lost: the earliest line of a survivor's Pacemaker that the node
//     left the membership (lostAt): corosync's share ends there;
//   - node fenced: the earliest controller line of a survivor that the
//     node was terminated, OK (fencedAt; Pacemaker's ms stamp, ≤ 5 ms
//     early);
//   - VIP answering: the end of the first GET through the VIP answered by
//     a survivor, from the lab's client, a new connection every 10 ms
//     (vipProbe, as BenchmarkVNFCFailover's client).
//
// The two stacks lose their node in the same fault: an ocf:vnfha:vip
// colocated with a clone of test/vnfcd under ocf:vnfha:vnfc (running on
// every node, so the VIP is what moves), and an ocf:heartbeat:IPaddr2
// colocated with that VIP (no order between them: both start in the
// transition after the fencing, side by side), both monitored every
// second. It runs once with the lab's corosync token (1000 ms) and once
// with a faster one (300 ms), each in a lab of its own.
//
// Nothing can answer before corosync notices the loss: token plus
// consensus, as corosync runs them (runtime.config.totem, which adds
// token_coefficient, 650 ms, for the third node), less hold at most;
// every round is checked against that floor, and the VIP against the
// fencing, which must come first.
func BenchmarkVIPPowerLoss(b *testing.B) {
	labtest.RequireHost(b)
	n := rounds(5, 1)
	rec := newResults(benchreport.Results{
		Benchmark: "BenchmarkVIPPowerLoss",
		Title:     "Node power loss: node fenced, VIP answering on a survivor",
		Setup: fmt.Sprintf("A 3-node lab with fencing (the lab's own fence agent). The node holding both VIPs is "+
			"powered off (its link removed, then all its processes killed); %d rounds per corosync token. Node lost: "+
			"the earliest survivor's Pacemaker line that it left the membership (corosync's share ends there). "+
			"vnfha: `ocf:vnfha:vip` colocated with a clone of test/vnfcd under `ocf:vnfha:vnfc` (running on every node); "+
			"stock: `ocf:heartbeat:IPaddr2` colocated with that VIP, so both lose their node in the same fault and start "+
			"side by side once it is fenced; monitors every second. Node fenced: the earliest survivor's controller line "+
			"that it was terminated; VIP answering: the first GET through the VIP answered by a survivor, from the lab's "+
			"client, a new connection every 10 ms. The floor is corosync's token plus consensus as it runs them "+
			"(with 3 nodes, token_coefficient 650 ms is added to the token): %s. docs/operations.md, "+
			"\"Failover speed: the corosync token\", explains the trade-off.", n, "see the table"),
		Reproduce: "VNFHA_BENCH_RESULTS=$PWD/docs/benchmarks go test -count=1 -run '^$' -bench 'BenchmarkVIPPowerLoss$' -benchtime 1x ./test/bench/ && make bench-report",
	})
	var floors []string
	for _, tok := range variants(powerTokens, 1) {
		profile := fmt.Sprintf("token %d ms", tok.Milliseconds())
		b.Run(fmt.Sprintf("token%dms", tok.Milliseconds()), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ct, stacks, rs := powerLossRun(b, tok, n)
				if i > 0 {
					continue
				}
				floors = append(floors, fmt.Sprintf("%s: token %s + consensus %s = %s", profile, ct.token, ct.consensus, ct.floor()))
				lost, fenced := make([]float64, len(rs)), make([]float64, len(rs))
				for j, r := range rs {
					lost[j], fenced[j] = ms(r.lost), ms(r.fenced)
				}
				rec.Failover = append(rec.Failover,
					benchreport.Failover{Stack: "cluster, " + profile, Fault: "node power loss", Until: "node lost (corosync)", Ms: lost, Lost: -1},
					benchreport.Failover{Stack: "cluster, " + profile, Fault: "node power loss", Until: "node fenced", Ms: fenced, Lost: -1})
				for k, s := range stacks {
					vips := make([]float64, len(rs))
					for j, r := range rs {
						vips[j] = ms(r.vip[k])
					}
					rec.Failover = append(rec.Failover, benchreport.Failover{Stack: s.name + ", " + profile,
						Fault: "node power loss", Until: "VIP answering", Ms: vips, Lost: -1})
				}
			}
		})
	}
	rec.Setup = strings.Replace(rec.Setup, "see the table", strings.Join(floors, "; "), 1)
	recordResults(b, rec)
}

// powerLossRun brings up a lab with corosync token tok, sets the stacks up
// and powers the VIPs' node off n times, each time powering it on again
// and waiting until everything runs again.
func powerLossRun(b *testing.B, tok time.Duration, n int) (corosyncTimes, []powerStack, []powerRound) {
	l := labtest.Up(b, lab.Options{Name: fmt.Sprintf("vpl%d", tok.Milliseconds()), Nodes: 3, Token: tok,
		Log: func(string, ...any) {}})
	ctx := labtest.Context(b)
	vnfcd := labtest.BuildVNFCd(b)
	ct, err := readCorosyncTimes(ctx, l)
	if err != nil {
		b.Fatal(err)
	}
	host := func(h byte) netip.Addr {
		a := l.Subnet().Addr().As4()
		a[3] = h
		return netip.AddrFrom4(a)
	}
	stacks := []powerStack{{"vnfha", powerVIP, host(103)}, {"stock", powerIP2, host(104)}}
	for _, args := range [][]string{
		{"resource", "defaults", "update", "resource-stickiness=1"},
		{"resource", "create", powerApp, "ocf:vnfha:vnfc", fmt.Sprintf("command=%s --listen :%d", vnfcd, powerPort),
			"op", "monitor", "interval=1s", "clone"},
		{"resource", "create", powerVIP, "ocf:vnfha:vip", "ip=" + stacks[0].addr.String(), "cidr_netmask=24",
			"op", "monitor", "interval=1s"},
		{"resource", "create", powerIP2, "ocf:heartbeat:IPaddr2", "ip=" + stacks[1].addr.String(), "cidr_netmask=24",
			"op", "monitor", "interval=1s"},
		{"constraint", "colocation", "add", powerVIP, "with", powerClone, "INFINITY"},
		{"constraint", "colocation", "add", powerIP2, "with", powerVIP, "INFINITY"},
	} {
		if out, err := pcs(ctx, l, args...); err != nil {
			b.Fatalf("pcs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	probes := make([]*vipProbe, len(stacks))
	for k, s := range stacks {
		probes[k] = newVIPProbe(l, fmt.Sprintf("http://%s/", netip.AddrPortFrom(s.addr, powerPort)))
	}
	var rs []powerRound
	for r := 1; r <= n; r++ {
		pr, err := powerLossOnce(ctx, l, ct, probes)
		if err != nil {
			b.Fatalf("%s, round %d: %v\n%s", l.Shape(), r, err, crmMon(ctx, l))
		}
		rs = append(rs, pr)
	}
	var each []string
	for _, r := range rs {
		each = append(each, fmt.Sprintf("%s: kill %.0f, lost %.0f, fenced %.0f, vip %.0f, IPaddr2 %.0f", r.node, ms(r.kill), ms(r.lost), ms(r.fenced),
			ms(r.vip[0]), ms(r.vip[1])))
	}
	b.Logf("token %s (runtime: token %s, consensus %s, hold %s; floor %s), ms from the power loss: %s",
		tok, ct.token, ct.consensus, ct.hold, ct.floor(), strings.Join(each, "; "))
	for k, s := range stacks {
		ds := make([]time.Duration, len(rs))
		for j, r := range rs {
			ds[j] = r.vip[k]
		}
		sp := spreadOf(ds)
		b.ReportMetric(ms(sp.med), s.name+"-vip-ms")
		b.ReportMetric(ms(sp.max), s.name+"-vip-max-ms")
	}
	fs := make([]time.Duration, len(rs))
	for j, r := range rs {
		fs[j] = r.fenced
	}
	b.ReportMetric(ms(spreadOf(fs).med), "fenced-ms")
	for j, r := range rs {
		fs[j] = r.lost
	}
	b.ReportMetric(ms(spreadOf(fs).med), "lost-ms")
	b.ReportMetric(ms(ct.floor()), "floor-ms")
	return ct, stacks, rs
}

// powerLossOnce waits until both VIPs answer from one node with the app
// running everywhere, powers that node off, waits for each VIP to answer
// from a survivor, reads the fencing's time, and powers the node on again.
func powerLossOnce(ctx context.Context, l *lab.Lab, ct corosyncTimes, probes []*vipProbe) (powerRound, error) {
	var res powerRound
	node, _, err := settleUntil(ctx, l, "the VIPs", powerPlacement(len(l.Nodes())), func(on string) string {
		for _, p := range probes {
			if got, _, err := p.get(ctx); err != nil || got != on {
				return fmt.Sprintf("%s answered by %q (%v), not %s", p.url, got, err, on)
			}
		}
		return ""
	})
	if err != nil {
		return res, err
	}
	res.node = node
	t0 := time.Now()
	if err := l.Kill(node); err != nil {
		return res, err
	}
	res.kill = time.Since(t0)
	// The probes start once the node is gone: no answer can come before
	// the floor, which the kill must return well within.
	if res.kill >= ct.floor()/2 {
		return res, fmt.Errorf("powering %s off took %s, too close to the floor %s to start the probes after it", node, res.kill, ct.floor())
	}
	type moved struct {
		at  time.Time
		err error
	}
	done := make([]chan moved, len(probes))
	for k, p := range probes {
		done[k] = make(chan moved, 1)
		go func() {
			_, at, err := p.waitMoved(ctx, node, "")
			done[k] <- moved{at, err}
		}()
	}
	var errs []string
	for k := range probes {
		m := <-done[k]
		if m.err != nil {
			errs = append(errs, m.err.Error())
			continue
		}
		res.vip = append(res.vip, m.at.Sub(t0))
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("after powering %s off: %s", node, strings.Join(errs, "; "))
	}
	lost, err := lostAt(l, node, t0)
	if err != nil {
		return res, err
	}
	fenced, err := fencedAt(l, node, t0)
	if err != nil {
		return res, err
	}
	res.lost, res.fenced = lost.Sub(t0), fenced.Sub(t0)
	// Sanity: corosync cannot have noticed the loss before its floor (less
	// hold, and a log tick for the stamp), the fencing comes after that,
	// and no VIP can answer before the fencing is confirmed.
	if least := ct.floor() - ct.hold - lab.LogTick; res.lost < least {
		return res, fmt.Errorf("%s lost %s after the power loss, below corosync's floor %s (token %s + consensus %s, less hold %s)",
			node, res.lost, ct.floor(), ct.token, ct.consensus, ct.hold)
	}
	if res.fenced < res.lost {
		return res, fmt.Errorf("%s fenced (%s) before it was lost (%s)", node, res.fenced, res.lost)
	}
	for k, d := range res.vip {
		if d < res.fenced-lab.LogTick {
			return res, fmt.Errorf("%s answered %s after the loss, before the fencing (%s)", probes[k].url, d, res.fenced)
		}
	}
	if err := l.Start(node); err != nil {
		return res, err
	}
	return res, nil
}

// powerPlacement finds the node both VIPs run on, once the app runs on
// every one of the nodes (a powered-on node has rejoined), with no failure
// and nothing pending.
func powerPlacement(nodes int) func(*crmmon.Status) (string, string) {
	return func(st *crmmon.Status) (string, string) {
		on, why := rscPlacement(st, powerVIP)
		if on == "" {
			return "", why
		}
		on2, why := rscPlacement(st, powerIP2)
		if on2 != on {
			return "", fmt.Sprintf("%s on %q, %s on %q (%s)", powerVIP, on, powerIP2, on2, why)
		}
		apps := 0
		for _, i := range st.Instances() {
			if i.ID == powerApp && i.Active && !i.Failed && i.Pending == "" && i.Role == "Started" {
				apps++
			}
		}
		if apps != nodes {
			return "", fmt.Sprintf("%s runs on %d of %d nodes", powerApp, apps, nodes)
		}
		return on, ""
	}
}

// readCorosyncTimes reads the token, consensus and hold corosync runs with,
// from node1's cmap.
func readCorosyncTimes(ctx context.Context, l *lab.Lab) (corosyncTimes, error) {
	var ct corosyncTimes
	for _, f := range []struct {
		key string
		to  *time.Duration
	}{{"token", &ct.token}, {"consensus", &ct.consensus}, {"hold", &ct.hold}} {
		out, err := l.Exec(ctx, "node1", "corosync-cmapctl", "-g", "runtime.config.totem."+f.key)
		if err != nil {
			return ct, fmt.Errorf("corosync-cmapctl %s: %w: %s", f.key, err, out)
		}
		// "runtime.config.totem.token (u32) = 1650"
		_, v, ok := strings.Cut(strings.TrimSpace(string(out)), " = ")
		msv, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return ct, fmt.Errorf("corosync-cmapctl %s: %q", f.key, out)
		}
		*f.to = time.Duration(msv) * time.Millisecond
	}
	return ct, nil
}

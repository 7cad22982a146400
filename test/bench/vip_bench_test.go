package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/ocf/ocftest"
	"github.com/vnfha/vnfha/test/benchreport"
)

// Runs per agent and action (fewer in a quick run). Each round runs every
// agent once, in turn, so that they share whatever else the machine is
// doing.
var (
	monitorRuns   = rounds(40, 10)
	startStopRuns = rounds(20, 5)
)

// ipaddr2 is the stock agent the vip agent is measured against.
const ipaddr2 = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2"

// cost is what one agent invocation took.
type cost struct{ wall, cpu time.Duration }

// BenchmarkVIP runs ocf:vnfha:vip and ocf:heartbeat:IPaddr2 side by side,
// in the same throwaway network namespace, on the same kind of address
// (IPv4, ip, cidr_netmask and nic given, everything else at its default),
// and reports the monitor and start+stop cost of each and their ratio.
// CPU is user+system of the agent and every child it waited for. Goals
// (issue 3): vip monitor ≤ 5 ms wall and ≥ 30× faster than IPaddr2;
// vip start+stop ≤ 30 ms.
func BenchmarkVIP(b *testing.B) {
	nstest.RequireRoot(b)
	ocftest.RequireFile(b, ipaddr2)
	_, agentDir := labtest.Build(b)
	p := nstest.NewPair(b)
	rscTmp := b.TempDir()

	agents := []struct {
		name, path string
		extra      []string
	}{
		{"vip", filepath.Join(agentDir, "vip"), nil},
		{"vip-noprobe", filepath.Join(agentDir, "vip"), []string{"OCF_RESKEY_conflict_check=false"}},
		{"IPaddr2", ipaddr2, nil},
	}
	run := func(path, action string, extra []string) (cost, error) {
		env := append([]string{
			"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
			"OCF_ROOT=/usr/lib/ocf",
			"HA_RSCTMP=" + rscTmp,
			"OCF_RESOURCE_INSTANCE=benchvip",
			"OCF_RESKEY_CRM_meta_timeout=20000",
			"OCF_RESKEY_ip=198.19.255.100",
			"OCF_RESKEY_cidr_netmask=24",
			"OCF_RESKEY_nic=" + p.A.Link,
		}, extra...)
		if action == "monitor" {
			env = append(env, "OCF_RESKEY_CRM_meta_interval=10000")
		}
		var c cost
		// The agent runs inside A: exec from a thread that is in A's
		// namespace gives the child that namespace.
		err := p.A.Do(func() error {
			// Output goes to a file, not a pipe: IPaddr2 leaves send_arp
			// running in the background with its stdout, and waiting for a
			// pipe's end would charge it for that.
			out, err := os.CreateTemp(rscTmp, "out")
			if err != nil {
				return err
			}
			defer os.Remove(out.Name())
			defer out.Close()
			cmd := exec.Command(path, action)
			cmd.Env = env
			cmd.Stdout, cmd.Stderr = out, out
			t0 := time.Now()
			err = cmd.Run()
			c.wall = time.Since(t0)
			if err != nil {
				text, _ := os.ReadFile(out.Name())
				return fmt.Errorf("%s %s: %v\n%s", path, action, err, text)
			}
			c.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			return nil
		})
		return c, err
	}

	rec := newResults(benchreport.Results{
		Benchmark: "BenchmarkVIP",
		Title:     "VIP agent: monitor and start+stop, ocf:vnfha:vip vs IPaddr2",
		Setup: fmt.Sprintf("Each agent run by hand as Pacemaker's executor would run it, in a throwaway network namespace, "+
			"on the same IPv4 address (ip, cidr_netmask and nic given, everything else at its default), in turns: "+
			"%d start+stop pairs and %d monitors of a running address per agent. vip-noprobe is vip with "+
			"conflict_check=false (no ARP probe for a duplicate address on start). Wall: from exec to exit; "+
			"CPU: user+system of the agent and every child it waited for. No cluster runs meanwhile.",
			startStopRuns, monitorRuns),
		Reproduce: "VNFHA_BENCH_RESULTS=$PWD/docs/benchmarks go test -count=1 -run '^$' -bench 'BenchmarkVIP$' -benchtime 1x ./test/bench/ && make bench-report",
	})
	for i := 0; i < b.N; i++ {
		monitor := map[string][]cost{}
		startStop := map[string][]cost{}
		for r := 0; r < startStopRuns; r++ {
			for _, a := range agents {
				s, err := run(a.path, "start", a.extra)
				if err != nil {
					b.Fatal(err)
				}
				// Between start and stop, the monitor of a running address.
				for m := 0; m < monitorRuns/startStopRuns; m++ {
					c, err := run(a.path, "monitor", a.extra)
					if err != nil {
						b.Fatal(err)
					}
					monitor[a.name] = append(monitor[a.name], c)
				}
				st, err := run(a.path, "stop", a.extra)
				if err != nil {
					b.Fatal(err)
				}
				startStop[a.name] = append(startStop[a.name], cost{s.wall + st.wall, s.cpu + st.cpu})
			}
		}
		report := func(what string, m map[string][]cost) {
			ref := median(m["IPaddr2"])
			for _, a := range agents {
				med := median(m[a.name])
				b.ReportMetric(ms(med.wall), "ms-"+what+"-"+a.name)
				b.ReportMetric(ms(med.cpu), "ms-cpu-"+what+"-"+a.name)
				b.Logf("%-10s %-11s wall median %7.2f ms (min %7.2f, max %7.2f), cpu median %7.2f ms, %5.1fx faster than IPaddr2 (%d runs)",
					what, a.name, ms(med.wall), ms(minOf(m[a.name]).wall), ms(maxOf(m[a.name]).wall), ms(med.cpu),
					float64(ref.wall)/float64(med.wall), len(m[a.name]))
			}
			b.ReportMetric(float64(ref.wall)/float64(median(m["vip"]).wall), "x-"+what+"-speedup")
		}
		report("monitor", monitor)
		report("startstop", startStop)
		if i == 0 {
			for _, m := range []struct {
				what string
				cs   map[string][]cost
			}{{"monitor", monitor}, {"start+stop", startStop}} {
				for _, a := range agents {
					var walls, cpus []time.Duration
					for _, c := range m.cs[a.name] {
						walls, cpus = append(walls, c.wall), append(cpus, c.cpu)
					}
					rec.Latency = append(rec.Latency, timings(a.name+" "+m.what+", wall", walls, sum(walls)),
						timings(a.name+" "+m.what+", CPU", cpus, sum(walls)))
				}
			}
		}
	}
	recordResults(b, rec)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median is taken separately for wall and CPU.
func median(cs []cost) cost {
	walls := make([]time.Duration, len(cs))
	cpus := make([]time.Duration, len(cs))
	for i, c := range cs {
		walls[i], cpus[i] = c.wall, c.cpu
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	return cost{walls[len(walls)/2], cpus[len(cpus)/2]}
}

func minOf(cs []cost) cost {
	return slices.MinFunc(cs, func(a, b cost) int { return int(a.wall - b.wall) })
}

func maxOf(cs []cost) cost {
	return slices.MaxFunc(cs, func(a, b cost) int { return int(a.wall - b.wall) })
}
